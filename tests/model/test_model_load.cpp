#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/model.hpp"
#include "model/safetensors.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using json = nlohmann::json;

namespace {

void write_text(const std::filesystem::path& p, const std::string& s) { std::ofstream(p) << s; }

// Expects Model::load(dir) to throw a ModelFormat error mentioning `needle`.
void expect_load_error(const std::filesystem::path& dir, const std::string& needle) {
  try {
    (void)Model::load(dir);
    FAIL("loaded a broken model; expected: " << needle);
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.code() == ErrorCode::ModelFormat);
    CHECK_THAT(e.what(), Catch::Contains(needle));
  }
}

// Rewrites model.safetensors after applying `edit` to the tensor list.
template <class F>
void edit_tensors(const std::filesystem::path& dir, F edit) {
  auto st = SafeTensors::open(dir / "model.safetensors");
  std::vector<TensorData> ts;
  for (const auto& t : st.tensors()) ts.push_back({t.name, t.dtype, t.shape, {t.data.begin(), t.data.end()}});
  edit(ts);
  auto bytes = serialize_safetensors(ts);
  std::filesystem::remove(dir / "model.safetensors");
  std::ofstream(dir / "model.safetensors", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

TEST_CASE("a random-weight model saves and loads back identically", "[model]") {
  for (bool distilled : {false, true}) {
    test::TempDir tmp;
    Model m = Model::random(test::tiny_config(distilled), 7);
    m.save(tmp.path());
    Model back = Model::load(tmp.path());
    CHECK(back.dims.tokens == 16 + (distilled ? 2 : 1));
    CHECK(back.dims.prefix == (distilled ? 2 : 1));
    CHECK(back.dims.heads == 2);
    CHECK(back.dims.head_dim == 12);
    CHECK(back.dims.mlp_hidden == 96);
    CHECK(back.labels.at(3) == "label 3");
    CHECK(back.weights.blocks.at(1).fc2.weight == m.weights.blocks.at(1).fc2.weight);
    CHECK(back.weights.pos_embed == m.weights.pos_embed);
    CHECK(back.weights.head_dist.weight == m.weights.head_dist.weight);
  }
}

TEST_CASE("models stored as F16 and BF16 load as fp32", "[model]") {
  for (DType dt : {DType::F16, DType::BF16}) {
    test::TempDir tmp;
    Model m = Model::random(test::tiny_config(), 3);
    m.save(tmp.path());
    edit_tensors(tmp.path(), [&](std::vector<TensorData>& ts) {
      for (auto& t : ts) {
        std::vector<float> f(t.bytes.size() / 4);
        std::memcpy(f.data(), t.bytes.data(), t.bytes.size());
        t = TensorData::from_f32(t.name, t.shape, f, dt);
      }
    });
    Model back = Model::load(tmp.path());
    const auto& a = m.weights.blocks[0].qkv.weight;
    const auto& b = back.weights.blocks[0].qkv.weight;
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= 8e-3f * std::abs(a[i]) + 1e-7f);
  }
}

TEST_CASE("model loading rejects inconsistent checkpoints", "[model]") {
  test::TempDir tmp;
  const auto dir = tmp.path();
  Model::random(test::tiny_config(), 1).save(dir);
  REQUIRE_NOTHROW(Model::load(dir));
  const std::string cfg_text = model_config_to_json(test::tiny_config());

  SECTION("config without heads") {
    json j = json::parse(cfg_text);
    j["model_args"].erase("num_heads");
    write_text(dir / "config.json", j.dump());
    expect_load_error(dir, "heads");
  }
  SECTION("config that is not JSON") {
    write_text(dir / "config.json", "{ not json");
    expect_load_error(dir, "config.json: not valid JSON");
  }
  SECTION("unsupported architecture") {
    json j = json::parse(cfg_text);
    j["architecture"] = "resnet50";
    write_text(dir / "config.json", j.dump());
    expect_load_error(dir, "not supported");
  }
  SECTION("depth disagrees with the blocks") {
    json j = json::parse(cfg_text);
    j["model_args"]["depth"] = 3;
    write_text(dir / "config.json", j.dump());
    expect_load_error(dir, "depth");
  }
  SECTION("label count disagrees") {
    json j = json::parse(cfg_text);
    j["label_names"] = {"a", "b"};
    write_text(dir / "config.json", j.dump());
    expect_load_error(dir, "label_names");
  }
  SECTION("missing tensor") {
    // (A bias may be absent: timm's qkv_bias=False / CLIP's bias-free patch embedding; a weight may not.)
    edit_tensors(dir, [](auto& ts) { std::erase_if(ts, [](const TensorData& t) { return t.name == "blocks.1.mlp.fc2.weight"; }); });
    expect_load_error(dir, "missing tensor 'blocks.1.mlp.fc2.weight'");
  }
  SECTION("shape mismatch") {
    edit_tensors(dir, [](auto& ts) {
      for (auto& t : ts)
        if (t.name == "blocks.0.attn.qkv.weight") t.shape = {24, 72};
    });
    expect_load_error(dir, "'blocks.0.attn.qkv.weight' has shape [24, 72], expected [72, 24]");
  }
  SECTION("unexpected tensor") {
    edit_tensors(dir, [](auto& ts) { ts.push_back(TensorData::from_f32("blocks.0.attn.extra", {24}, std::vector<float>(24))); });
    expect_load_error(dir, "unexpected tensor 'blocks.0.attn.extra'");
  }
  SECTION("layer scale on some blocks only") {
    edit_tensors(dir, [](auto& ts) { ts.push_back(TensorData::from_f32("blocks.0.ls1.gamma", {24}, std::vector<float>(24))); });
    expect_load_error(dir, "layer scale");
  }
  SECTION("integer dtype") {
    edit_tensors(dir, [](auto& ts) {
      for (auto& t : ts)
        if (t.name == "norm.bias") t.dtype = DType::I32;
    });
    expect_load_error(dir, "not a float type");
  }
  SECTION("pos_embed that fits no grid") {
    edit_tensors(dir, [](auto& ts) {
      for (auto& t : ts)
        if (t.name == "pos_embed") {  // two rows short: neither prefix + a square grid nor a square grid alone
          t.shape[1] -= 2;
          t.bytes.resize(t.bytes.size() - 2 * static_cast<std::size_t>(t.shape[2]) * 4);
        }
    });
    expect_load_error(dir, "pos_embed");
  }
  SECTION("missing safetensors file") {
    std::filesystem::remove(dir / "model.safetensors");
    try {
      (void)Model::load(dir);
      FAIL("loaded without weights");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::Io);
      CHECK_THAT(e.what(), Catch::Contains("model.safetensors"));
    }
  }
}

TEST_CASE("the shared checkpoints load with the expected dimensions", "[model][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  for (const char* name : {"vit_tiny_patch16_224.augreg_in21k_ft_in1k", "deit_tiny_patch16_224.pipevit"}) {
    Model m = Model::load(shared / "models" / name);
    CHECK(m.dims.dim == 192);
    CHECK(m.dims.depth == 12);
    CHECK(m.dims.heads == 3);
    CHECK(m.dims.tokens == 197);
    CHECK(m.dims.num_classes == 1000);
    CHECK(m.labels.size() == 1000);
    CHECK(m.labels[281].find("tabby") != std::string::npos);
  }
}
