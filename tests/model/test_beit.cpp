// BEiT / BEiT-v2 (issue 19): random-weight models made by timm itself (tools/goldens/make_beit_goldens.py,
// tests/data/beit) loaded from the hub layout and run on the CPU and Vulkan backends against timm's logits,
// pre-logits features and attention probabilities (which include the relative position bias); checkpoints run at
// another input size through timm's table resize; the table resize itself against timm's; malformed checkpoints
// refused by name; rollout over BEiT's maps as over ViT's.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/backend.hpp"
#include "support/test_data.hpp"
#include "explain/rollout.hpp"
#include "model/load_beit.hpp"
#include "support/vk_fixture.hpp"
#include "support/zoo_golden.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using test::ZooCase;

namespace {

std::filesystem::path beit_dir() { return std::filesystem::path(VITVK_SOURCE_DIR) / "tests" / "data" / "beit"; }

const char* const kCases[] = {"beit_base",       "beit_base_model_args",    "beit_base_at48",
                              "beitv2_base",     "beit_shared_abs",         "beit_shared_abs_at32",
                              "malformed_table_size", "malformed_gamma_partial", "malformed_heads_args"};

struct Loaded {
  ZooCase c;
  std::shared_ptr<const Model> model;
};

Loaded load(const std::string& name) {
  Loaded l{test::zoo_case(name, beit_dir()), nullptr};
  INFO(name << ": " << l.c.tests);
  l.model = std::make_shared<const Model>(test::load_zoo_model(l.c));
  return l;
}

int batch_of(const ZooCase& c) { return static_cast<int>(c.input_shape[0]); }

// Logits and features within fp32_rel of timm (max |diff| / max |value|), the same top-1, the explain maps (the
// probabilities after the bias, fused over heads per block) within attn_abs; returns the result for rollout.
ForwardResult check_fp32(const std::string& what, const ZooCase& c, Backend& b) {
  auto r = b.forward(c.input, batch_of(c), {.explain = true});
  INFO(c.name << " on " << what << ": " << c.tests);
  const double dl = test::max_rel_diff(r.logits, c.logits.values);
  INFO("logits max |diff| / max |logit| vs timm " << dl);
  CHECK(dl <= c.fp32_rel);
  CHECK(test::argmax_rows(r.logits, c.num_classes) == c.top1);
  const double df = test::max_rel_diff(r.features, c.features.values);
  INFO("features max |diff| / max |value| vs timm " << df);
  CHECK(df <= c.fp32_rel);
  REQUIRE(r.attention.size() == c.attn.values.size());
  const double da = test::max_abs_diff_d(r.attention, c.attn.values);
  INFO("attention max |diff| vs timm " << da);
  CHECK(da <= c.attn_abs);
  WARN(c.name << " " << what << ": logits rel diff " << dl << ", features " << df << ", attention abs " << da);
  return r;
}

// Rollout over the backend's maps equals rollout over timm's own probabilities (the same function on both).
void check_rollout(const Loaded& l, const ForwardResult& ours) {
  ForwardResult theirs = ours;
  theirs.attention = l.c.attn.values;
  // No discard ratio: its threshold between near-equal weights could pick either side (tested on ViT's maps).
  for (int image = 0; image < ours.batch; ++image) {
    const RolloutOptions o{HeadFusion::Mean, 0.0};
    const RolloutMap a = rollout(ours, image, o, l.model->dims), b = rollout(theirs, image, o, l.model->dims);
    REQUIRE(a.w == l.model->dims.grid_w);
    REQUIRE(a.h == l.model->dims.grid_h);
    CHECK(*std::max_element(a.values.begin(), a.values.end()) == Approx(1.0));
    const double d = test::max_abs_diff_d(a.values, b.values);
    INFO("rollout max |diff| vs rollout of timm's maps " << d);
    CHECK(d < 1e-3);
  }
}

void run_cpu(const std::string& name) {
  const Loaded l = load(name);
  auto cpu = make_cpu_backend(l.model);
  check_rollout(l, check_fp32("cpu", l.c, *cpu));
}

VulkanBackendOptions vulkan_options(const ZooCase& c, bool fp16) {
  VulkanBackendOptions o;
  o.validation = true;
  o.max_batch = batch_of(c);
  o.fp16 = fp16;
  return o;
}

void require_clean(const Backend& b) {
  const auto msgs = b.validation_messages();
  for (const auto& m : msgs) UNSCOPED_INFO(m);
  CHECK(msgs.empty());
}

void run_vulkan(const std::string& name) {
  const Loaded l = load(name);
  auto gpu = make_vulkan_backend(l.model, vulkan_options(l.c, false));
  check_rollout(l, check_fp32("vulkan fp32", l.c, *gpu));
  require_clean(*gpu);
}

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
  const double dl = test::max_abs_diff_d(r.logits, c.logits.values), df = test::max_abs_diff_d(r.features, c.features.values);
  INFO("fp16 logits max |diff| vs timm " << dl << ", features " << df);
  CHECK(dl <= c.fp16_abs);
  CHECK(df <= c.fp16_abs);
  CHECK(test::argmax_rows(r.logits, c.num_classes) == c.top1);
  WARN(c.name << " vulkan fp16: logits abs diff " << dl << ", features " << df);
  require_clean(*gpu);
}

void run_malformed(const std::string& name) {
  const ZooCase c = test::zoo_case(name, beit_dir());
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

std::vector<float> read_f32(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  REQUIRE(f);
  f.seekg(0, std::ios::end);
  std::vector<float> v(static_cast<std::size_t>(f.tellg()) / 4);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  return v;
}

}  // namespace

TEST_CASE("beit manifest: every case is registered here", "[beit]") {
  const auto names = test::zoo_case_names(beit_dir());
  const std::set<std::string> manifest(names.begin(), names.end()), here(std::begin(kCases), std::end(kCases));
  CHECK(manifest.size() == names.size());
  CHECK(manifest == here);
  for (const auto& n : names) {
    const ZooCase c = test::zoo_case(n, beit_dir());
    CHECK((c.malformed || c.features.present()));
  }
}

#define BEIT_CASE(name)                                                                                      \
  TEST_CASE("beit " name ": CPU fp32 equals timm", "[beit]") { run_cpu(name); }                             \
  TEST_CASE("beit " name ": Vulkan fp32 equals timm", "[beit][vulkan]") { run_vulkan(name); }               \
  TEST_CASE("beit " name ": Vulkan fp16 stays close to timm", "[beit][vulkan]") { run_vulkan_fp16(name); }
#define BEIT_MALFORMED(name) \
  TEST_CASE("beit " name ": refused with a message naming the problem", "[beit]") { run_malformed(name); }

BEIT_CASE("beit_base")
BEIT_CASE("beit_base_model_args")
BEIT_CASE("beit_base_at48")
BEIT_CASE("beitv2_base")
BEIT_CASE("beit_shared_abs")
BEIT_CASE("beit_shared_abs_at32")
BEIT_MALFORMED("malformed_table_size")
BEIT_MALFORMED("malformed_gamma_partial")
BEIT_MALFORMED("malformed_heads_args")

TEST_CASE("beit: the relative position table resize equals timm's resize_rel_pos_bias_table", "[beit]") {
  const nlohmann::json manifest = nlohmann::json::parse(std::ifstream(beit_dir() / "manifest.json"));
  REQUIRE(manifest.at("table_resize").size() >= 4);
  for (const auto& t : manifest.at("table_resize")) {
    const std::string name = t.at("name");
    INFO(name);
    const int heads = t.at("heads"), src = t.at("src_side"), dh = t.at("dst_h"), dw = t.at("dst_w");
    const auto in = read_f32(beit_dir() / t.at("input").get<std::string>());
    const auto want = read_f32(beit_dir() / t.at("expected").get<std::string>());
    const auto got = resize_relative_position_table(in, heads, src, dh, dw);
    const double d = test::max_abs_diff_d(got, want);
    INFO("max |diff| vs timm " << d);
    CHECK(d < 1e-5);
  }
}

TEST_CASE("beit: relative position index follows timm's layout", "[beit]") {
  // 2 x 3 grid: 7 tokens, offsets (2*2-1) x (2*3-1) = 15, then class-to-patch 15, patch-to-class 16, class-class 17.
  const auto idx = beit_relative_position_index(2, 3);
  REQUIRE(idx.size() == 49u);
  CHECK(idx[0] == 17);
  CHECK(idx[1] == 15);            // class query, first patch key
  CHECK(idx[7] == 16);            // first patch query, class key
  CHECK(idx[1 * 7 + 1] == 7);     // same patch: offset (0, 0) = (1, 2) in the 3 x 5 offset grid
  CHECK(idx[1 * 7 + 6] == 0 * 5 + 0);   // patch (0,0) to patch (1,2): offset (-1, -2) + (1, 2) = (0, 0)
  CHECK(idx[6 * 7 + 1] == 2 * 5 + 4);   // patch (1,2) to patch (0,0): offset (1, 2) + (1, 2) = (2, 4)
}
