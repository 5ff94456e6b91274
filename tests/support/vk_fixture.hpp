#pragma once
// A Vulkan context with the Khronos validation layer (+ synchronization validation) for GPU tests, and
// helpers to move float tensors in and out in the op's storage precision.
#include <catch2/catch.hpp>

#include <memory>
#include <random>
#include <vector>

#include "support/random.hpp"
#include "vk/context.hpp"
#include "vk/kernel.hpp"
#include "vk/op_context.hpp"
#include "vk/recorder.hpp"
#include "vk/transfer.hpp"

namespace vitvk::test {

struct VkFixture {
  VkFixture() : VkFixture(make_options()) {}
  // Validation is always on; the other options (e.g. a forced fallback) as given.
  explicit VkFixture(gpu::ContextOptions o) : ctx([&] { o.validation = true; return o; }()) {}
  gpu::Context ctx;
  static gpu::ContextOptions make_options() {
    gpu::ContextOptions o;
    o.validation = true;
    return o;
  }
  gpu::KernelCache kernels{ctx};
  gpu::Recorder rec{ctx};

  gpu::OpContext ops(bool fp16) { return gpu::OpContext{kernels, rec, fp16}; }
  gpu::Buffer upload(const std::vector<float>& v, bool fp16 = false) { return gpu::upload_floats(ctx, v, fp16); }
  gpu::Buffer zeros(std::size_t count, bool fp16 = false) {
    return gpu::upload_floats(ctx, std::vector<float>(count, 0.f), fp16);
  }
  std::vector<float> download(const gpu::Buffer& b, std::size_t count, bool fp16 = false) {
    return gpu::download_floats(ctx, gpu::whole(b), count, fp16);
  }
  // Every test ends with this: any validation message fails the test.
  void require_clean_validation() const {
    const auto msgs = ctx.validation_messages();
    for (const auto& m : msgs) UNSCOPED_INFO(m);
    CHECK(msgs.empty());
  }
  ~VkFixture() = default;
};

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float m = 0.f;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// Precisions this device can run: fp32 always, fp16 where 16-bit storage is enabled and the shader was built.
inline std::vector<bool> precisions(const gpu::Context& ctx) {
  std::vector<bool> out{false};
  if (ctx.fp16_enabled()) out.push_back(true);
  return out;
}

}  // namespace vitvk::test
