#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>
#include <random>

#include "engine/backend.hpp"
#include "explain/rollout.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

// Rollout written out the long way (full N x N products, sort-based discard) to check the library's
// row-vector shortcut and selection against: shares no code with src/explain/rollout.cpp.
std::vector<double> dense_rollout(const ForwardResult& r, int image, HeadFusion fusion, double ratio, int prefix) {
  const int N = r.tokens, L = r.layers;
  const std::size_t nn = static_cast<std::size_t>(N) * N;
  std::vector<double> R(nn, 0.0);
  for (int i = 0; i < N; ++i) R[i * N + i] = 1.0;
  for (int l = 0; l < L; ++l) {
    const float* f = r.attention.data() + ((static_cast<std::size_t>(l) * r.batch + image) * 3 + static_cast<int>(fusion)) * nn;
    std::vector<double> a(f, f + nn);
    const auto k = static_cast<std::size_t>(static_cast<double>(nn) * ratio);
    std::vector<std::size_t> idx(nn);
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t x, std::size_t y) { return a[x] < a[y]; });
    for (std::size_t i = 0; i < k; ++i)
      if (idx[i] != 0) a[idx[i]] = 0.0;
    for (int i = 0; i < N; ++i) {
      double s = 0;
      for (int j = 0; j < N; ++j) s += (a[i * N + j] + (i == j)) / 2;
      for (int j = 0; j < N; ++j) a[i * N + j] = (a[i * N + j] + (i == j)) / 2 / s;
    }
    std::vector<double> next(nn, 0.0);  // next = A' R
    for (int i = 0; i < N; ++i)
      for (int m = 0; m < N; ++m)
        for (int j = 0; j < N; ++j) next[i * N + j] += a[i * N + m] * R[m * N + j];
    R.swap(next);
  }
  std::vector<double> map(R.begin() + prefix, R.begin() + N);
  const double mx = *std::max_element(map.begin(), map.end());
  for (double& v : map) v = mx > 0 ? v / mx : 0.0;  // all-zero (everything discarded) stays zero
  return map;
}

// A one-layer result with hand-set fused attention (every fusion slot gets the same matrix).
ForwardResult one_layer(const std::vector<float>& f, int tokens) {
  ForwardResult r;
  r.batch = 1;
  r.tokens = tokens;
  r.layers = 1;
  for (int s = 0; s < 3; ++s) r.attention.insert(r.attention.end(), f.begin(), f.end());
  return r;
}

ModelDims grid_dims(int prefix, int gh, int gw) {
  ModelDims d;
  d.prefix = prefix;
  d.grid_h = gh;
  d.grid_w = gw;
  d.num_patches = gh * gw;
  d.tokens = prefix + gh * gw;
  return d;
}

}  // namespace

TEST_CASE("rollout equals the dense matrix-product definition on random tiny models", "[explain][rollout]") {
  for (bool distilled : {false, true}) {
    auto model = std::make_shared<const Model>(Model::random(test::tiny_config(distilled, 48, 8, 24, 3, 3), 7));
    auto cpu = make_cpu_backend(model);
    const int B = 2;
    std::vector<float> images(static_cast<std::size_t>(B) * 3 * 48 * 48);
    std::mt19937 rng(3);
    std::normal_distribution<float> nd;
    for (auto& v : images) v = nd(rng);
    const auto r = cpu->forward(images, B, {.explain = true});
    const ModelDims& d = model->dims;
    REQUIRE(d.prefix == (distilled ? 2 : 1));
    for (int b = 0; b < B; ++b)
      for (HeadFusion f : {HeadFusion::Mean, HeadFusion::Max, HeadFusion::Min})
        for (double ratio : {0.0, 0.5, 0.9, 0.99}) {
          const RolloutMap m = rollout(r, b, {f, ratio}, d);
          REQUIRE(m.w == 6);
          REQUIRE(m.h == 6);
          const auto ref = dense_rollout(r, b, f, ratio, d.prefix);
          double diff = 0;
          for (std::size_t i = 0; i < ref.size(); ++i) diff = std::max(diff, std::abs(ref[i] - m.values[i]));
          INFO("distilled " << distilled << " image " << b << " " << to_string(f) << " ratio " << ratio);
          CHECK(diff < 1e-6);
          const float peak = *std::max_element(m.values.begin(), m.values.end());
          CHECK((peak == 1.0f || (ratio > 0.9 && peak == 0.0f)));  // 99% discarded can cut the class row off
        }
    // The two images differ, and so do their maps.
    const auto m0 = rollout(r, 0, {}, d), m1 = rollout(r, 1, {}, d);
    CHECK(m0.values != m1.values);
  }
}

TEST_CASE("rollout discard never zeroes the class-token self entry and leaves out the distillation token",
          "[explain][rollout]") {
  // 1 prefix token + 2x2 patches. Row 0 = [0, .1, .2, .3, .4]: entry (0,0) is the smallest of all 25.
  std::vector<float> f(25, 0.2f);
  const float row0[5] = {0.f, .1f, .2f, .3f, .4f};
  std::copy(row0, row0 + 5, f.begin());
  const auto r = one_layer(f, 5);
  const auto d = grid_dims(1, 2, 2);
  SECTION("no discard: (F + I)/2 row-normalised, patches of row 0, max 1") {
    const auto m = rollout(r, 0, {HeadFusion::Mean, 0.0}, d);
    CHECK(m.values[0] == Approx(0.25).margin(1e-6));
    CHECK(m.values[1] == Approx(0.5).margin(1e-6));
    CHECK(m.values[2] == Approx(0.75).margin(1e-6));
    CHECK(m.values[3] == Approx(1.0).margin(1e-6));
  }
  SECTION("k = 1: the only candidate is entry 0, which is kept, so nothing changes") {
    const auto m = rollout(r, 0, {HeadFusion::Max, 0.041}, d);  // floor(25 * 0.041) = 1
    CHECK(m.values[0] == Approx(0.25).margin(1e-6));
  }
  SECTION("k = 2: entry 0 kept, the next smallest (0.1) zeroed") {
    const auto m = rollout(r, 0, {HeadFusion::Min, 0.081}, d);  // floor(25 * 0.081) = 2
    CHECK(m.values[0] == 0.0f);
    CHECK(m.values[1] == Approx(0.5).margin(1e-6));
    CHECK(m.values[3] == Approx(1.0).margin(1e-6));
  }
  SECTION("a distillation token is not a patch") {
    // 2 prefix tokens + 1x3 patches; the class token attends most to the distillation token.
    std::vector<float> g(25, 0.2f);
    const float r0[5] = {.1f, .5f, .1f, .1f, .2f};
    std::copy(r0, r0 + 5, g.begin());
    const auto m = rollout(one_layer(g, 5), 0, {}, grid_dims(2, 1, 3));
    REQUIRE(m.values.size() == 3);
    CHECK(m.values[0] == Approx(0.5).margin(1e-6));
    CHECK(m.values[2] == Approx(1.0).margin(1e-6));
  }
}

TEST_CASE("rollout discard breaks ties by lower flat index", "[explain][rollout]") {
  // Three layers of fused attention quantised to three levels: ties straddle every discard cut.
  std::mt19937 rng(9);
  const auto d = grid_dims(1, 3, 3);
  const int N = d.tokens;
  ForwardResult r;
  r.batch = 1;
  r.tokens = N;
  r.layers = 3;
  for (int i = 0; i < 3 * 3 * N * N; ++i) r.attention.push_back(0.1f * static_cast<float>(1 + rng() % 3));
  for (HeadFusion f : {HeadFusion::Mean, HeadFusion::Max, HeadFusion::Min})
    for (double ratio : {0.1, 0.25, 0.5, 0.73, 0.9}) {
      const auto m = rollout(r, 0, {f, ratio}, d);
      const auto ref = dense_rollout(r, 0, f, ratio, d.prefix);
      double diff = 0;
      for (std::size_t i = 0; i < ref.size(); ++i) diff = std::max(diff, std::abs(ref[i] - m.values[i]));
      INFO(to_string(f) << " ratio " << ratio);
      CHECK(diff < 1e-6);
    }
}

TEST_CASE("rollout rejects unusable inputs with clear errors", "[explain][rollout]") {
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(), 2));
  auto cpu = make_cpu_backend(model);
  std::vector<float> img(3 * 32 * 32, 0.1f);
  const auto plain = cpu->forward(img, 1, {});
  const auto full = cpu->forward(img, 1, {.explain = true});
  const auto& d = model->dims;
  CHECK_THROWS_WITH(rollout(plain, 0, {}, d), Catch::Contains("explain"));
  CHECK_THROWS_WITH(rollout(full, 1, {}, d), Catch::Contains("image 1"));
  CHECK_THROWS_WITH(rollout(full, 0, {HeadFusion::Mean, 1.0}, d), Catch::Contains("discard ratio"));
  CHECK_THROWS_WITH(rollout(full, 0, {HeadFusion::Mean, -0.1}, d), Catch::Contains("discard ratio"));
  CHECK_THROWS_WITH(rollout(full, 0, {}, grid_dims(1, 5, 5)), Catch::Contains("does not fit"));
  CHECK_THROWS_AS(parse_head_fusion("median"), Error);
  CHECK(parse_head_fusion("max") == HeadFusion::Max);
  CHECK_THROWS_WITH(parse_rollout_format("csv"), Catch::Contains("npy or json"));
}

TEST_CASE("rollout maps are written as NPY v1.0 and JSON", "[explain][rollout]") {
  RolloutMap m;
  m.w = 3;
  m.h = 2;
  m.values = {0.f, 0.125f, 1.f, 0.3f, 1e-8f, 0.999999f};
  m.options = {HeadFusion::Max, 0.9};
  const auto npy = encode_npy(m);
  REQUIRE(npy.size() > 10);
  CHECK(std::memcmp(npy.data(), "\x93NUMPY\x01\x00", 8) == 0);
  const std::size_t hl = npy[8] | (npy[9] << 8);
  CHECK((10 + hl) % 64 == 0);
  const std::string header(npy.begin() + 10, npy.begin() + 10 + static_cast<long>(hl));
  CHECK(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 0) == 0);
  CHECK(header.back() == '\n');
  REQUIRE(npy.size() == 10 + hl + 6 * 4);
  for (int i = 0; i < 6; ++i) {
    const uint8_t* p = npy.data() + 10 + hl + 4 * i;
    const uint32_t u = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
    float v;
    std::memcpy(&v, &u, 4);
    CHECK(v == m.values[i]);
  }
  const auto j = nlohmann::json::parse(rollout_to_json(m));
  CHECK(j["width"] == 3);
  CHECK(j["height"] == 2);
  CHECK(j["head_fusion"] == "max");
  CHECK(j["discard_ratio"] == 0.9);
  REQUIRE(j["values"].size() == 2);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) CHECK(j["values"][y][x].get<float>() == m.at(x, y));  // exact round trip

  test::TempDir tmp;
  write_rollout(tmp.path() / "m.npy", m, RolloutFormat::Npy);
  write_rollout(tmp.path() / "m.json", m, parse_rollout_format("json"));
  CHECK(std::filesystem::file_size(tmp.path() / "m.npy") == npy.size());
  CHECK(std::filesystem::file_size(tmp.path() / "m.json") == rollout_to_json(m).size());
  CHECK_THROWS_AS(write_rollout_npy(tmp.path() / "missing-dir" / "m.npy", m), Error);
}

TEST_CASE("rollout of both shared models matches the PyTorch reference", "[explain][rollout][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  const auto golden_path = std::filesystem::path(VITVK_SOURCE_DIR) / "tests/data/rollout/rollout_goldens.json";
  std::ifstream in(golden_path);
  REQUIRE(in);
  const auto goldens = nlohmann::json::parse(in);
  REQUIRE(goldens["cases"].size() == 24);

  // Group the cases by model so each model runs one explain forward over its inputs.
  std::map<std::string, std::vector<nlohmann::json>> by_model;
  for (const auto& c : goldens["cases"]) by_model[c["model"]].push_back(c);
  REQUIRE(by_model.size() == 2);
  for (const auto& [model_name, cases] : by_model) {
    auto model = std::make_shared<const Model>(Model::load(shared / "models" / model_name));
    auto cpu = make_cpu_backend(model);
    std::vector<std::string> inputs;
    for (const auto& c : cases)
      if (std::find(inputs.begin(), inputs.end(), c["input"]) == inputs.end()) inputs.push_back(c["input"]);
    std::vector<float> batch;
    for (const auto& name : inputs) {
      const auto x = test::read_f32(shared / "reference" / (name + ".input_f32_3x224x224.bin"), 3 * 224 * 224);
      batch.insert(batch.end(), x.begin(), x.end());
    }
    const auto r = cpu->forward(batch, static_cast<int>(inputs.size()), {.explain = true});
    std::map<std::string, float> worst;  // per "fusion ratio"
    for (const auto& c : cases) {
      const int b = static_cast<int>(std::find(inputs.begin(), inputs.end(), c["input"]) - inputs.begin());
      const RolloutOptions opt{parse_head_fusion(c["head_fusion"]), c["discard_ratio"].get<double>()};
      const auto m = rollout(r, b, opt, model->dims);
      const auto expected = c["map"].get<std::vector<float>>();
      REQUIRE(m.w == c["grid_w"].get<int>());
      REQUIRE(m.h == c["grid_h"].get<int>());
      REQUIRE(expected.size() == m.values.size());
      float diff = 0.f;
      for (std::size_t i = 0; i < expected.size(); ++i) diff = std::max(diff, std::abs(expected[i] - m.values[i]));
      const std::string key = fmt::format("{} discard {}", to_string(opt.head_fusion), opt.discard_ratio);
      worst[key] = std::max(worst[key], diff);
      INFO(model_name << " " << c["input"].get<std::string>() << " " << key << ": max |diff| = " << diff);
      CHECK(diff < 1e-4f);
    }
    for (const auto& [key, diff] : worst) std::printf("rollout vs torch  %-42s %-18s max|diff| %.3g\n", model_name.c_str(), key.c_str(), diff);
  }
}
