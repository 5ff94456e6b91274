#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>

#include "ops/attention.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

struct Result {
  float out_diff = 0.f;
  float fused_diff = 0.f;
};

// Runs attention_vk on random qkv (scaled so that softmax rows range from flat to peaked) and compares with
// attention_cpu on the same (storage-rounded) inputs.
Result run_attention(test::VkFixture& fx, const ops::AttentionShape& s, bool fp16, ops::AttentionKernel kernel,
                     bool explain, uint32_t seed) {
  const std::size_t n_qkv = std::size_t(s.batch) * s.tokens * 3 * s.dim(), n_out = std::size_t(s.batch) * s.tokens * s.dim();
  const std::size_t n_fused = std::size_t(s.batch) * 3 * s.tokens * s.tokens;
  auto qkv = test::random_floats(n_qkv, seed, 1.5f);
  if (fp16) qkv = gpu::from_storage(gpu::to_storage(qkv, true).data(), qkv.size(), true);
  std::vector<float> want(n_out), want_fused(explain ? n_fused : 0);
  ops::attention_cpu(qkv.data(), s, want.data(), explain ? want_fused.data() : nullptr);

  auto bq = fx.upload(qkv, fp16);
  auto bo = fx.zeros(n_out, fp16);
  auto bf = fx.zeros(explain ? n_fused : 1, false);
  auto oc = fx.ops(fp16);
  fx.rec.begin();
  ops::attention_vk(oc, gpu::whole(bq), s, gpu::whole(bo), explain ? gpu::whole(bf) : gpu::Slice{}, kernel);
  fx.rec.submit_and_wait();
  Result r;
  r.out_diff = test::max_abs_diff(fx.download(bo, n_out, fp16), want);
  if (explain) r.fused_diff = test::max_abs_diff(fx.download(bf, n_fused, false), want_fused);
  return r;
}

const char* kernel_name(ops::AttentionKernel k) {
  switch (k) {
    case ops::AttentionKernel::Auto: return "auto";
    case ops::AttentionKernel::Rows: return "rows";
    case ops::AttentionKernel::Tiled: return "tiled";
  }
  return "?";
}

}  // namespace

TEST_CASE("attention: each Vulkan kernel form matches the CPU op", "[ops][vulkan][attention]") {
  test::VkFixture fx;
  // Long sequences with few heads keep lavapipe fast; odd head dims exercise the partial-vec4 paths.
  const ops::AttentionShape shapes[] = {{1, 1, 1, 7}, {3, 50, 3, 33}, {1, 50, 4, 64}, {1, 197, 3, 64},
                                        {3, 197, 1, 7}, {1, 577, 1, 64}, {1, 577, 1, 33}};
  uint32_t seed = 10;
  for (auto kernel : {ops::AttentionKernel::Rows, ops::AttentionKernel::Tiled, ops::AttentionKernel::Auto}) {
    for (const auto& s : shapes) {
      for (bool fp16 : test::precisions(fx.ctx)) {
        const auto r = run_attention(fx, s, fp16, kernel, false, ++seed);
        INFO(kernel_name(kernel) << " B " << s.batch << " N " << s.tokens << " H " << s.heads << " hd " << s.head_dim
                                 << (fp16 ? " fp16" : " fp32") << ": max diff " << r.out_diff);
        CHECK(r.out_diff < (fp16 ? 1e-2f : 1e-4f));
      }
    }
  }
  fx.require_clean_validation();
}

TEST_CASE("attention: explain mode fuses head probabilities like the CPU op", "[ops][vulkan][attention]") {
  test::VkFixture fx;
  const ops::AttentionShape shapes[] = {{1, 1, 1, 7}, {3, 50, 3, 33}, {1, 197, 3, 64}, {1, 577, 2, 16}};
  uint32_t seed = 100;
  for (const auto& s : shapes) {
    for (bool fp16 : test::precisions(fx.ctx)) {
      const auto r = run_attention(fx, s, fp16, ops::AttentionKernel::Auto, true, ++seed);
      INFO("B " << s.batch << " N " << s.tokens << " H " << s.heads << " hd " << s.head_dim << (fp16 ? " fp16" : " fp32")
                << ": out diff " << r.out_diff << ", fused diff " << r.fused_diff);
      CHECK(r.out_diff < (fp16 ? 1e-2f : 1e-4f));
      // The maps are fp32 in both modes and the oracle sees the same rounded qkv, so fp16 is held to it too.
      CHECK(r.fused_diff < 1e-5f);
    }
  }
  fx.require_clean_validation();
}

TEST_CASE("attention: bindings too small for the shape are rejected", "[ops][vulkan][attention]") {
  test::VkFixture fx;
  const ops::AttentionShape s{2, 10, 2, 8};
  auto small = fx.zeros(100);
  auto big = fx.zeros(4096);
  auto oc = fx.ops(false);
  fx.rec.begin();
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(small), s, gpu::whole(big), {}), Error);
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), s, gpu::whole(small), {}), Error);
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), s, gpu::whole(big), gpu::whole(small)), Error);
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), ops::AttentionShape{1, 4, 0, 8}, gpu::whole(big), {}), Error);
  fx.rec.submit_and_wait();
  CHECK(fx.rec.dispatch_count() == 0);
  fx.require_clean_validation();
}

// Not part of the suite (hidden tag): kernel time for ViT-Ti's attention at batch 8, without validation.
TEST_CASE("attention: timing for ViT-Ti batch 8", "[.][bench][attention]") {
  gpu::Context ctx;
  gpu::KernelCache kernels(ctx);
  gpu::Recorder rec(ctx);
  const ops::AttentionShape s{8, 197, 3, 64};
  const auto qkv = test::random_floats(std::size_t(s.batch) * s.tokens * 3 * s.dim(), 1);
  const double flops = 4.0 * s.batch * s.heads * double(s.tokens) * s.tokens * s.head_dim;
  for (bool fp16 : test::precisions(ctx)) {
    auto bq = gpu::upload_floats(ctx, qkv, fp16);
    gpu::Buffer bo(ctx, gpu::storage_bytes(std::size_t(s.batch) * s.tokens * s.dim(), fp16), gpu::MemoryUse::Device);
    gpu::Buffer bf(ctx, std::size_t(s.batch) * 3 * s.tokens * s.tokens * 4, gpu::MemoryUse::Device);
    gpu::OpContext oc{kernels, rec, fp16};
    for (auto kernel : {ops::AttentionKernel::Rows, ops::AttentionKernel::Tiled}) {
      for (bool explain : {false, true}) {
        double best = 1e30;
        for (int it = 0; it < 5; ++it) {
          rec.begin();
          ops::attention_vk(oc, gpu::whole(bq), s, gpu::whole(bo), explain ? gpu::whole(bf) : gpu::Slice{}, kernel);
          const auto t0 = std::chrono::steady_clock::now();
          rec.submit_and_wait();
          best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        WARN(kernel_name(kernel) << (fp16 ? " fp16" : " fp32") << (explain ? " +explain" : "") << ": " << best
                                 << " ms, " << flops / best * 1e-6 << " GFLOP/s (attention FLOPs)");
      }
    }
  }
  CHECK(ctx.validation_messages().empty());
}
