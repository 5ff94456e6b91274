#pragma once
// Compute pipelines built from the embedded SPIR-V: one push-descriptor set of storage buffers
// (bindings 0..n-1) plus push constants, optional uint32 specialization constants (ids 0..k-1).
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace vitvk::gpu {

class Context;

class Kernel {
 public:
  struct Impl;
  Kernel(std::unique_ptr<Impl> impl, uint32_t bindings, uint32_t push_bytes);
  ~Kernel();
  uint32_t bindings() const { return bindings_; }
  uint32_t push_bytes() const { return push_bytes_; }
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
  uint32_t bindings_;
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
  const Kernel& get(std::string_view shader, uint32_t bindings, uint32_t push_bytes,
                    std::span<const uint32_t> spec = {});
  bool has_shader(std::string_view shader) const;
  // Writes the persistent pipeline cache if pipelines were built since it was loaded (also done on destruction).
  void save();
  Context& context() { return ctx_; }

  struct Impl;

 private:
  Context& ctx_;
  std::unique_ptr<Impl> impl_;
  std::map<std::tuple<std::string, uint32_t, uint32_t, std::vector<uint32_t>>, std::unique_ptr<Kernel>> kernels_;
};

}  // namespace vitvk::gpu
