#pragma once
// Vulkan instance, physical-device choice and logical device with one compute queue (vk::raii throughout).
// Namespace vitvk::gpu, so that ::vk stays Vulkan-Hpp's.
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace vitvk::gpu {

// What `vitvk devices` shows and what kernel selection looks at.
struct DeviceInfo {
  int index = 0;
  std::string name;
  std::string type;  // "discrete" | "integrated" | "virtual" | "cpu" | "other"
  int type_rank = 0;  // selection order: discrete 0, integrated 1, virtual 2, cpu 3, other 4
  std::string driver_name, driver_info;
  uint32_t driver_id = 0;  // VkDriverId: kernels pick variants by this, never by device name
  uint32_t vendor_id = 0;
  uint32_t device_id = 0;
  std::array<uint8_t, 16> pipeline_cache_uuid{};
  uint32_t api_version = 0;
  uint32_t driver_version = 0;
  std::string device_uuid;  // hex
  bool fp16_storage = false;     // storageBuffer16BitAccess
  bool fp16_arithmetic = false;  // shaderFloat16
  uint32_t subgroup_size = 0;
  uint32_t shared_memory_bytes = 0;
  uint32_t max_workgroup_invocations = 0;
  uint64_t max_storage_buffer_range = 0;
  uint64_t min_storage_buffer_offset_alignment = 0;
  uint64_t min_texel_buffer_offset_alignment = 0;
  uint32_t max_texel_buffer_elements = 0;
  uint32_t uniform_texel_formats = 0;  // bit i: gpu::TexelFormat(i) supports uniform texel buffers (buffer.hpp)
  uint64_t device_local_bytes = 0;
  bool push_descriptor = false;  // VK_KHR_push_descriptor (optional: ordinary descriptor sets otherwise)
  // Subgroup size range and control (VK_EXT_subgroup_size_control / Vulkan 1.3); min = max = subgroup_size
  // where the device cannot say more.
  uint32_t min_subgroup_size = 0, max_subgroup_size = 0;
  bool subgroup_size_control = false;  // subgroupSizeControl feature and the compute stage in requiredSubgroupSizeStages
  bool full_subgroups = false;         // computeFullSubgroups
  bool subgroup_arithmetic = false;    // compute stage has basic + arithmetic + ballot subgroup operations
  bool coopmat_nv = false;   // VK_NV_cooperative_matrix
  bool coopmat_khr = false;  // VK_KHR_cooperative_matrix
  bool timestamps = false;
  float timestamp_period_ns = 0.f;

  bool is_cpu() const { return type == "cpu"; }
  bool is_lavapipe() const;  // Mesa llvmpipe, by driver id
  std::string api_version_string() const;
};

struct ContextOptions {
  std::optional<int> device;  // index into list_devices(); else VITVK_DEVICE; else best by type
  bool validation = false;    // Khronos validation (+ synchronization validation) with a message log
  bool enable_fp16 = true;    // enable 16-bit storage/arithmetic features where the device has them
  // Push descriptors where the device has VK_KHR_push_descriptor; false forces ordinary descriptor sets.
  // nullopt: VITVK_VK_PUSH_DESCRIPTORS (0 = off, 1 = on where available), else on where available.
  std::optional<bool> push_descriptors{};
  // Kernels use subgroup arithmetic / ballot where the device has them in compute shaders; false forces the
  // shared-memory forms. nullopt: VITVK_VK_SUBGROUP_OPS (0 = off, 1 = on where available), else on.
  std::optional<bool> subgroup_ops{};
};

// Enumerates every Vulkan device (creates a short-lived instance). Throws Error(Vulkan) when no loader/ICD.
std::vector<DeviceInfo> list_devices();

// Index of the device selection prefers: discrete > integrated > virtual > CPU.
int pick_device(const std::vector<DeviceInfo>& devices, std::optional<int> requested);

class Context {
 public:
  explicit Context(const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  const DeviceInfo& info() const { return info_; }
  bool fp16_enabled() const { return fp16_storage_enabled_; }
  bool fp16_arithmetic_enabled() const { return fp16_arith_enabled_; }
  // Kernels bind through push descriptors (else through descriptor sets from the recorder's pool).
  bool push_descriptors_enabled() const { return push_descriptors_enabled_; }
  // Kernels may use subgroup arithmetic and broadcasts (else their shared-memory variants, ".nosg").
  bool subgroup_ops_enabled() const { return subgroup_ops_enabled_; }
  // Pipelines may request a subgroup size (VkPipelineShaderStageRequiredSubgroupSizeCreateInfo).
  bool subgroup_size_control_enabled() const { return subgroup_size_control_enabled_; }

  // Validation messages (warnings and errors) seen so far; empty when validation is off.
  std::vector<std::string> validation_messages() const;

  struct Impl;
  Impl& impl() { return *impl_; }  // vk handles, for src/vk and src/ops internals only

 private:
  DeviceInfo info_;
  bool fp16_storage_enabled_ = false;
  bool fp16_arith_enabled_ = false;
  bool push_descriptors_enabled_ = false;
  bool subgroup_ops_enabled_ = false;
  bool subgroup_size_control_enabled_ = false;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vitvk::gpu
