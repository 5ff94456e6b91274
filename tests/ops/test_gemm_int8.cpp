// int8 weights on Vulkan (ops::linear_vk_int8, patch_embed_vk_int8): weight-only quantization, so the oracle is the
// fp32 CPU GEMM on the dequantized weights W = scale * q, which the GPU must match within fp32 rounding.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>

#include "ops/cpu_gemm_int8.hpp"
#include "ops/gemm.hpp"
#include "ops/patch_embed.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"
#include "vk/buffer.hpp"
#include "vk/transfer.hpp"

using namespace vitvk;

namespace {

// Weights in [-127, 127] with a scale per row, or per row and `group` of k; `extreme`: every weight +-127 (the
// sign extension of 0x81 and 0x7f everywhere), else quantize_per_row's output for N(0, 1) weights (each row, or
// group, reaches +-127 once, the rest spread), one row all zero (scale 0).
ops::QuantizedMatrix random_int8(int N, int K, uint32_t seed, bool extreme, int group = 0) {
  ops::QuantizedMatrix m;
  if (extreme) {
    std::mt19937 rng(seed);
    m = {N, K, group, std::vector<int8_t>(std::size_t(N) * K), {}};
    m.scale.resize(std::size_t(N) * m.groups());
    for (auto& v : m.q) v = (rng() & 1) ? int8_t{127} : int8_t{-127};
    for (std::size_t i = 0; i < m.scale.size(); ++i) m.scale[i] = 1e-3f * float(1 + i % 7);
    return m;
  }
  auto w = test::random_floats(std::size_t(N) * K, seed, 0.05f);
  std::fill_n(w.begin() + std::size_t(N / 2) * K, K, 0.f);
  return ops::quantize_per_row(w, N, K, group);
}

gpu::Buffer upload_words(test::VkFixture& fx, const std::vector<uint32_t>& words) {
  gpu::Buffer b(fx.ctx, words.size() * 4, gpu::MemoryUse::Device);
  gpu::upload(fx.ctx, gpu::whole(b), words.data(), words.size() * 4);
  return b;
}

struct Int8Case {
  int M, N, K;
  int x_stride, y_stride;
  ops::Epilogue ep;
  bool bias, extreme;
  int group = 0;  // k per scale (0: one scale per output channel)
};

const char* name(ops::Epilogue ep) {
  return ep == ops::Epilogue::None ? "none" : ep == ops::Epilogue::Gelu ? "gelu" : "residual";
}

// Tiles: Regs 8 x (subgroup * 8), Texel 12 x (subgroup * 12), Tiled 64 x 64; none of M, N, K here is a multiple
// of them, several K are not multiples of 4 or 8 (the tail k one at a time, bytes inside a word).
const std::vector<Int8Case> kCases = {
    {1, 7, 7, 7, 7, ops::Epilogue::None, true, false},
    {50, 193, 190, 190, 193, ops::Epilogue::Gelu, true, false},
    {197, 65, 193, 200, 70, ops::Epilogue::Residual, true, false},
    {77, 1000, 42, 42, 1000, ops::Epilogue::None, false, false},
    {3 * 197, 192, 768, 776, 192, ops::Epilogue::Residual, true, false},
    {8, 101, 195, 197 * 195, 101, ops::Epilogue::Gelu, false, false},
    {33, 70, 131, 136, 70, ops::Epilogue::None, true, true},       // every weight +-127
    {65, 129, 67, 67, 129, ops::Epilogue::Residual, false, true},  // the same, residual, no bias
    // A scale per channel and group of k (vitvk quantize --group): K a multiple of the group or not, its tail
    // k in the last group, one group longer than K, many short groups.
    {197, 65, 193, 200, 70, ops::Epilogue::Residual, true, false, 64},
    {3 * 197, 192, 768, 776, 192, ops::Epilogue::Gelu, true, false, 64},
    {50, 193, 190, 190, 193, ops::Epilogue::None, true, false, 8},
    {8, 101, 195, 197 * 195, 101, ops::Epilogue::Gelu, false, false, 256},
    {33, 70, 131, 136, 70, ops::Epilogue::None, true, true, 16},  // every weight +-127, scales differing per group
};

struct Errors {
  float rel = 0;      // max |gpu - cpu| / max(1, max |cpu|)
  float abs = 0;      // max |gpu - cpu|
  float largest = 0;  // max |cpu|
};

// linear_vk_int8 against linear_cpu on scale * q, on the same (storage-rounded) x, bias and residual, over the
// whole y buffer (padding between strided rows included).
Errors int8_error(test::VkFixture& fx, const ops::GemmConfig& cfg, bool fp16, const Int8Case& c, uint32_t seed) {
  auto round = [&](std::vector<float> v) {
    return fp16 ? gpu::from_storage(gpu::to_storage(v, true).data(), v.size(), true) : v;
  };
  const auto x = round(test::random_floats(std::size_t(c.M) * c.x_stride, seed + 1));
  const ops::QuantizedMatrix q = random_int8(c.N, c.K, seed + 2, c.extreme, c.group);
  const auto b = round(test::random_floats(c.N, seed + 3));
  const auto y0 = round(test::random_floats(std::size_t(c.M) * c.y_stride, seed + 4));
  const auto w = ops::dequantize(q);

  std::vector<float> xd(std::size_t(c.M) * c.K), yd(std::size_t(c.M) * c.N);
  for (int m = 0; m < c.M; ++m) {
    std::copy_n(x.begin() + std::size_t(m) * c.x_stride, c.K, xd.begin() + std::size_t(m) * c.K);
    std::copy_n(y0.begin() + std::size_t(m) * c.y_stride, c.N, yd.begin() + std::size_t(m) * c.N);
  }
  ops::linear_cpu(xd.data(), c.M, c.K, w.data(), c.bias ? b.data() : nullptr, c.N, yd.data(), c.ep);
  auto want = y0;
  for (int m = 0; m < c.M; ++m)
    std::copy_n(yd.begin() + std::size_t(m) * c.N, c.N, want.begin() + std::size_t(m) * c.y_stride);

  auto bx = fx.upload(x, fp16), bb = fx.upload(b, fp16), by = fx.upload(y0, fp16);
  auto bw = upload_words(fx, ops::linear_vk_pack_int8(cfg, q.q, q.scale, c.N, c.K, c.group));
  auto oc = fx.ops(fp16);
  fx.rec.begin();
  ops::linear_vk_int8(oc, gpu::whole(bx), c.M, c.K, c.x_stride, gpu::whole(bw), c.bias ? gpu::whole(bb) : gpu::Slice{},
                      c.N, gpu::whole(by), c.y_stride, c.ep, cfg, c.group);
  fx.rec.submit_and_wait();
  // The texel variant must really have read x and the int8 W (RGBA32UI) through texel views where it can.
  const auto xf = fp16 ? gpu::TexelFormat::Rgba32u : gpu::TexelFormat::Rgba32f;
  if (cfg.variant == ops::GemmVariant::Texel && gpu::texel_bindable(fx.ctx.info(), gpu::whole(bx), xf) &&
      gpu::texel_bindable(fx.ctx.info(), gpu::whole(bw), gpu::TexelFormat::Rgba32u)) {
    CHECK(bx.texel_view_count() == 1);
    CHECK(bw.texel_view_count() == 1);
  }
  const auto got = fx.download(by, want.size(), fp16);
  Errors e;
  for (float v : want) e.largest = std::max(e.largest, std::abs(v));
  e.abs = test::max_abs_diff(got, want);
  e.rel = e.abs / std::max(1.f, e.largest);
  return e;
}

// fp32: the GPU sums q * x and scales the sum, the CPU sums (scale * q) * x in another order: both within fp32
// rounding of the exact value, so 1e-5 of the output magnitude (outputs up to ~15; measured: below 1e-6).
// fp16 storage: x, bias and y rounded to half, as for the float weights: 2e-3.
void run_cases(ops::GemmVariant variant, bool fp16) {
  test::VkFixture fx;
  if (fp16 && !fx.ctx.fp16_enabled()) {
    WARN("no fp16 storage on this device");
    return;
  }
  const auto cfg = ops::gemm_config(fx.ctx.info(), variant);
  float worst = 0;
  uint32_t seed = 100;
  for (const auto& c : kCases) {
    const Errors e = int8_error(fx, cfg, fp16, c, seed += 10);
    INFO("M " << c.M << " N " << c.N << " K " << c.K << " x_stride " << c.x_stride << " y_stride " << c.y_stride
              << " " << name(c.ep) << (c.bias ? " bias" : "") << (c.extreme ? " +-127" : "") << " group " << c.group
              << (fp16 ? " fp16" : " fp32") << ": max |diff| " << e.abs << " of max |y| " << e.largest);
    CHECK(e.rel < (fp16 ? 2e-3f : 1e-5f));
    CHECK(e.largest > 1.f);  // the outputs are not vanishing (the bound is relative to max(1, max |y|))
    worst = std::max(worst, e.rel);
  }
  WARN("linear_vk_int8 " << (cfg.variant == ops::GemmVariant::Regs    ? "regs"
                             : cfg.variant == ops::GemmVariant::Texel ? "texel"
                                                                      : "tiled")
                         << (fp16 ? " fp16" : " fp32") << ": worst |gpu - cpu on scale*q| / max(1, |y|) = " << worst);
  fx.require_clean_validation();
}

}  // namespace

TEST_CASE("linear_vk_int8: register kernel matches linear_cpu on the dequantized weights, fp32", "[ops][vulkan][gemm][int8]") {
  run_cases(ops::GemmVariant::Regs, false);
}

TEST_CASE("linear_vk_int8: register kernel, fp16 storage", "[ops][vulkan][gemm][int8]") {
  run_cases(ops::GemmVariant::Regs, true);
}

TEST_CASE("linear_vk_int8: texel-buffer kernel matches linear_cpu on the dequantized weights, fp32",
          "[ops][vulkan][gemm][int8]") {
  run_cases(ops::GemmVariant::Texel, false);
}

TEST_CASE("linear_vk_int8: texel-buffer kernel, fp16 storage", "[ops][vulkan][gemm][int8]") {
  run_cases(ops::GemmVariant::Texel, true);
}

TEST_CASE("linear_vk_int8: tiled kernel matches linear_cpu on the dequantized weights, fp32", "[ops][vulkan][gemm][int8]") {
  run_cases(ops::GemmVariant::Tiled, false);
}

TEST_CASE("linear_vk_int8: tiled kernel, fp16 storage", "[ops][vulkan][gemm][int8]") {
  run_cases(ops::GemmVariant::Tiled, true);
}

TEST_CASE("linear_vk_int8: W and its scales at an offset in a shared buffer, as in the weight store",
          "[ops][vulkan][gemm][int8]") {
  // The weight store packs many tensors into one buffer: the texel kernel views the whole buffer and reads W
  // p.w_off words in, the storage-buffer kernels bind the slice; the scales follow W in either case.
  test::VkFixture fx;
  const uint64_t align = std::max<uint64_t>(16, fx.ctx.info().min_storage_buffer_offset_alignment);
  for (auto variant : {ops::GemmVariant::Regs, ops::GemmVariant::Texel, ops::GemmVariant::Tiled}) {
    const auto cfg = ops::gemm_config(fx.ctx.info(), variant);
    const int M = 9, N = 13, K = 21;
    const ops::QuantizedMatrix q = random_int8(N, K, 7, false);
    auto words = ops::linear_vk_pack_int8(cfg, q.q, q.scale, N, K);
    const std::size_t lead = align / 4;  // words before W
    words.insert(words.begin(), lead, 0xdeadbeefu);
    const auto x = test::random_floats(std::size_t(M) * K, 8);
    auto bx = fx.upload(x), by = fx.zeros(std::size_t(M) * N);
    auto bw = upload_words(fx, words);
    auto oc = fx.ops(false);
    fx.rec.begin();
    ops::linear_vk_int8(oc, gpu::whole(bx), M, K, K, gpu::whole(bw).sub(align, (words.size() - lead) * 4), {}, N,
                        gpu::whole(by), N, ops::Epilogue::None, cfg);
    fx.rec.submit_and_wait();
    std::vector<float> want(std::size_t(M) * N);
    const auto w = ops::dequantize(q);
    ops::linear_cpu(x.data(), M, K, w.data(), nullptr, N, want.data(), ops::Epilogue::None);
    INFO("variant " << int(variant));
    CHECK(test::max_abs_diff(fx.download(by, want.size()), want) < 1e-5f);
  }
  fx.require_clean_validation();
}

TEST_CASE("linear_vk_pack_int8: bytes in linear_vk_pack's layout, four to a word, then the scales",
          "[ops][gemm][int8]") {
  ops::GemmConfig cfg;  // register kernel: panel = invocations * cols
  cfg.invocations = 2;
  cfg.cols = 2;
  const int N = 5, K = 11;  // panels of 4 columns -> 2 panels; K -> 2 groups of 8
  std::vector<int8_t> q(N * K);
  for (int i = 0; i < N * K; ++i) q[i] = static_cast<int8_t>(i % 2 ? -(i % 128) : i % 128);
  q[3] = 127;
  q[4] = -127;
  const std::vector<float> scale{0.5f, 0.25f, 0.f, 3.f, 1e-3f};
  const auto words = ops::linear_vk_pack_int8(cfg, q, scale, N, K);
  const std::size_t bytes = ops::linear_vk_packed_count(cfg, N, K);
  REQUIRE(bytes == std::size_t(8 * 2 * 8));
  REQUIRE(words.size() == ops::linear_vk_int8_packed_words(cfg, N, K));
  REQUIRE(words.size() == bytes / 4 + N);
  // Element (n, k) at byte ((n / 4 * 2 + k / 8) * 4 + n % 4) * 8 + k % 8 (little end of a word first); zero padding.
  std::vector<uint8_t> expect(bytes, 0);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) expect[((n / 4 * 2 + k / 8) * 4 + n % 4) * 8 + k % 8] = uint8_t(q[n * K + k]);
  for (std::size_t e = 0; e < bytes; ++e) CHECK(uint8_t(words[e / 4] >> (8 * (e % 4))) == expect[e]);
  for (int n = 0; n < N; ++n) CHECK(std::bit_cast<float>(words[bytes / 4 + n]) == scale[n]);
  // Wrong sizes and -128 are refused.
  CHECK_THROWS_AS(ops::linear_vk_pack_int8(cfg, q, scale, N, K + 1), Error);
  CHECK_THROWS_AS(ops::linear_vk_pack_int8(cfg, q, std::vector<float>(N - 1, 1.f), N, K), Error);

  // A scale per channel and group of 8 k: [n][g] after the bytes (K = 11: 2 groups), the bytes as before.
  std::vector<float> gscale(N * 2);
  for (std::size_t i = 0; i < gscale.size(); ++i) gscale[i] = 0.125f * float(i + 1);
  const auto gwords = ops::linear_vk_pack_int8(cfg, q, gscale, N, K, 8);
  REQUIRE(gwords.size() == ops::linear_vk_int8_packed_words(cfg, N, K, 8));
  REQUIRE(gwords.size() == bytes / 4 + 2 * N);
  CHECK(std::equal(words.begin(), words.begin() + bytes / 4, gwords.begin()));
  for (std::size_t i = 0; i < gscale.size(); ++i) CHECK(std::bit_cast<float>(gwords[bytes / 4 + i]) == gscale[i]);
  CHECK(ops::linear_vk_int8_packed_words(cfg, N, K, 16) == bytes / 4 + N);  // one group longer than K
  CHECK_THROWS_AS(ops::linear_vk_pack_int8(cfg, q, scale, N, K, 8), Error);    // N scales for N x 2 groups
  CHECK_THROWS_AS(ops::linear_vk_pack_int8(cfg, q, gscale, N, K, 12), Error);  // not a multiple of 8
  CHECK_THROWS_AS(ops::linear_vk_pack_int8(cfg, q, gscale, N, K, -8), Error);
  q[7] = -128;
  CHECK_THROWS_AS(ops::linear_vk_pack_int8(cfg, q, scale, N, K), Error);
}

TEST_CASE("linear_vk_int8: slices too small for the shape are refused", "[ops][vulkan][gemm][int8]") {
  test::VkFixture fx;
  const auto cfg = ops::gemm_config(fx.ctx.info());
  const int M = 10, N = 16, K = 16;
  const ops::QuantizedMatrix q = random_int8(N, K, 3, false);
  auto words = ops::linear_vk_pack_int8(cfg, q.q, q.scale, N, K);
  auto bx = fx.zeros(M * K), by = fx.zeros(M * N), bw = upload_words(fx, words);
  auto oc = fx.ops(false);
  fx.rec.begin();
  // The scales are part of the packing: a slice without the last one is too small.
  CHECK_THROWS_AS(ops::linear_vk_int8(oc, gpu::whole(bx), M, K, K, gpu::whole(bw).sub(0, words.size() * 4 - 4), {}, N,
                                      gpu::whole(by), N, ops::Epilogue::None, cfg),
                  Error);
  CHECK_THROWS_AS(ops::linear_vk_int8(oc, gpu::whole(bx), M, K, K, gpu::whole(bw), {}, N + 1, gpu::whole(by), N + 1,
                                      ops::Epilogue::None, cfg),
                  Error);
  // With scales per group of 8 k the packing holds twice as many: the per-channel one is too small for it.
  CHECK_THROWS_AS(ops::linear_vk_int8(oc, gpu::whole(bx), M, K, K, gpu::whole(bw), {}, N, gpu::whole(by), N,
                                      ops::Epilogue::None, cfg, 8),
                  Error);
  CHECK_THROWS_AS(ops::linear_vk_int8(oc, gpu::whole(bx), M, K, K, gpu::whole(bw), {}, N, gpu::whole(by), N,
                                      ops::Epilogue::None, cfg, 4),
                  Error);
  fx.rec.submit_and_wait();
  fx.require_clean_validation();
}

TEST_CASE("patch_embed_vk_int8: every kernel matches patch_embed_cpu on the dequantized weights",
          "[ops][vulkan][gemm][int8][patch_embed]") {
  // An odd small image with an 8-pixel patch (pixels read 8 at a time) and K = 3 * 64 = 192; a 3-pixel patch
  // (K = 2 * 9 = 18: not a multiple of 4 or 8).
  struct Case {
    ops::PatchEmbedShape s;
    int tokens_per_image, first_token;
  };
  const std::vector<Case> cases = {
      {{.batch = 3, .channels = 3, .height = 40, .width = 24, .patch = 8, .dim = 37}, 18, 2},
      {{.batch = 2, .channels = 2, .height = 9, .width = 15, .patch = 3, .dim = 70}, 16, 1},
  };
  test::VkFixture fx;
  for (bool fp16 : test::precisions(fx.ctx))
    for (auto variant : {ops::GemmVariant::Regs, ops::GemmVariant::Texel, ops::GemmVariant::Tiled}) {
      const auto cfg = ops::gemm_config(fx.ctx.info(), variant);
      for (const Case& c : cases) {
        auto round = [&](std::vector<float> v) {
          return fp16 ? gpu::from_storage(gpu::to_storage(v, true).data(), v.size(), true) : v;
        };
        const auto& s = c.s;
        const int K = s.channels * s.patch * s.patch;
        const auto img = round(test::random_floats(std::size_t(s.batch) * s.channels * s.height * s.width, 31));
        const ops::QuantizedMatrix q = random_int8(s.dim, K, 32, false);
        const auto b = round(test::random_floats(s.dim, 33));
        auto want = round(test::random_floats(std::size_t(s.batch) * c.tokens_per_image * s.dim, 34));
        const auto tokens0 = want;
        const auto w = ops::dequantize(q);
        ops::patch_embed_cpu(img.data(), s, w.data(), b.data(), want.data(), c.tokens_per_image, c.first_token);

        auto bi = fx.upload(img, fp16), bb = fx.upload(b, fp16), bt = fx.upload(tokens0, fp16);
        auto bw = upload_words(fx, ops::linear_vk_pack_int8(cfg, q.q, q.scale, s.dim, K));
        auto oc = fx.ops(fp16);
        fx.rec.begin();
        ops::patch_embed_vk_int8(oc, gpu::whole(bi), s, gpu::whole(bw), gpu::whole(bb), gpu::whole(bt),
                                 c.tokens_per_image, c.first_token, cfg);
        fx.rec.submit_and_wait();
        const auto got = fx.download(bt, want.size(), fp16);
        float scale = 1.f;
        for (float v : want) scale = std::max(scale, std::abs(v));
        const float err = test::max_abs_diff(got, want) / scale;
        INFO("variant " << int(variant) << " patch " << s.patch << (fp16 ? " fp16" : " fp32") << ": error " << err);
        CHECK(err < (fp16 ? 2e-3f : 1e-5f));
      }
    }
  fx.require_clean_validation();
}
