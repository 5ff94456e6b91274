#pragma once
// Compute pipelines built from the embedded SPIR-V: one descriptor set (bindings 0..n-1, storage buffers
// unless declared otherwise; a push-descriptor set where the context uses push descriptors) plus push constants, optional uint32 specialization constants (ids 0..k-1).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "vk/buffer.hpp"

namespace vitvk::gpu {

class Context;

// How a kernel declares one binding: a storage buffer (the default), or a uniform texel buffer
// (GLSL samplerBuffer) through which the bound slice is read in `texel` format. The recorder binds a slice
// either way, making (and caching) the texel view itself; check texel_bindable() before choosing the latter.
struct Binding {
  std::optional<TexelFormat> texel;
  static Binding storage() { return {}; }
  static Binding uniform_texel(TexelFormat f) { return {f}; }
  bool operator==(const Binding&) const = default;
};

class Kernel {
 public:
  struct Impl;
  Kernel(std::unique_ptr<Impl> impl, std::vector<Binding> bindings, uint32_t push_bytes);
  ~Kernel();
  uint32_t bindings() const { return static_cast<uint32_t>(bindings_.size()); }
  const Binding& binding(uint32_t i) const { return bindings_.at(i); }
  uint32_t push_bytes() const { return push_bytes_; }
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
  std::vector<Binding> bindings_;
  uint32_t push_bytes_;
};

// Builds kernels on first use and keeps them for the context's lifetime (single-threaded use).
class KernelCache {
 public:
  explicit KernelCache(Context& ctx);
  ~KernelCache();
  KernelCache(const KernelCache&) = delete;
  KernelCache& operator=(const KernelCache&) = delete;

  // `shader` is an embedded blob name (e.g. "layernorm", "gemm.fp16"); throws Error(Unsupported) when absent.
  // `kinds`: one per binding, or empty for all storage buffers. `subgroup_size` != 0 asks for that subgroup
  // size with full subgroups (only where Context::subgroup_size_control_enabled() and the size lies in the
  // device's [min, max]; the workgroup's x size must be a multiple of it); 0 leaves the size to the driver.
  const Kernel& get(std::string_view shader, uint32_t bindings, uint32_t push_bytes,
                    std::span<const uint32_t> spec = {}, std::span<const Binding> kinds = {},
                    uint32_t subgroup_size = 0);
  bool has_shader(std::string_view shader) const;
  // Writes the persistent pipeline cache if pipelines were built since it was loaded (also done on destruction).
  void save();
  Context& context() { return ctx_; }

  struct Impl;

 private:
  Context& ctx_;
  std::unique_ptr<Impl> impl_;
  // Key: shader, push bytes, spec constants, bindings (0 = storage, 1 + format = texel), subgroup size.
  std::map<std::tuple<std::string, uint32_t, std::vector<uint32_t>, std::vector<uint8_t>, uint32_t>,
           std::unique_ptr<Kernel>>
      kernels_;
};

}  // namespace vitvk::gpu
