#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/backend.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "support/vk_fixture.hpp"

using namespace vitvk;

namespace {

const char* kModels[][2] = {{"vit_tiny_augreg", "vit_tiny_patch16_224.augreg_in21k_ft_in1k"},
                            {"deit_tiny_pipevit", "deit_tiny_patch16_224.pipevit"}};
const char* kImages[] = {"n01440764_tench", "n01443537_goldfish", "n02096051_Airedale", "n02123045_tabby"};

std::unique_ptr<Backend> vulkan(std::shared_ptr<const Model> m, bool fp16, int max_batch = 8) {
  VulkanBackendOptions o;
  o.fp16 = fp16;
  o.max_batch = max_batch;
  o.validation = true;
  return make_vulkan_backend(std::move(m), o);
}

void require_clean(const Backend& b) {
  const auto msgs = b.validation_messages();
  for (const auto& m : msgs) UNSCOPED_INFO(m);
  CHECK(msgs.empty());
}

std::size_t argmax(std::span<const float> v) { return std::max_element(v.begin(), v.end()) - v.begin(); }

struct Reference {
  std::vector<float> input;
  std::vector<std::vector<float>> logits;
};

Reference load_reference(const std::filesystem::path& shared, const std::string& prefix) {
  Reference r;
  for (const char* img : kImages) {
    const auto base = (shared / "reference" / (prefix + "__" + img)).string();
    auto x = test::read_f32(base + ".input_f32_3x224x224.bin", 3 * 224 * 224);
    r.input.insert(r.input.end(), x.begin(), x.end());
    r.logits.push_back(test::read_f32(base + ".logits_f32_1000.bin", 1000));
  }
  return r;
}

}  // namespace

TEST_CASE("Vulkan forward fp32 reproduces the reference logits of both shared models", "[engine][vulkan][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  for (const auto& [prefix, dir] : kModels) {
    auto model = std::make_shared<const Model>(Model::load(shared / "models" / dir));
    auto gpu = vulkan(model, false);
    const Reference ref = load_reference(shared, prefix);
    auto r = gpu->forward(ref.input, 4, {});
    for (int b = 0; b < 4; ++b) {
      const float diff = test::max_abs_diff(std::vector<float>(r.logits_of(b).begin(), r.logits_of(b).end()), ref.logits[b]);
      INFO(prefix << " / " << kImages[b] << ": max |logit diff| = " << diff);
      CHECK(diff < 1e-3f);
      CHECK(argmax(r.logits_of(b)) == argmax(ref.logits[b]));
      float s = 0;
      for (float p : r.probabilities_of(b)) s += p;
      CHECK(s == Approx(1.0f).margin(1e-4));
    }
    require_clean(*gpu);
  }
}

TEST_CASE("Vulkan forward fp16 stays within 5e-2 of the reference with the same top-1", "[engine][vulkan][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  {
    test::VkFixture probe;
    if (!probe.ctx.fp16_enabled()) {
      test::skip("this Vulkan device has no 16-bit storage buffers");
      return;
    }
  }
  for (const auto& [prefix, dir] : kModels) {
    auto model = std::make_shared<const Model>(Model::load(shared / "models" / dir));
    auto gpu = vulkan(model, true);
    CHECK(gpu->precision() == "fp16");
    const Reference ref = load_reference(shared, prefix);
    auto r = gpu->forward(ref.input, 4, {});
    for (int b = 0; b < 4; ++b) {
      const float diff = test::max_abs_diff(std::vector<float>(r.logits_of(b).begin(), r.logits_of(b).end()), ref.logits[b]);
      INFO(prefix << " / " << kImages[b] << ": fp16 max |logit diff| = " << diff);
      CHECK(diff < 5e-2f);
      CHECK(argmax(r.logits_of(b)) == argmax(ref.logits[b]));
    }
    require_clean(*gpu);
  }
}

TEST_CASE("Vulkan explain mode equals the CPU oracle's head-fused probabilities", "[engine][vulkan][explain]") {
  for (bool distilled : {false, true}) {
    auto model = std::make_shared<const Model>(Model::random(test::tiny_config(distilled, 48, 8, 24, 3, 3, 10), 5));
    auto cpu = make_cpu_backend(model);
    auto gpu = vulkan(model, false, 2);  // 3 images over 2 passes: also checks pass splitting
    const int B = 3;
    auto images = test::random_floats(std::size_t(B) * 3 * 48 * 48, 9);
    auto want = cpu->forward(images, B, {.explain = true});
    auto got = gpu->forward(images, B, {.explain = true});
    REQUIRE(got.attention.size() == want.attention.size());
    const float pdiff = test::max_abs_diff(got.attention, want.attention);
    const float ldiff = test::max_abs_diff(got.logits, want.logits);
    const float fdiff = test::max_abs_diff(got.features, want.features);
    INFO((distilled ? "distilled" : "plain") << ": probs " << pdiff << ", logits " << ldiff << ", features " << fdiff);
    CHECK(pdiff < 1e-5f);
    CHECK(ldiff < 1e-4f);
    CHECK(fdiff < 1e-4f);
    // Default mode writes no attention maps.
    CHECK(gpu->forward(images, B, {}).attention.empty());
    require_clean(*gpu);
  }
}
