// EVA-02 (timm's eva.py as the eva02_* names register it): random-weight models of each layout made by timm
// itself (tools/goldens/make_eva_goldens.py, tests/data/eva/README.md), loaded from the hub layout and run on the
// CPU and Vulkan backends against timm's logits, pre-logits features and attention; the checkpoints run at another
// input size (pos_embed resampled, rotary tables rebuilt); rollout over EVA's attention; random-weight models for
// `vitvk bench --arch`; malformed variants refused by name.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "engine/backend.hpp"
#include "explain/rollout.hpp"
#include "graph/graph.hpp"
#include "image/preprocess.hpp"
#include "support/test_data.hpp"
#include "support/vk_fixture.hpp"
#include "support/zoo_checks.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using test::ZooCase;

namespace {

std::filesystem::path eva_dir() { return std::filesystem::path(VITVK_SOURCE_DIR) / "tests" / "data" / "eva"; }

const char* const kCases[] = {"eva02_tiny",
                              "eva02_tiny_at56",
                              "eva02_small",
                              "eva02_base",
                              "eva02_base_at56",
                              "malformed_missing_q_bias",
                              "malformed_rope_grid",
                              "malformed_pos_embed_grid",
                              "malformed_glu_width",
                              "malformed_k_proj_bias",
                              "malformed_mlp_norm_partial"};

using test::batch_of;
using Loaded = test::LoadedCase;

Loaded load(const std::string& name) { return test::load_case(name, eva_dir()); }

void run_cpu(const std::string& name) {
  const Loaded l = load(name);
  test::check_preprocess(l);
  test::check_cpu_fp32(l);
}

void run_vulkan(const std::string& name) { test::check_vulkan_fp32(load(name)); }

void run_vulkan_fp16(const std::string& name) { test::check_vulkan_fp16(name, eva_dir()); }
void run_malformed(const std::string& name) { test::check_malformed(name, eva_dir()); }

// The timm layer widths of an eva02_* name, made small enough to run in a test (the layout switches kept).
ModelConfig small_config(const std::string& arch, int dim, int img) {
  ModelConfig c = config_for_architecture(arch);
  c.embed_dim = dim;
  c.depth = 2;
  c.num_classes = 7;
  c.img_size = img;
  c.preprocess.height = c.preprocess.width = img;
  return c;
}

}  // namespace

TEST_CASE("eva manifest: every case is registered here and its files exist", "[eva]") {
  const auto names = test::zoo_case_names(eva_dir());
  const std::set<std::string> manifest(names.begin(), names.end()), here(std::begin(kCases), std::end(kCases));
  CHECK(manifest.size() == names.size());
  CHECK(manifest == here);
  for (const auto& n : names) {
    const ZooCase c = test::zoo_case(n, eva_dir());
    CHECK((c.malformed || c.features.present()));
  }
}

#define EVA_CASE(name)                                                                                  \
  TEST_CASE("eva " name ": CPU fp32 equals timm", "[eva]") { run_cpu(name); }                          \
  TEST_CASE("eva " name ": Vulkan fp32 equals timm", "[eva][vulkan]") { run_vulkan(name); }            \
  TEST_CASE("eva " name ": Vulkan fp16 stays close to timm", "[eva][vulkan]") { run_vulkan_fp16(name); }
#define EVA_MALFORMED(name) \
  TEST_CASE("eva " name ": refused with a message naming the problem", "[eva]") { run_malformed(name); }

EVA_CASE("eva02_tiny")
EVA_CASE("eva02_tiny_at56")
EVA_CASE("eva02_small")
EVA_CASE("eva02_base")
EVA_CASE("eva02_base_at56")
EVA_MALFORMED("malformed_missing_q_bias")
EVA_MALFORMED("malformed_rope_grid")
EVA_MALFORMED("malformed_pos_embed_grid")
EVA_MALFORMED("malformed_glu_width")
EVA_MALFORMED("malformed_k_proj_bias")
EVA_MALFORMED("malformed_mlp_norm_partial")

TEST_CASE("eva: the layouts the loader read off the tensors", "[eva]") {
  const Loaded tiny = load("eva02_tiny"), base = load("eva02_base"), small = load("eva02_small");
  for (const Loaded* l : {&tiny, &base, &small}) {
    const ModelDims& d = l->model->dims;
    CHECK(d.family == ModelFamily::Eva);
    CHECK(d.prefix == 1);
    CHECK(l->model->weights.rope_sin.size() == std::size_t(d.num_patches) * d.head_dim);
    for (const BlockWeights& b : l->model->weights.blocks) {
      CHECK(b.qkv.out == 3 * d.dim);
      CHECK(b.fc1.out == 2 * d.mlp_hidden);  // gate and value
      // timm's k bias is a zero buffer: the fused bias's middle third is zero in both layouts.
      CHECK(std::all_of(b.qkv.bias.begin() + d.dim, b.qkv.bias.begin() + 2 * d.dim, [](float v) { return v == 0.f; }));
      CHECK(std::any_of(b.qkv.bias.begin(), b.qkv.bias.begin() + d.dim, [](float v) { return v != 0.f; }));
    }
  }
  CHECK(tiny.model->dims.heads == 3);  // from 'tiny'
  CHECK(small.model->dims.heads == 6);  // from 'small'
  CHECK(tiny.model->dims.pool == "avg");
  CHECK(!tiny.model->weights.fc_norm.weight.empty());
  CHECK(tiny.model->weights.norm.weight.empty());
  CHECK(tiny.model->weights.blocks[0].mlp_norm.weight.empty());
  CHECK(base.model->dims.pool == "token");
  CHECK(!base.model->weights.norm.weight.empty());
  CHECK(base.model->weights.blocks[0].mlp_norm.weight.size() == std::size_t(base.model->dims.mlp_hidden));
  CHECK(!small.model->weights.blocks[0].ls1.empty());  // gamma_1
  CHECK(small.model->dims.num_classes == 0);
  // The graph: a rope node before each block's attention, a GLU after each fc1, scale_mlp's norm before fc2.
  const graph::Graph g = graph::build(*base.model);
  int ropes = 0, glus = 0;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op == graph::Op::Rope) {
      ++ropes;
      CHECK(g.nodes[i + 1].op == graph::Op::Attention);
    }
    if (g.nodes[i].op == graph::Op::Glu) {
      ++glus;
      CHECK(g.nodes[i + 1].op == graph::Op::LayerNorm);
    }
  }
  CHECK(ropes == base.model->dims.depth);
  CHECK(glus == base.model->dims.depth);
}

TEST_CASE("eva: --img-size rebuilds the rotary tables and resamples pos_embed as timm does", "[eva]") {
  // Model::load(dir, 56) (vitvk --img-size 56) on the 42 px checkpoint equals timm's model built at 56 px.
  for (const char* name : {"eva02_tiny_at56", "eva02_base_at56"}) {
    const ZooCase c = test::zoo_case(name, eva_dir());
    auto model = std::make_shared<const Model>(Model::load(c.root / c.model_dir, 56));
    CHECK(model->dims.grid_h == 4);
    CHECK(model->weights.rope_sin.size() == std::size_t(16) * model->dims.head_dim);
    const auto r = make_cpu_backend(model)->forward(c.input, batch_of(c), {});
    const double d = test::max_rel_diff(r.logits, c.logits.values);
    INFO(name << " via Model::load(dir, 56): logits max |diff| / max |logit| vs timm " << d);
    CHECK(d <= c.fp32_rel);
  }
}

TEST_CASE("eva: rollout reads the class token or the patch mean as the model pools", "[eva][explain]") {
  // Rollout of vitvk's attention equals rollout of timm's (the same function over both), for the mean-pooled
  // tiny and the token-pooled base; and the two poolings give different maps.
  for (const char* name : {"eva02_tiny", "eva02_base"}) {
    const Loaded l = load(name);
    auto r = make_cpu_backend(l.model)->forward(l.c.input, batch_of(l.c), {.explain = true});
    ForwardResult theirs = r;
    theirs.attention = l.c.attn.values;
    for (int image = 0; image < batch_of(l.c); ++image)
      for (double discard : {0.0, 0.5}) {
        const RolloutOptions o{HeadFusion::Mean, discard};
        const RolloutMap ours = rollout(r, image, o, l.model->dims), want = rollout(theirs, image, o, l.model->dims);
        CHECK(ours.w == l.model->dims.grid_w);
        INFO(name << " image " << image << " discard " << discard);
        CHECK(test::max_abs_diff_d(ours.values, want.values) < 1e-3);
      }
    ModelDims other = l.model->dims;
    other.pool = other.pool == "avg" ? "token" : "avg";
    CHECK(test::max_abs_diff_d(rollout(r, 0, {}, other).values, rollout(r, 0, {}, l.model->dims).values) > 1e-3);
  }
}

TEST_CASE("eva: random weights for the eva02 names, both layouts, CPU and Vulkan agree", "[eva][vulkan]") {
  // tiny/small: fused qkv + packed SwiGLU; base/large: q/k/v apart + SwiGLU with its norm (from the name).
  for (const char* arch : {"eva02_tiny_patch14_224", "eva02_base_patch14_448"}) {
    const ModelConfig c = small_config(arch, 48, 70);
    auto model = std::make_shared<const Model>(Model::random(c, 3));
    const ModelDims& d = model->dims;
    INFO(arch);
    CHECK(d.family == ModelFamily::Eva);
    CHECK(d.tokens == 26);
    CHECK(d.mlp_hidden == 128);  // int(48 * 8 / 3)
    CHECK(model->weights.blocks[0].mlp_norm.weight.empty() == (std::string(arch).find("tiny") != std::string::npos));
    test::check_vulkan_matches_cpu(model, 2);
  }
  CHECK_THROWS_AS(config_for_architecture("eva02_huge_patch14_224"), Error);
}

TEST_CASE("eva: FLOP count and `vitvk bench --arch`", "[eva][cli]") {
  // eva02_tiny_patch14_224: 257 tokens of 192, SwiGLU hidden 512 (fc1 makes 1024), 12 blocks, 1000 classes.
  const ModelConfig c = config_for_architecture("eva02_tiny_patch14_224");
  CHECK(*c.embed_dim == 192);
  CHECK(c.num_heads == 3);
  const double n = 257, d = 192, h = 512;
  const double block = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * n * d * 2 * h + 2 * n * h * d;
  const double want = 2 * 256 * d * 3 * 14 * 14 + 12 * block + 2 * d * 1000;
  CHECK(test::bench_gflop_per_image("eva02_tiny_patch14_224") == Approx(want / 1e9).epsilon(1e-9));
}
