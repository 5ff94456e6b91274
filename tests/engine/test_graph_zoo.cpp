// The timm ViT zoo (tests/data/zoo, tools/goldens/make_vit_zoo_goldens.py) through the graph on the CPU and the
// Vulkan backend: logits and embeddings within 1e-4 relative of timm's (max |diff| / max |golden|), same top-1,
// attention maps (and the map head's) within 1e-4; fp16 within 5e-2 absolute and the same top-1; malformed
// variants refused naming the file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/backend.hpp"
#include "model/model.hpp"
#include "model/safetensors.hpp"
#include "support/test_data.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using json = nlohmann::json;

namespace {

const std::filesystem::path kZoo = std::filesystem::path(VITVK_SOURCE_DIR) / "tests" / "data" / "zoo";

json manifest() {
  std::FILE* f = std::fopen((kZoo / "manifest.json").c_str(), "rb");
  REQUIRE(f);
  std::string text;
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  return json::parse(text);
}

Model load_case(const json& c) {
  const auto dir = kZoo / c["model_dir"].get<std::string>();
  const ModelConfig cfg = load_model_config(dir / c["config"].get<std::string>());
  const SafeTensors st = SafeTensors::open(dir / "model.safetensors");
  std::optional<int> img;
  if (c.contains("img_size") && !c["img_size"].is_null()) img = c["img_size"].get<int>();
  return Model::from_tensors(cfg, st, img);
}

// max |a - b| / max |b|
double rel_diff(std::span<const float> a, std::span<const float> b) {
  double d = 0, m = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    d = std::max(d, std::abs(double(a[i]) - b[i]));
    m = std::max(m, std::abs(double(b[i])));
  }
  return m > 0 ? d / m : d;
}
double abs_diff(std::span<const float> a, std::span<const float> b) {
  double d = 0;
  for (std::size_t i = 0; i < b.size(); ++i) d = std::max(d, std::abs(double(a[i]) - b[i]));
  return d;
}
int argmax(std::span<const float> v) { return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin()); }

// The map head's per-head probabilities [B, heads, 1, N] fused over heads as ForwardResult::pool_attention.
std::vector<float> fuse_pool(const std::vector<float>& raw, int B, int H, int N) {
  std::vector<float> out(std::size_t(B) * 3 * N);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j) {
      double s = 0;
      float mx = -1e30f, mn = 1e30f;
      for (int h = 0; h < H; ++h) {
        const float v = raw[(std::size_t(b) * H + h) * N + j];
        s += v;
        mx = std::max(mx, v);
        mn = std::min(mn, v);
      }
      out[(std::size_t(b) * 3 + 0) * N + j] = float(s / H);
      out[(std::size_t(b) * 3 + 1) * N + j] = mx;
      out[(std::size_t(b) * 3 + 2) * N + j] = mn;
    }
  return out;
}

void check_case(const json& c, Backend& be, bool fp16) {
  const Model& m = be.model();
  const auto& e = c["expected"];
  const auto input = test::read_f32(kZoo / c["input"].get<std::string>());
  const int B = c["input_shape"][0].get<int>();
  const ForwardResult r = be.forward(input, B, {.explain = true});
  const std::string what = c["name"].get<std::string>() + " on " + be.name() + (fp16 ? " fp16" : " fp32");
  const auto feats = test::read_f32(kZoo / e["features"].get<std::string>());
  const double fd = fp16 ? abs_diff(r.features, feats) : rel_diff(r.features, feats);
  INFO(what << ": features " << (fp16 ? "max abs" : "max rel") << " diff " << fd);
  CHECK(fd < (fp16 ? 5e-2 : 1e-4));
  if (e.contains("logits")) {
    const auto logits = test::read_f32(kZoo / e["logits"].get<std::string>());
    REQUIRE(r.logits.size() == logits.size());
    const double ld = fp16 ? abs_diff(r.logits, logits) : rel_diff(r.logits, logits);
    INFO(what << ": logits diff " << ld);
    std::printf("zoo %-24s %-6s %s  logits %.3g  features %.3g\n", c["name"].get<std::string>().c_str(),
                be.name().c_str(), fp16 ? "fp16" : "fp32", ld, fd);
    CHECK(ld < (fp16 ? 5e-2 : 1e-4));
    for (int b = 0; b < B; ++b) CHECK(argmax(r.logits_of(b)) == e["top1"][b].get<int>());
  } else {
    std::printf("zoo %-24s %-6s %s  features %.3g (no classifier)\n", c["name"].get<std::string>().c_str(),
                be.name().c_str(), fp16 ? "fp16" : "fp32", fd);
    CHECK(r.logits.empty());
  }
  if (fp16) return;
  const auto attn = test::read_f32(kZoo / e["attn"].get<std::string>());
  REQUIRE(r.attention.size() == attn.size());
  const double ad = abs_diff(r.attention, attn);
  INFO(what << ": attention max abs diff " << ad);
  CHECK(ad < 1e-4);
  if (e.contains("attn_pool")) {
    const auto raw = test::read_f32(kZoo / e["attn_pool"].get<std::string>());
    const int H = e["attn_pool_shape"][1].get<int>(), N = e["attn_pool_shape"][3].get<int>();
    REQUIRE(r.pool_keys == N);
    const double pd = abs_diff(r.pool_attention, fuse_pool(raw, B, H, N));
    INFO(what << ": pool attention max abs diff " << pd);
    CHECK(pd < 1e-4);
  }
  (void)m;
}

}  // namespace

TEST_CASE("zoo: every timm ViT family on the CPU backend equals timm", "[zoo][engine][cpu]") {
  const json all = manifest();
  for (const auto& c : all["cases"]) {
    if (c.value("malformed", false)) continue;
    INFO(c["name"].get<std::string>());
    auto model = std::make_shared<const Model>(load_case(c));
    auto cpu = make_cpu_backend(model);
    check_case(c, *cpu, false);
  }
}

TEST_CASE("zoo: every timm ViT family on the Vulkan backend equals timm", "[zoo][engine][vulkan]") {
  const json all = manifest();
  for (const auto& c : all["cases"]) {
    if (c.value("malformed", false)) continue;
    INFO(c["name"].get<std::string>());
    auto model = std::make_shared<const Model>(load_case(c));
    for (bool fp16 : {false, true}) {
      VulkanBackendOptions o;
      o.validation = true;
      o.fp16 = fp16;
      std::unique_ptr<Backend> vk;
      try {
        vk = make_vulkan_backend(model, o);
      } catch (const Error& err) {
        if (fp16 && err.code() == ErrorCode::Unsupported) continue;  // no 16-bit storage on this device
        throw;
      }
      check_case(c, *vk, fp16);
      const auto msgs = vk->validation_messages();
      for (const auto& msg : msgs) UNSCOPED_INFO(msg);
      CHECK(msgs.empty());
    }
  }
}

TEST_CASE("zoo: malformed variants are refused naming the file and the reason", "[zoo][model]") {
  const json all = manifest();
  for (const auto& c : all["cases"]) {
    if (!c.value("malformed", false)) continue;
    const std::string name = c["name"];
    INFO(name);
    try {
      (void)load_case(c);
      FAIL(name << " loaded");
    } catch (const Error& e) {
      const std::string msg = e.what();
      INFO(msg);
      CHECK(e.code() == ErrorCode::ModelFormat);
      CHECK(msg.find("model.safetensors") != std::string::npos);
      for (const auto& s : c["error_contains"]) CHECK(msg.find(s.get<std::string>()) != std::string::npos);
      bool any = c["error_any"].empty();
      for (const auto& s : c["error_any"]) any = any || msg.find(s.get<std::string>()) != std::string::npos;
      CHECK(any);
    }
  }
}

TEST_CASE("zoo: a checkpoint without a classifier embeds, and the API refuses to classify it", "[zoo][model]") {
  json c;
  const json all = manifest();
  for (const auto& x : all["cases"])
    if (x["name"] == "clip_tower") c = x;
  REQUIRE(!c.is_null());
  const Model m = load_case(c);
  CHECK(m.dims.num_classes == 0);
  CHECK(m.weights.head.weight.empty());
}
