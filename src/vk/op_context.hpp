#pragma once
// What an op's Vulkan dispatch needs: kernels, the recording command buffer, the storage precision and the
// device (kernels choose variants by driver/features, e.g. lavapipe's CPU-style execution).
#include <string>

#include "vk/buffer.hpp"
#include "vk/context.hpp"
#include "vk/kernel.hpp"
#include "vk/recorder.hpp"

namespace vitvk::gpu {

struct OpContext {
  KernelCache& kernels;
  Recorder& rec;
  bool fp16 = false;  // activations and weights stored as fp16 (fp32 accumulation in shaders)

  const DeviceInfo& device() const { return kernels.context().info(); }
  // "name" or "name.fp16" for the current storage precision.
  std::string shader(const char* name) const { return fp16 ? std::string(name) + ".fp16" : std::string(name); }
  // The same for kernels with a workgroup reduction (shaders/common.glsl): "name[.nosg][.fp16]", the ".nosg"
  // variant (shared memory only) where subgroup arithmetic is off. Their workgroups stay <= 256 invocations.
  std::string reduce_shader(const char* name) const {
    return std::string(name) + (kernels.context().subgroup_ops_enabled() ? "" : ".nosg") + (fp16 ? ".fp16" : "");
  }
  uint32_t subgroup() const { return device().subgroup_size ? device().subgroup_size : 32; }
  // Bytes per stored element.
  uint64_t esize() const { return fp16 ? 2 : 4; }
};

// Groups needed to cover n items with groups of `per`.
inline uint32_t groups(uint64_t n, uint64_t per) { return static_cast<uint32_t>((n + per - 1) / per); }

}  // namespace vitvk::gpu
