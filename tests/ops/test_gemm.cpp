#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "ops/gemm.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

// Whether the device can view fp32 / fp16 storage as 4-element texels (the texel variant's formats).
bool texel_capable(const gpu::DeviceInfo& dev, bool fp16) {
  const auto f = fp16 ? gpu::TexelFormat::Rgba16f : gpu::TexelFormat::Rgba32f;
  return (dev.uniform_texel_formats >> static_cast<int>(f) & 1u) != 0;
}

struct LinearCase {
  int M, N, K;
  int x_stride, y_stride;  // >= K, >= N
  ops::Epilogue ep;
  bool bias;
};

const char* name(ops::Epilogue ep) {
  return ep == ops::Epilogue::None ? "none" : ep == ops::Epilogue::Gelu ? "gelu" : "residual";
}

// Odd shapes: rows not multiples of the tile, N and K not multiples of 8 or of the panel, strided rows, every
// epilogue, with and without bias. Runs linear_vk and linear_cpu on the same (storage-rounded) inputs and returns
// max |gpu - cpu| / max(1, max |cpu|) over the whole y buffer (so padding between strided rows is checked too).
float linear_rel_error(test::VkFixture& fx, const ops::GemmConfig& cfg, bool fp16, const LinearCase& c) {
  auto round = [&](std::vector<float> v) {
    return fp16 ? gpu::from_storage(gpu::to_storage(v, true).data(), v.size(), true) : v;
  };
  const auto x = round(test::random_floats(std::size_t(c.M) * c.x_stride, 11));
  const auto w = round(test::random_floats(std::size_t(c.N) * c.K, 12, 0.5f));
  const auto b = round(test::random_floats(c.N, 13));
  const auto y0 = round(test::random_floats(std::size_t(c.M) * c.y_stride, 14));  // residual stream / padding

  // CPU reference on densely packed rows, scattered into the strided layout.
  std::vector<float> xd(std::size_t(c.M) * c.K), yd(std::size_t(c.M) * c.N);
  for (int m = 0; m < c.M; ++m) {
    std::copy_n(x.begin() + std::size_t(m) * c.x_stride, c.K, xd.begin() + std::size_t(m) * c.K);
    std::copy_n(y0.begin() + std::size_t(m) * c.y_stride, c.N, yd.begin() + std::size_t(m) * c.N);
  }
  ops::linear_cpu(xd.data(), c.M, c.K, w.data(), c.bias ? b.data() : nullptr, c.N, yd.data(), c.ep);
  auto want = y0;
  for (int m = 0; m < c.M; ++m)
    std::copy_n(yd.begin() + std::size_t(m) * c.N, c.N, want.begin() + std::size_t(m) * c.y_stride);

  auto bx = fx.upload(x, fp16), bw = fx.upload(ops::linear_vk_pack(cfg, w, c.N, c.K), fp16), bb = fx.upload(b, fp16);
  auto by = fx.upload(y0, fp16);
  auto oc = fx.ops(fp16);
  fx.rec.begin();
  ops::linear_vk(oc, gpu::whole(bx), c.M, c.K, c.x_stride, gpu::whole(bw), c.bias ? gpu::whole(bb) : gpu::Slice{},
                 c.N, gpu::whole(by), c.y_stride, c.ep, cfg);
  fx.rec.submit_and_wait();
  // The texel variant must really have read x and W through texel views (not fallen back) where it can.
  // (Where a buffer is too big for a texel view, e.g. SwiftShader's 64 Ki texels, the storage form runs instead.)
  const auto vf = fp16 ? gpu::TexelFormat::Rgba32u : gpu::TexelFormat::Rgba32f;
  if (cfg.variant == ops::GemmVariant::Texel && texel_capable(fx.ctx.info(), fp16) &&
      gpu::texel_bindable(fx.ctx.info(), gpu::whole(bx), vf) && gpu::texel_bindable(fx.ctx.info(), gpu::whole(bw), vf)) {
    CHECK(bx.texel_view_count() == 1);
    CHECK(bw.texel_view_count() == 1);
  }
  const auto got = fx.download(by, want.size(), fp16);
  float scale = 1.f;
  for (float v : want) scale = std::max(scale, std::abs(v));
  return test::max_abs_diff(got, want) / scale;
}

const std::vector<LinearCase> kCases = {
    {1, 7, 7, 7, 7, ops::Epilogue::None, true},               // one row, tiny and odd
    {50, 193, 192, 192, 193, ops::Epilogue::Gelu, true},      // N past a panel; K a multiple of 8
    {197, 64, 193, 200, 70, ops::Epilogue::Residual, true},   // odd K (tail), strided x and y
    {577, 1000, 40, 40, 1000, ops::Epilogue::None, false},    // classifier-like N, no bias
    {3 * 197, 192, 768, 776, 192, ops::Epilogue::Residual, true},  // fc2-like, strided x read 8 at a time
    {8, 1000, 192, 197 * 192, 1000, ops::Epilogue::None, true},    // the head: class-token rows of a batch
};

// fp32: 1e-4 of the output magnitude (outputs reach ~60 here; seen: <= 1e-6 relative). fp16 storage: inputs,
// weights and outputs rounded to half (2^-11 relative each), accumulation in fp32: 2e-3 (seen: <= 5e-4).
void run_cases(ops::GemmVariant variant, bool fp16) {
  test::VkFixture fx;
  if (fp16 && !fx.ctx.fp16_enabled()) {
    WARN("no fp16 storage on this device");
    return;
  }
  const auto cfg = ops::gemm_config(fx.ctx.info(), variant);
  for (const auto& c : kCases) {
    const float err = linear_rel_error(fx, cfg, fp16, c);
    INFO("M " << c.M << " N " << c.N << " K " << c.K << " x_stride " << c.x_stride << " y_stride " << c.y_stride
              << " " << name(c.ep) << (c.bias ? " bias" : "") << (fp16 ? " fp16" : " fp32") << ": error " << err);
    CHECK(err < (fp16 ? 2e-3f : 1e-4f));
  }
  fx.require_clean_validation();
}

}  // namespace

TEST_CASE("linear_vk: register kernel matches linear_cpu, fp32", "[ops][vulkan][gemm]") {
  run_cases(ops::GemmVariant::Regs, false);
}

TEST_CASE("linear_vk: register kernel matches linear_cpu, fp16 storage", "[ops][vulkan][gemm]") {
  run_cases(ops::GemmVariant::Regs, true);
}

TEST_CASE("linear_vk: texel-buffer kernel matches linear_cpu, fp32", "[ops][vulkan][gemm]") {
  run_cases(ops::GemmVariant::Texel, false);
}

TEST_CASE("linear_vk: texel-buffer kernel matches linear_cpu, fp16 storage", "[ops][vulkan][gemm]") {
  run_cases(ops::GemmVariant::Texel, true);
}

TEST_CASE("linear_vk: tiled kernel matches linear_cpu, fp32", "[ops][vulkan][gemm]") {
  run_cases(ops::GemmVariant::Tiled, false);
}

TEST_CASE("linear_vk: tiled kernel matches linear_cpu, fp16 storage", "[ops][vulkan][gemm]") {
  run_cases(ops::GemmVariant::Tiled, true);
}

TEST_CASE("linear_vk: the GELU epilogue is exact-erf GELU to float precision", "[ops][vulkan][gemm]") {
  // y = gelu(x * 1): K = N = 1, so the epilogue alone decides the error. Dense over [-8, 8], where erf goes from
  // its polynomial through its exp-scaled piece to +-1.
  test::VkFixture fx;
  const int M = 4001;
  std::vector<float> x(M);
  for (int i = 0; i < M; ++i) x[i] = -8.f + 16.f * float(i) / float(M - 1);
  const auto cfg = ops::gemm_config(fx.ctx.info(), ops::GemmVariant::Regs);
  auto bx = fx.upload(x), bw = fx.upload(ops::linear_vk_pack(cfg, std::vector<float>{1.f}, 1, 1)), by = fx.zeros(M);
  auto oc = fx.ops(false);
  fx.rec.begin();
  ops::linear_vk(oc, gpu::whole(bx), M, 1, 1, gpu::whole(bw), {}, 1, gpu::whole(by), 1, ops::Epilogue::Gelu, cfg);
  fx.rec.submit_and_wait();
  const auto got = fx.download(by, M);
  double worst = 0;
  for (int i = 0; i < M; ++i) {
    const double v = x[i], want = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    worst = std::max(worst, std::abs(got[i] - want) / std::max(1.0, std::abs(v)));
  }
  INFO("max |gelu error| / max(1, |x|) = " << worst);
  CHECK(worst < 1e-6);
  fx.require_clean_validation();
}

TEST_CASE("linear_vk_pack: 8-k groups in panels of the tile width, zero padded", "[ops][gemm]") {
  ops::GemmConfig cfg;  // register kernel: panel = invocations * cols
  cfg.invocations = 2;
  cfg.cols = 2;
  const int N = 5, K = 11;  // panels of 4 columns -> 2 panels; K -> 2 groups of 8
  std::vector<float> w(N * K);
  for (int i = 0; i < N * K; ++i) w[i] = float(i + 1);
  const auto packed = ops::linear_vk_pack(cfg, w, N, K);
  REQUIRE(packed.size() == ops::linear_vk_packed_count(cfg, N, K));
  REQUIRE(packed.size() == std::size_t(8 * 2 * 8));
  // Element (n, k) at ((n / 4 * 2 + k / 8) * 4 + n % 4) * 8 + k % 8; everything else is zero.
  std::vector<float> expect(packed.size(), 0.f);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) expect[((n / 4 * 2 + k / 8) * 4 + n % 4) * 8 + k % 8] = w[n * K + k];
  CHECK(packed == expect);
  CHECK_THROWS_AS(ops::linear_vk_pack(cfg, w, N, K + 1), Error);
}

TEST_CASE("linear_vk: kernel selection by driver, overridable, and bad arguments rejected", "[ops][vulkan][gemm]") {
  test::VkFixture fx;
  const auto& dev = fx.ctx.info();
  const auto cfg = ops::gemm_config(dev, ops::GemmVariant::Auto);
  const bool cpu_driver = dev.is_lavapipe() || dev.is_cpu();
  const bool texel_ok = texel_capable(dev, false) && (!dev.fp16_storage || texel_capable(dev, true));
  if (std::getenv("VITVK_GEMM_VARIANT") == nullptr)
    CHECK(cfg.variant == (!cpu_driver ? ops::GemmVariant::Tiled : texel_ok ? ops::GemmVariant::Texel : ops::GemmVariant::Regs));
  if (dev.is_lavapipe()) CHECK(texel_ok);  // lavapipe has both formats: the texel kernel must not be lost
  CHECK(ops::gemm_config(dev, ops::GemmVariant::Tiled).variant == ops::GemmVariant::Tiled);
  CHECK(ops::gemm_config(dev, ops::GemmVariant::Regs).variant == ops::GemmVariant::Regs);
  CHECK(ops::gemm_config(dev, ops::GemmVariant::Texel).variant == ops::GemmVariant::Texel);

  // Slices smaller than the shape needs are an Error, not an out-of-bounds dispatch.
  auto bx = fx.zeros(10 * 16), bw = fx.zeros(ops::linear_vk_packed_count(cfg, 16, 16)), by = fx.zeros(10 * 16);
  auto oc = fx.ops(false);
  fx.rec.begin();
  CHECK_THROWS_AS(ops::linear_vk(oc, gpu::whole(bx), 11, 16, 16, gpu::whole(bw), {}, 16, gpu::whole(by), 16,
                                 ops::Epilogue::None, cfg),
                  Error);
  CHECK_THROWS_AS(ops::linear_vk(oc, gpu::whole(bx), 10, 16, 16, gpu::whole(bw), {}, 17, gpu::whole(by), 16,
                                 ops::Epilogue::None, cfg),
                  Error);
  CHECK_THROWS_AS(ops::linear_vk(oc, gpu::whole(bx), 10, 16, 8, gpu::whole(bw), {}, 16, gpu::whole(by), 16,
                                 ops::Epilogue::None, cfg),
                  Error);
  fx.rec.submit_and_wait();
  fx.require_clean_validation();
}
