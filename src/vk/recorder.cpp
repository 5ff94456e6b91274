#include "vk/recorder.hpp"

#include "vitvk/error.hpp"
#include "vk/context_impl.hpp"
#include "vk/kernel.hpp"
#include "vk/kernel_impl.hpp"

namespace vitvk::gpu {


namespace {
constexpr uint32_t kMaxTimestamps = 4096;
}

struct Recorder::Impl {
  vk::raii::CommandPool pool{nullptr};
  vk::raii::CommandBuffer cmd{nullptr};
  vk::raii::Fence fence{nullptr};
  vk::raii::QueryPool queries{nullptr};
  uint32_t query_count = 0;
  bool recording = false;
};

Recorder::Recorder(Context& ctx) : ctx_(ctx), impl_(std::make_unique<Impl>()) {
  auto& c = ctx.impl();
  try {
    impl_->pool = vk::raii::CommandPool(c.device, vk::CommandPoolCreateInfo{
                                                      .flags = vk::CommandPoolCreateFlagBits::eResetCommandBuffer,
                                                      .queueFamilyIndex = c.queue_family});
    vk::raii::CommandBuffers bufs(c.device, vk::CommandBufferAllocateInfo{.commandPool = *impl_->pool,
                                                                          .level = vk::CommandBufferLevel::ePrimary,
                                                                          .commandBufferCount = 1});
    impl_->cmd = std::move(bufs[0]);
    impl_->fence = vk::raii::Fence(c.device, vk::FenceCreateInfo{});
    if (ctx.info().timestamps)
      impl_->queries = vk::raii::QueryPool(c.device, vk::QueryPoolCreateInfo{.queryType = vk::QueryType::eTimestamp,
                                                                             .queryCount = kMaxTimestamps});
  } catch (const vk::SystemError& e) {  // out of memory and device loss keep their ErrorCode
    throw_vulkan_error("creating a command buffer", static_cast<vk::Result>(e.code().value()));
  }
}

Recorder::~Recorder() = default;

void Recorder::begin(bool profiling) {
  impl_->cmd.reset();
  impl_->cmd.begin(vk::CommandBufferBeginInfo{.flags = vk::CommandBufferUsageFlagBits::eOneTimeSubmit});
  impl_->recording = true;
  ++generation_;
  pending_ = false;
  dispatches_ = 0;
  profiling_ = profiling && *impl_->queries;
  labels_.clear();
  timings_.clear();
  impl_->query_count = 0;
  if (profiling_) {
    impl_->cmd.resetQueryPool(*impl_->queries, 0, kMaxTimestamps);
    impl_->cmd.writeTimestamp(vk::PipelineStageFlagBits::eTopOfPipe, *impl_->queries, impl_->query_count++);
  }
}

void Recorder::barrier_if_needed() {
  if (!pending_) return;
  using S = vk::PipelineStageFlagBits;
  using A = vk::AccessFlagBits;
  vk::MemoryBarrier mb{.srcAccessMask = A::eShaderWrite | A::eTransferWrite,
                       .dstAccessMask = A::eShaderRead | A::eShaderWrite | A::eTransferRead | A::eTransferWrite};
  impl_->cmd.pipelineBarrier(S::eComputeShader | S::eTransfer, S::eComputeShader | S::eTransfer, {}, mb, {}, {});
  pending_ = false;
}

void Recorder::dispatch(const Kernel& kernel, std::initializer_list<Slice> bindings, const void* push,
                        uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz, const char* label) {
  if (bindings.size() != kernel.bindings() || push_size != kernel.push_bytes())
    throw Error(ErrorCode::Internal, "dispatch: bindings/push constants do not match the kernel");
  if (gx == 0 || gy == 0 || gz == 0) return;
  barrier_if_needed();
  auto& cmd = impl_->cmd;
  auto& k = kernel.impl();
  cmd.bindPipeline(vk::PipelineBindPoint::eCompute, *k.pipeline);
  // Both arrays are filled before `writes` points into them (no reallocation afterwards).
  std::vector<vk::DescriptorBufferInfo> infos(bindings.size());
  std::vector<vk::BufferView> views(bindings.size());
  std::vector<vk::WriteDescriptorSet> writes(bindings.size());
  uint32_t i = 0;
  for (const Slice& s : bindings) {
    if (const auto& texel = kernel.binding(i).texel) {
      views[i] = texel_view(s, *texel);
      writes[i] = vk::WriteDescriptorSet{.dstBinding = i, .descriptorCount = 1,
                                         .descriptorType = vk::DescriptorType::eUniformTexelBuffer,
                                         .pTexelBufferView = &views[i]};
    } else {
      infos[i] = vk::DescriptorBufferInfo{.buffer = raw_buffer(*s.buffer), .offset = s.offset, .range = s.size};
      writes[i] = vk::WriteDescriptorSet{.dstBinding = i, .descriptorCount = 1,
                                         .descriptorType = vk::DescriptorType::eStorageBuffer, .pBufferInfo = &infos[i]};
    }
    ++i;
  }
  cmd.pushDescriptorSetKHR(vk::PipelineBindPoint::eCompute, *k.layout, 0, writes);
  if (push_size)
    cmd.getDispatcher()->vkCmdPushConstants(*cmd, static_cast<VkPipelineLayout>(*k.layout), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                                            push_size, push);
  cmd.dispatch(gx, gy, gz);
  pending_ = true;
  ++dispatches_;
  if (profiling_ && impl_->query_count < kMaxTimestamps) {
    cmd.writeTimestamp(vk::PipelineStageFlagBits::eComputeShader, *impl_->queries, impl_->query_count++);
    labels_.push_back(label ? label : "dispatch");
  }
}

void Recorder::copy(const Slice& src, const Slice& dst) {
  if (src.size != dst.size) throw Error(ErrorCode::Internal, "copy: size mismatch");
  if (src.size == 0) return;
  barrier_if_needed();
  impl_->cmd.copyBuffer(raw_buffer(*src.buffer), raw_buffer(*dst.buffer),
                        vk::BufferCopy{.srcOffset = src.offset, .dstOffset = dst.offset, .size = src.size});
  pending_ = true;
}

void Recorder::fill_zero(const Slice& dst) {
  if (dst.size == 0) return;
  barrier_if_needed();
  impl_->cmd.fillBuffer(raw_buffer(*dst.buffer), dst.offset, dst.size, 0u);
  pending_ = true;
}

VkCommandBuffer_T* Recorder::raw_command_buffer() {
  if (!impl_->recording) throw Error(ErrorCode::Internal, "raw_command_buffer: no recording in progress");
  barrier_if_needed();
  return static_cast<VkCommandBuffer>(*impl_->cmd);
}

void Recorder::mark_pending(const char* label) {
  pending_ = true;
  if (profiling_ && impl_->query_count < kMaxTimestamps) {
    impl_->cmd.writeTimestamp(vk::PipelineStageFlagBits::eComputeShader, *impl_->queries, impl_->query_count++);
    labels_.push_back(label ? label : "external");
  }
}

void Recorder::submit_and_wait() {
  auto& c = ctx_.impl();
  auto& cmd = impl_->cmd;
  // Make the last writes visible to the host before the fence signals.
  vk::MemoryBarrier mb{.srcAccessMask = vk::AccessFlagBits::eShaderWrite | vk::AccessFlagBits::eTransferWrite,
                       .dstAccessMask = vk::AccessFlagBits::eHostRead};
  cmd.pipelineBarrier(vk::PipelineStageFlagBits::eComputeShader | vk::PipelineStageFlagBits::eTransfer,
                      vk::PipelineStageFlagBits::eHost, {}, mb, {}, {});
  cmd.end();
  impl_->recording = false;
  vk::CommandBuffer raw = *cmd;
  vk::SubmitInfo si{.commandBufferCount = 1, .pCommandBuffers = &raw};
  try {
    c.queue.submit(si, *impl_->fence);
    const auto r = c.device.waitForFences(*impl_->fence, VK_TRUE, UINT64_MAX);
    if (r != vk::Result::eSuccess) throw_vulkan_error("waiting for the GPU", r);
    c.device.resetFences(*impl_->fence);
  } catch (const vk::SystemError& e) {
    throw_vulkan_error("submitting work to the GPU", static_cast<vk::Result>(e.code().value()));
  }
  pending_ = false;
  if (profiling_ && impl_->query_count > 1) {
    auto [res, stamps] = impl_->queries.getResults<uint64_t>(0, impl_->query_count, impl_->query_count * 8, 8,
                                                              vk::QueryResultFlagBits::e64 | vk::QueryResultFlagBits::eWait);
    (void)res;
    const double period = ctx_.info().timestamp_period_ns;
    for (std::size_t i = 1; i < stamps.size() && i - 1 < labels_.size(); ++i)
      timings_.push_back({labels_[i - 1], static_cast<double>(stamps[i] - stamps[i - 1]) * period * 1e-6});
  }
}

}  // namespace vitvk::gpu
