// GFNet configs and checkpoints: named sizes, model_args, official tensor names, clear errors.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/model.hpp"
#include "model/safetensors.hpp"
#include "support/test_data.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using json = nlohmann::json;

namespace {

ModelConfig tiny_gfnet(int img = 32, int patch = 8, int dim = 16, int depth = 2) {
  ModelConfig c = parse_model_config(json{{"architecture", "gfnet_test"},
                                          {"num_classes", 7},
                                          {"model_args",
                                           {{"img_size", img}, {"patch_size", patch}, {"embed_dim", dim},
                                            {"depth", depth}, {"mlp_ratio", 3.0}}}}
                                         .dump(),
                                     "<test>");
  return c;
}

void expect_error(const std::function<void()>& f, ErrorCode code, const std::string& needle) {
  try {
    f();
    FAIL("no error; expected: " << needle);
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.code() == code);
    CHECK_THAT(e.what(), Catch::Contains(needle));
  }
}

}  // namespace

TEST_CASE("GFNet named sizes fill in model_args", "[model][gfnet]") {
  struct Named {
    const char* name;
    int dim, depth;
  };
  for (Named n : {Named{"gfnet_ti", 256, 12}, Named{"gfnet_xs", 384, 12}, Named{"gfnet_s", 384, 19},
                  Named{"gfnet_b", 512, 19}, Named{"gfnet-xs", 384, 12}}) {
    const ModelConfig c = parse_model_config(json{{"architecture", n.name}}.dump(), "<test>");
    CHECK(c.family == ModelFamily::GFNet);
    CHECK(c.embed_dim == n.dim);
    CHECK(c.depth == n.depth);
    CHECK(c.patch_size == 16);
    CHECK(c.mlp_ratio == 4.0);
    CHECK_FALSE(c.class_token);
    CHECK(c.global_pool == "avg");
    CHECK(c.preprocess.height == 224);
    const ModelConfig r = config_for_architecture(n.name);
    CHECK(r.embed_dim == n.dim);
    CHECK(r.img_size == 224);
  }
  // model_args win over the name; a size suffix sets the input.
  const ModelConfig c = parse_model_config(
      json{{"architecture", "gfnet_ti"}, {"model_args", {{"depth", 4}, {"embed_dim", 64}}}}.dump(), "<test>");
  CHECK(c.depth == 4);
  CHECK(c.embed_dim == 64);
  CHECK(config_for_architecture("gfnet_xs_384").img_size == 384);
  CHECK(config_for_architecture("gfnet_xs_384").preprocess.width == 384);
  expect_error([] { (void)config_for_architecture("gfnet_huge"); }, ErrorCode::InvalidArgument, "GFNet sizes");
  expect_error([] { (void)parse_model_config(R"({"architecture": "gfnet-h-ti"})", "cfg.json"); }, ErrorCode::ModelFormat,
               "hierarchical");
  expect_error([] { (void)parse_model_config(R"({"architecture": "gfnet_ti", "model_args": {"global_pool": "token"}})",
                                             "cfg.json"); },
               ErrorCode::ModelFormat, "global_pool");
}

TEST_CASE("a random GFNet has the official tensor names and saves and loads back identically", "[model][gfnet]") {
  test::TempDir tmp;
  const Model m = Model::random(tiny_gfnet(), 3);
  CHECK(m.dims.family == ModelFamily::GFNet);
  CHECK(m.dims.grid_h == 4);
  CHECK(m.dims.tokens == 16);
  CHECK(m.dims.prefix == 0);
  CHECK(m.dims.mlp_hidden == 48);
  CHECK(m.gfnet.blocks.at(1).filter.size() == std::size_t(4) * 3 * 16 * 2);
  m.save(tmp.path());
  const Model back = Model::load(tmp.path());
  CHECK(back.dims.family == ModelFamily::GFNet);
  CHECK(back.gfnet.blocks.at(1).filter == m.gfnet.blocks.at(1).filter);
  CHECK(back.gfnet.blocks.at(0).fc2.weight == m.gfnet.blocks.at(0).fc2.weight);
  CHECK(back.gfnet.pos_embed == m.gfnet.pos_embed);
  CHECK(back.gfnet.head.bias == m.gfnet.head.bias);
  const auto st = SafeTensors::open(tmp.path() / "model.safetensors");
  for (const char* name : {"patch_embed.proj.weight", "pos_embed", "blocks.0.norm1.weight", "blocks.1.filter.complex_weight",
                           "blocks.0.norm2.bias", "blocks.1.mlp.fc1.weight", "blocks.1.mlp.fc2.bias", "norm.weight",
                           "head.weight"})
    CHECK(st.find(name) != nullptr);
  CHECK(st.find("cls_token") == nullptr);
  CHECK(st.find("pos_embed")->shape == std::vector<int64_t>{1, 16, 16});
  CHECK(back.dims.flops_per_image() > 0);
}

TEST_CASE("GFNet checkpoints that do not fit the config fail naming the tensor", "[model][gfnet]") {
  test::TempDir tmp;
  Model::random(tiny_gfnet(), 4).save(tmp.path());
  const auto cfg = tmp.path() / "config.json";
  auto rewrite = [&](const json& patch) {
    json j = json::parse(std::ifstream(cfg));
    j.merge_patch(patch);
    std::ofstream(cfg) << j.dump();
  };
  // Another input size: the token grid (pos_embed, the filters) no longer matches.
  rewrite({{"model_args", {{"img_size", 40}}}, {"pretrained_cfg", {{"input_size", {3, 40, 40}}}}});
  expect_error([&] { (void)Model::load(tmp.path()); }, ErrorCode::ModelFormat, "pos_embed");
  rewrite({{"model_args", {{"img_size", 32}}}, {"pretrained_cfg", {{"input_size", {3, 32, 32}}}}});
  CHECK_NOTHROW(Model::load(tmp.path()));
  rewrite({{"model_args", {{"mlp_ratio", 4.0}}}});
  expect_error([&] { (void)Model::load(tmp.path()); }, ErrorCode::ModelFormat, "mlp_ratio");
  rewrite({{"model_args", {{"mlp_ratio", 3.0}, {"depth", 3}}}});
  expect_error([&] { (void)Model::load(tmp.path()); }, ErrorCode::ModelFormat, "depth");
}
