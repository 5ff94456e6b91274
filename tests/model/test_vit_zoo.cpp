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
#include "support/zoo_checks.hpp"
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

using test::batch_of;
using Loaded = test::LoadedCase;

Loaded load(const std::string& name) { return test::load_case(name); }

void run_cpu(const std::string& name) {
  const Loaded l = load(name);
  test::check_preprocess(l);
  test::check_cpu_fp32(l);
}

void run_vulkan(const std::string& name) { test::check_vulkan_fp32(load(name)); }

void run_vulkan_fp16(const std::string& name) { test::check_vulkan_fp16(name); }
void run_malformed(const std::string& name) { test::check_malformed(name); }

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
