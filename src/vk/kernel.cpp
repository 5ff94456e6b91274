#include "vk/kernel.hpp"

#include <filesystem>

#include "core/file.hpp"
#include "core/log.hpp"
#include "vitvk/error.hpp"
#include "vk/pipeline_cache.hpp"
#include "vk/context_impl.hpp"
#include "vk/kernel_impl.hpp"
#include "vk/spirv_blobs.hpp"

namespace vitvk::gpu {

struct KernelCache::Impl {
  vk::raii::PipelineCache cache{nullptr};
  std::optional<std::filesystem::path> file;  // where the cache persists; nullopt: not persisted
  bool dirty = false;                         // pipelines were built since loading
};

Kernel::Kernel(std::unique_ptr<Impl> impl, std::vector<Binding> bindings, uint32_t push_bytes)
    : impl_(std::move(impl)), bindings_(std::move(bindings)), push_bytes_(push_bytes) {}
Kernel::~Kernel() = default;

KernelCache::KernelCache(Context& ctx) : ctx_(ctx), impl_(std::make_unique<Impl>()) {
  std::vector<uint8_t> initial;
  if (auto dir = pipeline_cache_dir()) {
    impl_->file = pipeline_cache_file(*dir, ctx.info());
    std::error_code ec;
    if (std::filesystem::exists(*impl_->file, ec)) {
      std::string reason;
      try {
        const std::string bytes = read_text_file(*impl_->file, 512u << 20);
        auto blob = unpack_pipeline_cache({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, ctx.info(), &reason);
        if (blob) initial = std::move(*blob);
      } catch (const Error& e) {
        reason = e.what();
      }
      // A cache from an older build of the shaders is routine after an upgrade: replace it quietly.
      if (!reason.empty() && reason != kStaleShadersReason)
        warn("ignoring pipeline cache " + impl_->file->string() + ": " + reason);
    }
  }
  impl_->cache = vk::raii::PipelineCache(ctx.impl().device,
                                         vk::PipelineCacheCreateInfo{.initialDataSize = initial.size(), .pInitialData = initial.data()});
}

KernelCache::~KernelCache() {
  try {
    save();
  } catch (const std::exception& e) {
    warn(std::string("could not save the pipeline cache: ") + e.what());
  }
}

void KernelCache::save() {
  if (!impl_->file || !impl_->dirty) return;
  const auto blob = impl_->cache.getData();
  std::filesystem::create_directories(impl_->file->parent_path());
  write_file_atomic(*impl_->file, pack_pipeline_cache(blob));
  impl_->dirty = false;
}

bool KernelCache::has_shader(std::string_view shader) const { return shaders::find(shader) != nullptr; }

const Kernel& KernelCache::get(std::string_view shader, uint32_t bindings, uint32_t push_bytes,
                               std::span<const uint32_t> spec, std::span<const Binding> kinds,
                               uint32_t subgroup_size) {
  if (!kinds.empty() && kinds.size() != bindings)
    throw Error(ErrorCode::Internal, "kernel '" + std::string(shader) + "': " + std::to_string(kinds.size()) +
                                         " binding kinds for " + std::to_string(bindings) + " bindings");
  std::vector<Binding> binding_kinds(bindings);
  std::copy(kinds.begin(), kinds.end(), binding_kinds.begin());
  std::vector<uint8_t> kind_key(bindings);
  for (uint32_t i = 0; i < bindings; ++i)
    kind_key[i] = binding_kinds[i].texel ? uint8_t(1 + static_cast<uint8_t>(*binding_kinds[i].texel)) : uint8_t(0);
  auto key = std::make_tuple(std::string(shader), push_bytes, std::vector<uint32_t>(spec.begin(), spec.end()),
                             std::move(kind_key), subgroup_size);
  if (auto it = kernels_.find(key); it != kernels_.end()) return *it->second;

  const auto& dinfo = ctx_.info();
  if (subgroup_size && (!ctx_.subgroup_size_control_enabled() || subgroup_size < dinfo.min_subgroup_size ||
                        subgroup_size > dinfo.max_subgroup_size))
    throw Error(ErrorCode::Internal, "kernel '" + std::string(shader) + "': subgroup size " +
                                         std::to_string(subgroup_size) + " cannot be requested on this device");
  const shaders::Blob* blob = shaders::find(shader);
  if (!blob) throw Error(ErrorCode::Unsupported, "shader '" + std::string(shader) + "' is not in this build");
  auto& dev = ctx_.impl().device;
  auto k = std::make_unique<Kernel::Impl>();
  try {
    std::vector<vk::DescriptorSetLayoutBinding> binds(bindings);
    for (uint32_t i = 0; i < bindings; ++i)
      binds[i] = vk::DescriptorSetLayoutBinding{.binding = i,
                                                .descriptorType = binding_kinds[i].texel ? vk::DescriptorType::eUniformTexelBuffer
                                                                                         : vk::DescriptorType::eStorageBuffer,
                                                .descriptorCount = 1,
                                                .stageFlags = vk::ShaderStageFlagBits::eCompute};
    k->set_layout = vk::raii::DescriptorSetLayout(
        dev, vk::DescriptorSetLayoutCreateInfo{.flags = ctx_.push_descriptors_enabled()
                                                            ? vk::DescriptorSetLayoutCreateFlagBits::ePushDescriptorKHR
                                                            : vk::DescriptorSetLayoutCreateFlags{},
                                               .bindingCount = bindings,
                                               .pBindings = binds.data()});
    vk::PushConstantRange range{.stageFlags = vk::ShaderStageFlagBits::eCompute, .offset = 0, .size = push_bytes};
    vk::DescriptorSetLayout set = *k->set_layout;
    k->layout = vk::raii::PipelineLayout(dev, vk::PipelineLayoutCreateInfo{.setLayoutCount = 1,
                                                                           .pSetLayouts = &set,
                                                                           .pushConstantRangeCount = push_bytes ? 1u : 0u,
                                                                           .pPushConstantRanges = &range});
    vk::raii::ShaderModule module(dev, vk::ShaderModuleCreateInfo{.codeSize = blob->word_count * 4, .pCode = blob->words});
    std::vector<vk::SpecializationMapEntry> entries(spec.size());
    for (uint32_t i = 0; i < spec.size(); ++i) entries[i] = vk::SpecializationMapEntry{.constantID = i, .offset = i * 4, .size = 4};
    vk::SpecializationInfo si{.mapEntryCount = static_cast<uint32_t>(entries.size()),
                              .pMapEntries = entries.data(),
                              .dataSize = spec.size() * 4,
                              .pData = spec.data()};
    vk::PipelineShaderStageRequiredSubgroupSizeCreateInfoEXT required{.requiredSubgroupSize = subgroup_size};
    vk::ComputePipelineCreateInfo pci{
        .stage = {.pNext = subgroup_size ? &required : nullptr,
                  .flags = subgroup_size && dinfo.full_subgroups
                               ? vk::PipelineShaderStageCreateFlagBits::eRequireFullSubgroupsEXT
                               : vk::PipelineShaderStageCreateFlags{},
                  .stage = vk::ShaderStageFlagBits::eCompute, .module = *module, .pName = "main",
                  .pSpecializationInfo = spec.empty() ? nullptr : &si},
        .layout = *k->layout};
    k->pipeline = vk::raii::Pipeline(dev, impl_->cache, pci);
    impl_->dirty = true;
  } catch (const vk::SystemError& e) {  // out of memory and device loss keep their ErrorCode
    throw_vulkan_error(("building compute pipeline '" + std::string(shader) + "'").c_str(),
                       static_cast<vk::Result>(e.code().value()));
  }
  auto& slot = kernels_[key];
  slot = std::make_unique<Kernel>(std::move(k), std::move(binding_kinds), push_bytes);
  return *slot;
}

}  // namespace vitvk::gpu
