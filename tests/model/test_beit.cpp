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
#include "model/config.hpp"
#include "support/test_data.hpp"
#include "explain/rollout.hpp"
#include "model/load_beit.hpp"
#include "support/vk_fixture.hpp"
#include "support/zoo_checks.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using test::ZooCase;

namespace {

std::filesystem::path beit_dir() { return std::filesystem::path(VITVK_SOURCE_DIR) / "tests" / "data" / "beit"; }

const char* const kCases[] = {"beit_base",       "beit_base_model_args",    "beit_base_at48",
                              "beitv2_base",     "beit_shared_abs",         "beit_shared_abs_at32",
                              "malformed_table_size", "malformed_gamma_partial", "malformed_heads_args"};

using test::batch_of;
using Loaded = test::LoadedCase;

Loaded load(const std::string& name) { return test::load_case(name, beit_dir()); }

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
  check_rollout(l, test::check_cpu_fp32(l));
}

void run_vulkan(const std::string& name) {
  const Loaded l = load(name);
  check_rollout(l, test::check_vulkan_fp32(l));
}

void run_vulkan_fp16(const std::string& name) { test::check_vulkan_fp16(name, beit_dir()); }
void run_malformed(const std::string& name) { test::check_malformed(name, beit_dir()); }
using test::read_f32;  // support/test_data.hpp

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

TEST_CASE("beit: random weights for the beit names, CPU and Vulkan agree", "[beit][vulkan]") {
  for (const char* arch : {"beit_base_patch16_224", "beitv2_base_patch16_224"}) {
    ModelConfig c = config_for_architecture(arch);
    INFO(arch);
    CHECK(c.family == ModelFamily::BEiT);
    CHECK(c.num_heads == 12);
    CHECK(c.preprocess.mean[0] == (std::string(arch).starts_with("beitv2") ? 0.485f : 0.5f));
    c.embed_dim = 48;  // 12 heads of 4
    c.depth = 2;
    c.num_classes = 7;
    c.img_size = 48;
    c.preprocess.height = c.preprocess.width = 48;
    auto model = std::make_shared<const Model>(Model::random(c, 5));
    const ModelDims& d = model->dims;
    CHECK(d.family == ModelFamily::BEiT);
    CHECK(d.tokens == 10);
    CHECK(d.pool == "avg");
    REQUIRE(model->weights.blocks.size() == 2);
    CHECK(model->weights.blocks[0].rel_pos_bias.size() == std::size_t(12) * 10 * 10);  // [heads, tokens, tokens]
    CHECK_FALSE(model->weights.blocks[0].ls1.empty());
    test::check_vulkan_matches_cpu(model, 2);
  }
  CHECK_THROWS_AS(config_for_architecture("beit_huge_patch16_224"), Error);
  CHECK_THROWS_AS(config_for_architecture("beitv2_base_patch14_224"), Error);
  CHECK_THROWS_AS(config_for_architecture("beitv2_base_patch16_384"), Error);  // not one of timm's names
  CHECK_THROWS_AS(config_for_architecture("beit_base_patch16_512"), Error);
  const ModelConfig large = config_for_architecture("beit_large_patch16_512");
  CHECK(*large.embed_dim == 1024);
  CHECK(*large.img_size == 512);
  CHECK(large.preprocess.crop_pct == 1.0f);
}

TEST_CASE("beit: FLOP count and `vitvk bench --arch`", "[beit][cli]") {
  // beit_base_patch16_224: 197 tokens of 768, MLP 3072, 12 blocks, 1000 classes (the bias add is not a FLOP count
  // term, as in timm's and fvcore's counts).
  const double n = 197, d = 768, h = 3072;
  const double block = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * n * d * h + 2 * n * h * d;
  const double want = 2 * 196 * d * 3 * 16 * 16 + 12 * block + 2 * d * 1000;
  CHECK(test::bench_gflop_per_image("beit_base_patch16_224") == Approx(want / 1e9).epsilon(1e-9));
}
