// The timm ViT zoo (issue 14): random-weight models of each VisionTransformer family made by timm itself
// (tools/goldens/make_vit_zoo_goldens.py, tests/data/zoo/README.md), loaded from the hub layout and run on the CPU
// and Vulkan backends against timm's logits, pre-logits features and attention; the preprocessing of the photos
// against timm's eval transform; malformed variants refused by name.
//
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "support/test_data.hpp"
#include "engine/backend.hpp"
#include "image/preprocess.hpp"
#include "support/vk_fixture.hpp"
#include "support/zoo_golden.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using test::ZooCase;

namespace {

// Every manifest case, as registered below (the coverage test checks that the two lists agree).
const char* const kCases[] = {
    "vit_augreg", "deit", "deit_distilled", "deit3", "deit3_model_args", "dinov2_at70", "dinov2_reg4",
    "dinov2_reg4_model_args", "dinov2_reg4_at70", "clip_laion", "clip_tower", "clip_openai", "clip_openai_model_args",
    "siglip", "siglip_model_args", "siglip_gap", "siglip_gap_tanh", "medium_gap", "betwixt_reg4_gap", "qknorm",
    "vit_augreg_f16", "vit_augreg_bf16", "malformed_reg_count", "malformed_attn_pool_token",
    "malformed_layer_scale_partial", "malformed_pos_embed_grid"};

struct Loaded {
  ZooCase c;
  std::shared_ptr<const Model> model;
};

Loaded load(const std::string& name) {
  Loaded l{test::zoo_case(name), nullptr};
  INFO(name << ": " << l.c.tests);
  l.model = std::make_shared<const Model>(test::load_zoo_model(l.c));
  return l;
}

int batch_of(const ZooCase& c) { return static_cast<int>(c.input_shape[0]); }

// vitvk reads pretrained_cfg as timm's resolve_data_config does, and its eval transform of the photos gives
// timm's input (decode + PIL-style resize + crop + normalise are exact where the geometry agrees: see
// tests/image/test_preprocess_shared.cpp).
void check_preprocess(const Loaded& l) {
  const PreprocessConfig& p = l.model->config.preprocess;
  const ZooCase& c = l.c;
  CHECK(p.height == c.pre_height);
  CHECK(p.width == c.pre_width);
  CHECK(p.crop_pct == Approx(c.pre_crop_pct));
  CHECK(p.interpolation == c.pre_interpolation);
  CHECK(p.crop_mode == c.pre_crop_mode);
  for (int i = 0; i < 3; ++i) {
    CHECK(p.mean[i] == Approx(c.pre_mean[i]));
    CHECK(p.std[i] == Approx(c.pre_std[i]));
  }
  const std::size_t per = static_cast<std::size_t>(3) * c.pre_height * c.pre_width;
  for (std::size_t i = 0; i < c.photos.size(); ++i) {
    const auto rgb = decode_image_file(std::filesystem::path(VITVK_SOURCE_DIR) / c.photos[i]);
    const auto ours = preprocess(rgb, p);
    const std::vector<float> theirs(c.input.begin() + static_cast<long>(i * per),
                                    c.input.begin() + static_cast<long>((i + 1) * per));
    const double d = test::max_abs_diff_d(ours, theirs);
    INFO(c.name << " " << c.photos[i] << ": preprocess max |diff| vs timm's transform " << d);
    CHECK(d <= c.preprocess_abs);
  }
}

// fp32: logits and features within fp32_rel of timm (max |diff| / max |value|), the same top-1, the explain
// attention (mean/max/min over heads per block) within attn_abs.
void check_fp32(const std::string& what, const ZooCase& c, Backend& b) {
  const auto r = b.forward(c.input, batch_of(c), {.explain = true});
  INFO(c.name << " on " << what << ": " << c.tests);
  if (c.logits.present()) {
    const double d = test::max_rel_diff(r.logits, c.logits.values);
    INFO("logits max |diff| / max |logit| vs timm " << d);
    CHECK(d <= c.fp32_rel);
    CHECK(test::argmax_rows(r.logits, c.num_classes) == c.top1);
  }
  {
    const double d = test::max_rel_diff(r.features, c.features.values);
    INFO("features (pre-logits) max |diff| / max |value| vs timm " << d);
    CHECK(d <= c.fp32_rel);
  }
  const std::size_t n = c.attn.values.size();
  REQUIRE(r.attention.size() >= n);  // the blocks first, in timm's [depth, batch, 3, tokens, tokens]
  const double da = test::max_abs_diff_d(std::vector<float>(r.attention.begin(), r.attention.begin() + long(n)),
                                         c.attn.values);
  INFO("attention (mean/max/min over heads) max |diff| vs timm " << da);
  CHECK(da <= c.attn_abs);
}

void run_cpu(const std::string& name) {
  const Loaded l = load(name);
  check_preprocess(l);
  auto cpu = make_cpu_backend(l.model);
  check_fp32("cpu", l.c, *cpu);
}

void require_clean(const Backend& b) {
  const auto msgs = b.validation_messages();
  for (const auto& m : msgs) UNSCOPED_INFO(m);
  CHECK(msgs.empty());
}

VulkanBackendOptions vulkan_options(const ZooCase& c, bool fp16) {
  VulkanBackendOptions o;
  o.validation = true;
  o.max_batch = batch_of(c);
  o.fp16 = fp16;
  return o;
}

void run_vulkan(const std::string& name) {
  const Loaded l = load(name);
  auto gpu = make_vulkan_backend(l.model, vulkan_options(l.c, false));
  check_fp32("vulkan fp32", l.c, *gpu);
  require_clean(*gpu);
}

// fp16 storage: logits and features within fp16_abs of timm, the same top-1 (the goldens' top-1 leads by >= 0.1).
void run_vulkan_fp16(const std::string& name) {
  {
    test::VkFixture probe;
    if (!probe.ctx.fp16_enabled()) {
      test::skip("this Vulkan device has no 16-bit storage buffers");
      return;
    }
  }
  const Loaded l = load(name);
  const ZooCase& c = l.c;
  auto gpu = make_vulkan_backend(l.model, vulkan_options(c, true));
  const auto r = gpu->forward(c.input, batch_of(c), {});
  INFO(c.name << " on vulkan fp16: " << c.tests);
  if (c.logits.present()) {
    const double d = test::max_abs_diff_d(r.logits, c.logits.values);
    INFO("fp16 logits max |diff| vs timm " << d);
    CHECK(d <= c.fp16_abs);
    CHECK(test::argmax_rows(r.logits, c.num_classes) == c.top1);
  }
  {
    const double d = test::max_abs_diff_d(r.features, c.features.values);
    INFO("fp16 features max |diff| vs timm " << d);
    CHECK(d <= c.fp16_abs);
  }
  require_clean(*gpu);
}

void run_malformed(const std::string& name) {
  const ZooCase c = test::zoo_case(name);
  INFO(name << ": " << c.tests);
  try {
    (void)test::load_zoo_model(c);
    FAIL("loaded without an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(e.code() == ErrorCode::ModelFormat);
    CHECK_THAT(msg, Catch::Contains("model.safetensors") || Catch::Contains("config.json"));  // names the file
    for (const auto& s : c.error_contains) CHECK_THAT(msg, Catch::Contains(s));
    if (!c.error_any.empty())
      CHECK(std::any_of(c.error_any.begin(), c.error_any.end(),
                        [&](const std::string& s) { return msg.find(s) != std::string::npos; }));
  }
}

}  // namespace

TEST_CASE("zoo manifest: every case is registered here and every input is timm's", "[zoo]") {
  const auto names = test::zoo_case_names();
  const std::set<std::string> manifest(names.begin(), names.end()), here(std::begin(kCases), std::end(kCases));
  CHECK(manifest.size() == names.size());  // no duplicates
  CHECK(manifest == here);
  for (const auto& n : names) {
    const ZooCase c = test::zoo_case(n);  // every listed file exists with the size its shape says
    CHECK((c.malformed || c.features.present()));
  }
}

// One case = three ctest tests: CPU fp32, Vulkan fp32, Vulkan fp16 (tags: all three, then fp16 only).
#define ZOO_CASE_TAGGED(name, tags, fp16_tags)                                                     \
  TEST_CASE("zoo " name ": CPU fp32 equals timm", "[zoo]" tags) { run_cpu(name); }                \
  TEST_CASE("zoo " name ": Vulkan fp32 equals timm", "[zoo][vulkan]" tags) { run_vulkan(name); }  \
  TEST_CASE("zoo " name ": Vulkan fp16 stays close to timm", "[zoo][vulkan]" tags fp16_tags) {    \
    run_vulkan_fp16(name);                                                                         \
  }
#define ZOO_CASE(name, tags) ZOO_CASE_TAGGED(name, tags, "")
#define ZOO_MALFORMED(name, tags) \
  TEST_CASE("zoo " name ": refused with a message naming the problem", "[zoo]" tags) { run_malformed(name); }

ZOO_CASE("vit_augreg", "")
ZOO_CASE("deit", "")
// D = 12: a distillation row at D * 2 bytes would bind misaligned in fp16 (the graph pads the rows the head reads).
ZOO_CASE("deit_distilled", "")
ZOO_CASE("vit_augreg_f16", "")
ZOO_CASE("vit_augreg_bf16", "")
ZOO_MALFORMED("malformed_pos_embed_grid", "")

ZOO_CASE("deit3", "")
ZOO_CASE("deit3_model_args", "")
ZOO_CASE("dinov2_at70", "")
ZOO_CASE("dinov2_reg4", "")
ZOO_CASE("dinov2_reg4_model_args", "")
ZOO_CASE("dinov2_reg4_at70", "")
ZOO_CASE("clip_laion", "")
ZOO_CASE("clip_tower", "")
ZOO_CASE("clip_openai", "")
ZOO_CASE("clip_openai_model_args", "")
ZOO_CASE("siglip", "")
ZOO_CASE("siglip_model_args", "")
ZOO_CASE("siglip_gap", "")
ZOO_CASE("siglip_gap_tanh", "")
ZOO_CASE("medium_gap", "")
ZOO_CASE("betwixt_reg4_gap", "")
ZOO_CASE("qknorm", "")
ZOO_MALFORMED("malformed_reg_count", "")
ZOO_MALFORMED("malformed_attn_pool_token", "")
ZOO_MALFORMED("malformed_layer_scale_partial", "")

TEST_CASE("zoo deit_distilled: the embedding is timm's pre_logits, (cls + dist) / 2", "[zoo]") {
  const Loaded l = load("deit_distilled");
  const auto r = make_cpu_backend(l.model)->forward(l.c.input, batch_of(l.c), {});
  const double d = test::max_rel_diff(r.features, l.c.features.values);
  INFO("features max |diff| / max |value| vs timm's forward_head(pre_logits=True) " << d);
  CHECK(d <= l.c.fp32_rel);
}
