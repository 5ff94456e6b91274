#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "ops/patch_embed.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

struct PatchCase {
  ops::PatchEmbedShape s;
  int tokens_per_image, first_token;
};

// ViT-Ti's 224x224/16; an odd small image with an 8-pixel patch (pixels read 8 at a time) and rows left free
// before and after each image's patches; a 4-pixel patch (pixels read one by one) with 2 channels.
const std::vector<PatchCase> kCases = {
    {{.batch = 2, .channels = 3, .height = 224, .width = 224, .patch = 16, .dim = 192}, 197, 1},
    {{.batch = 3, .channels = 3, .height = 40, .width = 24, .patch = 8, .dim = 7}, 18, 2},
    {{.batch = 1, .channels = 2, .height = 20, .width = 12, .patch = 4, .dim = 70}, 15, 0},
};

// max |gpu - cpu| / max(1, max |cpu|) over the whole token buffer: rows the op must not touch keep their values.
float patch_rel_error(test::VkFixture& fx, const ops::GemmConfig& cfg, bool fp16, const PatchCase& c) {
  auto round = [&](std::vector<float> v) {
    return fp16 ? gpu::from_storage(gpu::to_storage(v, true).data(), v.size(), true) : v;
  };
  const auto& s = c.s;
  const int K = s.channels * s.patch * s.patch;
  const auto img = round(test::random_floats(std::size_t(s.batch) * s.channels * s.height * s.width, 21));
  const auto w = round(test::random_floats(std::size_t(s.dim) * K, 22, 0.05f));
  const auto b = round(test::random_floats(s.dim, 23));
  auto want = round(test::random_floats(std::size_t(s.batch) * c.tokens_per_image * s.dim, 24));
  const auto tokens0 = want;
  ops::patch_embed_cpu(img.data(), s, w.data(), b.data(), want.data(), c.tokens_per_image, c.first_token);

  auto bi = fx.upload(img, fp16), bw = fx.upload(ops::linear_vk_pack(cfg, w, s.dim, K), fp16), bb = fx.upload(b, fp16);
  auto bt = fx.upload(tokens0, fp16);
  auto oc = fx.ops(fp16);
  fx.rec.begin();
  ops::patch_embed_vk(oc, gpu::whole(bi), s, gpu::whole(bw), gpu::whole(bb), gpu::whole(bt), c.tokens_per_image,
                      c.first_token, cfg);
  fx.rec.submit_and_wait();
  // The texel variant must really have read the images and W through texel views where the device has them.
  const auto tf = fp16 ? gpu::TexelFormat::Rgba16f : gpu::TexelFormat::Rgba32f;
  const auto vf = fp16 ? gpu::TexelFormat::Rgba32u : gpu::TexelFormat::Rgba32f;  // the views' format (gemm.vk.cpp)
  if (cfg.variant == ops::GemmVariant::Texel && (fx.ctx.info().uniform_texel_formats >> static_cast<int>(tf) & 1u) &&
      gpu::texel_bindable(fx.ctx.info(), gpu::whole(bi), vf) && gpu::texel_bindable(fx.ctx.info(), gpu::whole(bw), vf)) {
    CHECK(bi.texel_view_count() == 1);
    CHECK(bw.texel_view_count() == 1);
  }
  const auto got = fx.download(bt, want.size(), fp16);
  float scale = 1.f;
  for (float v : want) scale = std::max(scale, std::abs(v));
  return test::max_abs_diff(got, want) / scale;
}

// Bounds as for linear_vk (tests/ops/test_gemm.cpp): fp32 1e-4, fp16 storage 2e-3 of the output magnitude.
void run_cases(ops::GemmVariant variant, bool fp16) {
  test::VkFixture fx;
  if (fp16 && !fx.ctx.fp16_enabled()) {
    WARN("no fp16 storage on this device");
    return;
  }
  const auto cfg = ops::gemm_config(fx.ctx.info(), variant);
  for (const auto& c : kCases) {
    const float err = patch_rel_error(fx, cfg, fp16, c);
    INFO("batch " << c.s.batch << " " << c.s.channels << "x" << c.s.height << "x" << c.s.width << " patch "
                  << c.s.patch << " dim " << c.s.dim << (fp16 ? " fp16" : " fp32") << ": error " << err);
    CHECK(err < (fp16 ? 2e-3f : 1e-4f));
  }
  fx.require_clean_validation();
}

}  // namespace

TEST_CASE("patch_embed_vk: register kernel matches patch_embed_cpu, fp32", "[ops][vulkan][patch_embed]") {
  run_cases(ops::GemmVariant::Regs, false);
}

TEST_CASE("patch_embed_vk: register kernel matches patch_embed_cpu, fp16 storage", "[ops][vulkan][patch_embed]") {
  run_cases(ops::GemmVariant::Regs, true);
}

TEST_CASE("patch_embed_vk: texel-buffer kernel matches patch_embed_cpu, fp32", "[ops][vulkan][patch_embed]") {
  run_cases(ops::GemmVariant::Texel, false);
}

TEST_CASE("patch_embed_vk: texel-buffer kernel matches patch_embed_cpu, fp16 storage", "[ops][vulkan][patch_embed]") {
  run_cases(ops::GemmVariant::Texel, true);
}

TEST_CASE("patch_embed_vk: tiled kernel matches patch_embed_cpu, fp32", "[ops][vulkan][patch_embed]") {
  run_cases(ops::GemmVariant::Tiled, false);
}

TEST_CASE("patch_embed_vk: tiled kernel matches patch_embed_cpu, fp16 storage", "[ops][vulkan][patch_embed]") {
  run_cases(ops::GemmVariant::Tiled, true);
}

TEST_CASE("patch_embed_vk: rejects shapes that do not fit", "[ops][vulkan][patch_embed]") {
  test::VkFixture fx;
  const auto cfg = ops::gemm_config(fx.ctx.info());
  ops::PatchEmbedShape s{.batch = 1, .channels = 3, .height = 32, .width = 32, .patch = 16, .dim = 8};
  auto bi = fx.zeros(3 * 32 * 32), bw = fx.zeros(ops::linear_vk_packed_count(cfg, 8, 3 * 16 * 16));
  auto bt = fx.zeros(5 * 8);
  auto oc = fx.ops(false);
  fx.rec.begin();
  auto run = [&](const ops::PatchEmbedShape& sh, int tokens, int first) {
    ops::patch_embed_vk(oc, gpu::whole(bi), sh, gpu::whole(bw), {}, gpu::whole(bt), tokens, first, cfg);
  };
  CHECK_THROWS_AS(run(s, 4, 1), Error);  // 4 patches from token 1 need 5 tokens per image
  auto odd = s;
  odd.width = 40;  // not a multiple of the patch
  CHECK_THROWS_AS(run(odd, 5, 1), Error);
  auto big = s;
  big.batch = 2;  // the image buffer holds one image
  CHECK_THROWS_AS(run(big, 5, 0), Error);
  CHECK_NOTHROW(run(s, 5, 1));
  fx.rec.submit_and_wait();
  fx.require_clean_validation();
}
