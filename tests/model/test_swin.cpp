// Swin Transformer v1 (issue 19): random-weight models made by timm itself (tools/goldens/make_swin_goldens.py,
// tests/data/swin/) loaded from the hub layout and run on the CPU and Vulkan backends against timm's logits and
// pre-logits features: a last stage whose window timm clips to the feature map, a shifted stage padded to whole
// windows, an input-size override that pads the merge, and window 12 at a scaled-down 384 geometry. Also: the
// stage plan the loader decides equals timm's, malformed checkpoints are refused by name, explain mode is refused
// (no global attention), and the FLOP count counts windows.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>

#include "engine/backend.hpp"
#include "graph/graph.hpp"
#include "model/config.hpp"
#include "pipeline/classify.hpp"
#include "support/test_data.hpp"
#include "support/vk_fixture.hpp"
#include "support/zoo_checks.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using test::ZooCase;

namespace {

std::filesystem::path swin_dir() { return std::filesystem::path(VITVK_SOURCE_DIR) / "tests" / "data" / "swin"; }

const char* const kCases[] = {"swin_t_48",         "swin_t_56",          "swin_t_56_at60",
                              "swin_b_w12_96",     "malformed_bias_table_size", "malformed_stage_count",
                              "malformed_stage_depth"};

using test::batch_of;
using Loaded = test::LoadedCase;

Loaded load(const std::string& name) { return test::load_case(name, swin_dir()); }

void run_cpu(const std::string& name) {
  const Loaded l = load(name);
  test::check_preprocess(l);
  test::check_cpu_fp32(l);
}

void run_vulkan(const std::string& name) { test::check_vulkan_fp32(load(name)); }

void run_vulkan_fp16(const std::string& name) { test::check_vulkan_fp16(name, swin_dir()); }
void run_malformed(const std::string& name) { test::check_malformed(name, swin_dir()); }

// The feature map, window and shift of every stage as timm's blocks ran them (recorded by the generator).
void check_stage_plan(const std::string& name) {
  const Loaded l = load(name);
  std::ifstream in(swin_dir() / "manifest.json");
  const auto m = nlohmann::json::parse(in);
  for (const auto& j : m.at("cases")) {
    if (j.at("name") != name) continue;
    const auto& plan = j.at("stages");
    REQUIRE(plan.size() == l.model->dims.stages.size());
    for (std::size_t s = 0; s < plan.size(); ++s) {
      const SwinStageDims& sd = l.model->dims.stages[s];
      INFO(name << " stage " << s);
      CHECK(plan[s].at("feature") == std::vector<int>{sd.height, sd.width});
      CHECK(plan[s].at("window") == std::vector<int>{sd.window_h, sd.window_w});
      CHECK(plan[s].at("shift") == std::vector<int>{sd.shift_h, sd.shift_w});
      CHECK(plan[s].at("depth") == sd.depth);
      CHECK(plan[s].at("heads") == sd.heads);
    }
    return;
  }
  FAIL("no manifest case " << name);
}

}  // namespace

TEST_CASE("swin manifest: every case is registered here", "[swin]") {
  const auto names = test::zoo_case_names(swin_dir());
  const std::set<std::string> manifest(names.begin(), names.end()), here(std::begin(kCases), std::end(kCases));
  CHECK(manifest == here);
}

#define SWIN_CASE(name)                                                                                  \
  TEST_CASE("swin " name ": the stage plan is timm's", "[swin]") { check_stage_plan(name); }            \
  TEST_CASE("swin " name ": CPU fp32 equals timm", "[swin]") { run_cpu(name); }                         \
  TEST_CASE("swin " name ": Vulkan fp32 equals timm", "[swin][vulkan]") { run_vulkan(name); }           \
  TEST_CASE("swin " name ": Vulkan fp16 stays close to timm", "[swin][vulkan]") { run_vulkan_fp16(name); }
#define SWIN_MALFORMED(name) \
  TEST_CASE("swin " name ": refused with a message naming the problem", "[swin]") { run_malformed(name); }

SWIN_CASE("swin_t_48")
SWIN_CASE("swin_t_56")
SWIN_CASE("swin_t_56_at60")
SWIN_CASE("swin_b_w12_96")
SWIN_MALFORMED("malformed_bias_table_size")
SWIN_MALFORMED("malformed_stage_count")
SWIN_MALFORMED("malformed_stage_depth")

TEST_CASE("swin: the permutations are graph ops, explain mode is refused", "[swin]") {
  const Loaded l = load("swin_t_48");
  const graph::Graph g = graph::build(*l.model);
  int windows = 0, attention = 0;
  for (const auto& n : g.nodes) {
    windows += n.op == graph::Op::Window;
    attention += n.op == graph::Op::Attention;
  }
  // Per block a partition and a reverse; per stage after the first a merge (3 stages of 2 blocks).
  CHECK(attention == 6);
  CHECK(windows == 2 * 6 + 2);
  CHECK(g.layers == 0);
  CHECK_FALSE(l.model->has_attention_maps());
  auto cpu = make_cpu_backend(l.model);
  try {
    (void)cpu->forward(l.c.input, batch_of(l.c), {.explain = true});
    FAIL("explain ran");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Unsupported);
    CHECK_THAT(std::string(e.what()), Catch::Contains("window"));
  }
}

TEST_CASE("swin: FLOPs count window attention, not the map's tokens squared", "[swin]") {
  const Model m = Model::random(config_for_architecture("swin_tiny_patch4_window7_224"), 1);
  REQUIRE(m.dims.stages.size() == 4);
  CHECK(m.dims.stages[3].height == 7);
  CHECK(m.dims.stages[3].window_h == 7);
  CHECK(m.dims.stages[3].shift_h == 0);
  // timm / the Swin paper: 4.5 G multiply-adds for Swin-T at 224 (about 9.0 GFLOP counted as 2 per MAC); an N^2
  // count over stage 0's 3136 tokens would add about 2.7 GFLOP more.
  const double f = m.dims.flops_per_image();
  CHECK(f > 8.5e9);
  CHECK(f < 9.5e9);
}
