// GFNet end to end: the tiny random-weight GFNets of tests/data/gfnet (tools/goldens/make_gfnet_goldens.py) through
// the CPU and Vulkan backends against PyTorch's logits.
#include <catch2/catch.hpp>

#include "engine/backend.hpp"
#include "support/test_data.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

const std::filesystem::path kDir = std::filesystem::path(VITVK_SOURCE_DIR) / "tests" / "data" / "gfnet";

struct Golden {
  std::shared_ptr<const Model> model;
  std::vector<float> images, logits;
  int batch = 2;
};

Golden load_golden(const std::string& name) {
  Golden g;
  g.model = std::make_shared<const Model>(Model::load(kDir / name));
  const ModelDims& d = g.model->dims;
  const std::string in = "inputs_f32_" + std::to_string(g.batch) + "x3x" + std::to_string(d.img_h) + "x" +
                         std::to_string(d.img_w) + ".bin";
  g.images = test::read_f32(kDir / name / in, std::size_t(g.batch) * 3 * d.img_h * d.img_w);
  g.logits = test::read_f32(kDir / name / ("logits_f32_" + std::to_string(g.batch) + "x" +
                                           std::to_string(d.num_classes) + ".bin"),
                            std::size_t(g.batch) * d.num_classes);
  return g;
}

const char* kModels[] = {"gfnet_tiny_even", "gfnet_tiny_odd"};

void expect_no_explain(Backend& b, const Golden& g) {
  try {
    (void)b.forward(g.images, g.batch, {.explain = true});
    FAIL("explain mode ran on a GFNet");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Unsupported);
    CHECK_THAT(e.what(), Catch::Contains("GFNet") && Catch::Contains("attention"));
  }
}

}  // namespace

TEST_CASE("GFNet CPU forward reproduces PyTorch's logits on the tiny goldens", "[engine][gfnet]") {
  for (const char* name : kModels) {
    const Golden g = load_golden(name);
    CHECK(g.model->dims.family == ModelFamily::GFNet);
    auto cpu = make_cpu_backend(g.model);
    const auto r = cpu->forward(g.images, g.batch, {});
    const float diff = test::max_abs_diff(r.logits, g.logits);
    INFO(name << ": max |logit diff| vs PyTorch " << diff);
    CHECK(diff < 1e-4f);
    CHECK(r.features.size() == std::size_t(g.batch) * g.model->dims.dim);
    float s = 0;
    for (float p : r.probabilities_of(0)) s += p;
    CHECK(s == Approx(1.0f).margin(1e-5));
    expect_no_explain(*cpu, g);
  }
}

TEST_CASE("GFNet Vulkan forward (VkFFT and dense-DFT filters) reproduces PyTorch's logits", "[engine][vulkan][gfnet]") {
  for (const char* name : kModels) {
    const Golden g = load_golden(name);
    const auto want = make_cpu_backend(g.model)->forward(g.images, g.batch, {});
    for (const char* impl : {"fft", "dft"}) {
      for (int max_batch : {2, 1}) {  // 1: two passes, each with its own plan batch size
        VulkanBackendOptions o;
        o.validation = true;
        o.max_batch = max_batch;
        o.filter_impl = impl;
        auto gpu = make_vulkan_backend(g.model, o);
        const auto r = gpu->forward(g.images, g.batch, {});
        const float diff = test::max_abs_diff(r.logits, g.logits);
        const float fdiff = test::max_abs_diff(r.features, want.features);
        INFO(name << " " << impl << " max_batch " << max_batch << ": max |logit diff| vs PyTorch " << diff
                  << ", features vs CPU " << fdiff);
        CHECK(diff < 1e-3f);
        CHECK(fdiff < 1e-4f);
        if (max_batch == 2) expect_no_explain(*gpu, g);
        const auto msgs = gpu->validation_messages();
        for (const auto& m : msgs) UNSCOPED_INFO(m);
        CHECK(msgs.empty());
      }
    }
  }
}

TEST_CASE("GFNet Vulkan forward in fp16 storage stays close to PyTorch", "[engine][vulkan][gfnet]") {
  {
    test::VkFixture probe;
    if (!probe.ctx.fp16_enabled()) {
      test::skip("this Vulkan device has no 16-bit storage buffers");
      return;
    }
  }
  const Golden g = load_golden("gfnet_tiny_even");
  VulkanBackendOptions o;
  o.validation = true;
  o.fp16 = true;
  auto gpu = make_vulkan_backend(g.model, o);
  const auto r = gpu->forward(g.images, g.batch, {});
  const float diff = test::max_abs_diff(r.logits, g.logits);
  INFO("fp16 max |logit diff| " << diff);
  CHECK(diff < 5e-2f);
  CHECK(gpu->validation_messages().empty());
}
