#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/backend.hpp"
#include "ops/embed.hpp"
#include "ops/patch_embed.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"

using namespace vitvk;

namespace {

const char* kModels[][2] = {{"vit_tiny_augreg", "vit_tiny_patch16_224.augreg_in21k_ft_in1k"},
                            {"deit_tiny_pipevit", "deit_tiny_patch16_224.pipevit"}};
const char* kImages[] = {"n01440764_tench", "n01443537_goldfish", "n02096051_Airedale", "n02123045_tabby"};

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  REQUIRE(a.size() == b.size());
  float m = 0.f;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("CPU forward reproduces the reference logits of both shared models", "[engine][cpu][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  for (const auto& [prefix, dir] : kModels) {
    auto model = std::make_shared<const Model>(Model::load(shared / "models" / dir));
    auto cpu = make_cpu_backend(model);
    // All four images in one batch: also checks that batching does not mix images.
    std::vector<float> input;
    std::vector<std::vector<float>> expected;
    for (const char* img : kImages) {
      const auto base = shared / "reference" / (std::string(prefix) + "__" + img);
      auto x = test::read_f32(base.string() + ".input_f32_3x224x224.bin", 3 * 224 * 224);
      input.insert(input.end(), x.begin(), x.end());
      expected.push_back(test::read_f32(base.string() + ".logits_f32_1000.bin", 1000));
    }
    auto r = cpu->forward(input, 4, {});
    for (int b = 0; b < 4; ++b) {
      const float diff = max_abs_diff(r.logits_of(b), expected[b]);
      INFO(prefix << " / " << kImages[b] << ": max |logit diff| = " << diff);
      CHECK(diff < 1e-3f);
      const auto top = std::max_element(expected[b].begin(), expected[b].end()) - expected[b].begin();
      const auto got = std::max_element(r.logits_of(b).begin(), r.logits_of(b).end()) - r.logits_of(b).begin();
      CHECK(top == got);
    }
  }
}

TEST_CASE("CPU patch embedding + tokens match the reference tokens after embedding", "[ops][cpu][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  for (const auto& [prefix, dir] : kModels) {
    const Model m = Model::load(shared / "models" / dir);
    const ModelDims& d = m.dims;
    for (const char* img : kImages) {
      const auto base = (shared / "reference" / (std::string(prefix) + "__" + img)).string();
      auto x = test::read_f32(base + ".input_f32_3x224x224.bin", 3 * 224 * 224);
      auto expected = test::read_f32(base + ".tokens_after_embed_f32_197x192.bin", 197 * 192);
      std::vector<float> tokens(static_cast<std::size_t>(d.tokens) * d.dim);
      ops::patch_embed_cpu(x.data(), {1, d.channels, d.img_h, d.img_w, d.patch, d.dim}, m.weights.patch_embed.weight.data(),
                           m.weights.patch_embed.bias.data(), tokens.data(), d.tokens, d.prefix);
      ops::embed_tokens_cpu(tokens.data(), {1, d.tokens, d.dim, d.prefix, d.pos_rows}, m.weights.cls_token.data(),
                            m.weights.pos_embed.data());
      const float diff = max_abs_diff(tokens, expected);
      INFO(prefix << " / " << img << ": max |token diff| = " << diff);
      CHECK(diff < 1e-4f);
    }
  }
}

TEST_CASE("a random-weight tiny model runs without shared data", "[engine][cpu]") {
  for (bool distilled : {false, true}) {
    auto model = std::make_shared<const Model>(Model::random(test::tiny_config(distilled), 11));
    auto cpu = make_cpu_backend(model);
    const int B = 3;
    std::vector<float> images(static_cast<std::size_t>(B) * 3 * 32 * 32);
    std::mt19937 rng(5);
    std::normal_distribution<float> nd;
    for (auto& v : images) v = nd(rng);
    auto r = cpu->forward(images, B, {.explain = true});
    REQUIRE(r.logits.size() == static_cast<std::size_t>(B) * 10);
    REQUIRE(r.features.size() == static_cast<std::size_t>(B) * 24);
    for (float v : r.logits) CHECK(std::isfinite(v));
    // Distinct images give distinct logits; one image alone gives the same logits as inside the batch.
    CHECK(max_abs_diff(r.logits_of(0), r.logits_of(1)) > 1e-4f);
    auto single = cpu->forward(std::span<const float>(images).subspan(3 * 32 * 32, 3 * 32 * 32), 1, {});
    CHECK(max_abs_diff(single.logits_of(0), r.logits_of(1)) < 1e-5f);
    // Explain output: every row of the mean map is a probability distribution; max >= mean >= min.
    const int T = r.tokens;
    REQUIRE(r.attention.size() == static_cast<std::size_t>(2) * B * 3 * T * T);
    for (int row = 0; row < T; ++row) {
      float s = 0.f;
      for (int c = 0; c < T; ++c) s += r.attention[row * T + c];
      CHECK(s == Approx(1.0f).margin(1e-5));
    }
    for (std::size_t i = 0; i < static_cast<std::size_t>(T) * T; ++i) {
      CHECK(r.attention[T * T + i] >= r.attention[i] - 1e-7f);
      CHECK(r.attention[i] >= r.attention[2 * T * T + i] - 1e-7f);
    }
  }
}
