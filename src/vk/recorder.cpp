#include "vk/recorder.hpp"

#include <algorithm>

#include "vitvk/error.hpp"
#include "vk/context_impl.hpp"
#include "vk/kernel.hpp"
#include "vk/kernel_impl.hpp"

namespace vitvk::gpu {


namespace {
constexpr uint32_t kMaxTimestamps = 4096;

// Descriptors one pool holds when push descriptors are off. The first pass grows the pools as it records
// (ViT-B at batch 1 records ~300 dispatches); from the next pass on, one pool sized from what the previous
// pass used takes them all, reset once per pass.
struct PoolSize {
  uint32_t sets = 0, storage = 0, texel = 0;
  PoolSize max(const PoolSize& o) const {
    return {std::max(sets, o.sets), std::max(storage, o.storage), std::max(texel, o.texel)};
  }
};
constexpr PoolSize kFirstPool{64, 256, 64};
}  // namespace

struct Recorder::Impl {
  vk::raii::CommandPool pool{nullptr};
  vk::raii::CommandBuffer cmd{nullptr};
  vk::raii::Fence fence{nullptr};
  vk::raii::QueryPool queries{nullptr};
  uint32_t query_count = 0;
  bool recording = false;

  // Descriptor sets (without push descriptors): the pools of this recording, the one allocated from (last),
  // its capacity and what has been allocated from all of them in this recording.
  std::vector<vk::raii::DescriptorPool> pools;
  PoolSize capacity, used;

  void add_pool(const vk::raii::Device& device, PoolSize size) {
    const vk::DescriptorPoolSize sizes[] = {{vk::DescriptorType::eStorageBuffer, std::max(size.storage, 1u)},
                                            {vk::DescriptorType::eUniformTexelBuffer, std::max(size.texel, 1u)}};
    pools.emplace_back(device, vk::DescriptorPoolCreateInfo{.maxSets = std::max(size.sets, 1u),
                                                            .poolSizeCount = 2, .pPoolSizes = sizes});
    capacity = size;
    since_pool = {};
  }
  PoolSize since_pool;  // allocated from the last pool
};

namespace {
vk::DescriptorSet allocate_set(Recorder::Impl& m, const vk::raii::Device& device, const Kernel& kernel) {
  PoolSize need{1, 0, 0};
  for (uint32_t i = 0; i < kernel.bindings(); ++i) ++(kernel.binding(i).texel ? need.texel : need.storage);
  const auto fits = [&] {
    return !m.pools.empty() && m.since_pool.sets + need.sets <= m.capacity.sets &&
           m.since_pool.storage + need.storage <= m.capacity.storage &&
           m.since_pool.texel + need.texel <= m.capacity.texel;
  };
  try {
    if (!fits()) {  // a fresh pool twice the size of the last (what the recording has used so far)
      const PoolSize grown{std::max(2 * m.capacity.sets, need.sets), std::max(2 * m.capacity.storage, need.storage),
                           std::max(2 * m.capacity.texel, need.texel)};
      m.add_pool(device, grown.max(kFirstPool));
    }
    const vk::DescriptorSetLayout layout = *kernel.impl().set_layout;
    const VkDescriptorSetLayout raw_layout = layout;
    // Freed all at once by the pool reset in begin(), never one by one (so not vk::raii::DescriptorSet).
    VkDescriptorSetAllocateInfo info{.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                     .pNext = nullptr,
                                     .descriptorPool = static_cast<VkDescriptorPool>(*m.pools.back()),
                                     .descriptorSetCount = 1,
                                     .pSetLayouts = &raw_layout};
    VkDescriptorSet set = VK_NULL_HANDLE;
    const VkResult r = device.getDispatcher()->vkAllocateDescriptorSets(static_cast<VkDevice>(*device), &info, &set);
    if (r != VK_SUCCESS) throw_vulkan_error("allocating a descriptor set", static_cast<vk::Result>(r));
    m.since_pool.sets += need.sets;
    m.since_pool.storage += need.storage;
    m.since_pool.texel += need.texel;
    m.used.sets += need.sets;
    m.used.storage += need.storage;
    m.used.texel += need.texel;
    return set;
  } catch (const vk::SystemError& e) {
    throw_vulkan_error("creating a descriptor pool", static_cast<vk::Result>(e.code().value()));
  }
}

}  // namespace


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
  if (!ctx_.push_descriptors_enabled()) {
    // The previous recording has completed (submit_and_wait waited on its fence) or was never submitted, and
    // its command buffer was just reset: its descriptor sets can go. Several pools merge into one that holds
    // everything the previous recording allocated.
    auto& m = *impl_;
    try {
      if (m.pools.size() == 1) {
        m.pools.front().reset();
        m.since_pool = {};
      } else {
        const PoolSize size = m.used.max(kFirstPool);
        m.pools.clear();
        m.add_pool(ctx_.impl().device, size);
      }
    } catch (const vk::SystemError& e) {
      throw_vulkan_error("creating a descriptor pool", static_cast<vk::Result>(e.code().value()));
    }
    m.used = {};
  }
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
  if (ctx_.push_descriptors_enabled()) {
    cmd.pushDescriptorSetKHR(vk::PipelineBindPoint::eCompute, *k.layout, 0, writes);
  } else {
    const vk::DescriptorSet set = allocate_set(*impl_, ctx_.impl().device, kernel);
    for (auto& w : writes) w.dstSet = set;
    ctx_.impl().device.updateDescriptorSets(writes, {});
    cmd.bindDescriptorSets(vk::PipelineBindPoint::eCompute, *k.layout, 0, set, {});
  }
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

uint32_t Recorder::descriptor_pools() const { return static_cast<uint32_t>(impl_->pools.size()); }

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
