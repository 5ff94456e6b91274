// Swin Transformer v1 (issue 19): random-weight models made by timm itself (tools/goldens/make_swin_goldens.py,
// tests/data/swin/) loaded from the hub layout: the stage plan the loader decides (feature maps, windows clipped
// where a stage's map is smaller, shifts) equals the one timm's blocks ran with, malformed checkpoints are refused
// by name, there are no attention maps to roll out, and the FLOP count counts windows.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <set>

#include "model/config.hpp"
#include "pipeline/classify.hpp"
#include "support/test_data.hpp"
#include "support/zoo_golden.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using test::ZooCase;

namespace {

std::filesystem::path swin_dir() { return std::filesystem::path(VITVK_SOURCE_DIR) / "tests" / "data" / "swin"; }

const char* const kCases[] = {"swin_t_48",         "swin_t_56",          "swin_t_56_at60",
                              "swin_b_w12_96",     "malformed_bias_table_size", "malformed_stage_count",
                              "malformed_stage_depth"};

struct Loaded {
  ZooCase c;
  std::shared_ptr<const Model> model;
};

Loaded load(const std::string& name) {
  Loaded l{test::zoo_case(name, swin_dir()), nullptr};
  l.model = std::make_shared<const Model>(test::load_zoo_model(l.c));
  return l;
}

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

void run_malformed(const std::string& name) {
  const ZooCase c = test::zoo_case(name, swin_dir());
  INFO(name << ": " << c.tests);
  try {
    (void)test::load_zoo_model(c);
    FAIL("loaded without an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(e.code() == ErrorCode::ModelFormat);
    CHECK_THAT(msg, Catch::Contains("model.safetensors") || Catch::Contains("config.json"));
    for (const auto& s : c.error_contains) CHECK_THAT(msg, Catch::Contains(s));
    if (!c.error_any.empty())
      CHECK(std::any_of(c.error_any.begin(), c.error_any.end(),
                        [&](const std::string& s) { return msg.find(s) != std::string::npos; }));
  }
}

}  // namespace

TEST_CASE("swin manifest: every case is registered here", "[swin]") {
  const auto names = test::zoo_case_names(swin_dir());
  const std::set<std::string> manifest(names.begin(), names.end()), here(std::begin(kCases), std::end(kCases));
  CHECK(manifest == here);
}

#define SWIN_CASE(name) \
  TEST_CASE("swin " name ": the stage plan is timm's", "[swin]") { check_stage_plan(name); }
#define SWIN_MALFORMED(name) \
  TEST_CASE("swin " name ": refused with a message naming the problem", "[swin]") { run_malformed(name); }

SWIN_CASE("swin_t_48")
SWIN_CASE("swin_t_56")
SWIN_CASE("swin_t_56_at60")
SWIN_CASE("swin_b_w12_96")
SWIN_MALFORMED("malformed_bias_table_size")
SWIN_MALFORMED("malformed_stage_count")
SWIN_MALFORMED("malformed_stage_depth")

TEST_CASE("swin: no attention maps to roll out", "[swin]") {
  const Loaded l = load("swin_t_48");
  CHECK_FALSE(pipeline::has_attention_maps(*l.model));
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
