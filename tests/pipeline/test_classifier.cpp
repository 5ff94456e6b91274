#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <fstream>
#include <random>

#include "engine/backend.hpp"
#include "image/preprocess.hpp"
#include "pipeline/classify.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

// A random RGB image of the given size, written in whatever format the extension says.
void write_image(const fs::path& p, int w, int h, uint32_t seed) {
  cv::Mat m(h, w, CV_8UC3);
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(255));
  m.at<cv::Vec3b>(0, 0) = cv::Vec3b(static_cast<uint8_t>(seed), 0, 0);
  REQUIRE(cv::imwrite(p.string(), m));
}

std::vector<pipeline::InputEntry> entries(const std::vector<fs::path>& paths) {
  std::vector<pipeline::InputEntry> v;
  for (const auto& p : paths) v.push_back({p, {}});
  return v;
}

}  // namespace

TEST_CASE("Classifier: results in input order, bad inputs as error rows, logits equal single-image forwards",
          "[pipeline][classify]") {
  test::TempDir tmp;
  const fs::path d = tmp.path();
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(), 5));
  auto backend = make_cpu_backend(model);

  std::vector<fs::path> paths;
  const int sizes[][2] = {{40, 30}, {64, 64}, {17, 50}, {32, 32}, {100, 20}, {33, 31}, {45, 45}};
  for (int i = 0; i < 7; ++i) {
    paths.push_back(d / ("img" + std::to_string(i) + (i % 2 ? ".png" : ".bmp")));
    write_image(paths.back(), sizes[i][0], sizes[i][1], static_cast<uint32_t>(i));
  }
  // Bad ones between good ones, so batches hold gaps that must be packed.
  std::ofstream(d / "empty.jpg");
  std::ofstream(d / "text.png") << "not an image at all";
  write_image(d / "huge.png", 120, 100, 9);  // 12000 px, over the limit below
  paths.insert(paths.begin() + 1, d / "empty.jpg");
  paths.insert(paths.begin() + 4, d / "text.png");
  paths.insert(paths.begin() + 5, d / "huge.png");
  auto inputs = entries(paths);
  inputs.push_back({d / "missing.jpg", "no such file or folder"});  // known bad before decoding

  pipeline::ClassifyOptions o;
  o.batch = 3;
  o.jobs = 2;
  o.top_k = 4;
  o.keep_logits = true;
  o.limits.max_pixels = 10000;
  pipeline::Classifier classifier(*backend, o);

  std::vector<pipeline::ClassifyResult> got;
  const auto stats = classifier.run(inputs, [&](const pipeline::ClassifyResult& r) { got.push_back(r); });
  REQUIRE(got.size() == inputs.size());
  CHECK(stats.inputs == inputs.size());
  CHECK(stats.classified == 7);
  CHECK(stats.failed == 4);
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("input " << i << ": " << got[i].path << " " << got[i].error);
    CHECK(got[i].input == i);
    CHECK(got[i].path == inputs[i].path);
    const std::string name = got[i].path.filename().string();
    const bool bad = name == "empty.jpg" || name == "text.png" || name == "huge.png" || name == "missing.jpg";
    CHECK(got[i].ok() == !bad);
    if (bad) {
      CHECK(got[i].top.empty());
      CHECK(got[i].error.find(got[i].path.string()) == std::string::npos);  // the reason only, not the path again
      continue;
    }
    // The batched pipeline must give what a lone forward of the same preprocessed image gives.
    const auto x = preprocess(decode_image_file(got[i].path), model->config.preprocess);
    const auto ref = backend->forward(x, 1, {});
    REQUIRE(got[i].logits.size() == 10);
    for (int c = 0; c < 10; ++c) CHECK(got[i].logits[c] == Approx(ref.logits[c]).margin(1e-4));
    REQUIRE(got[i].top.size() == 4);
    const auto probs = pipeline::softmax(ref.logits);
    CHECK(got[i].top[0].index == pipeline::top_k(probs, 1)[0].index);
    for (int k = 0; k < 4; ++k) CHECK(got[i].top[k].prob == Approx(probs[got[i].top[k].index]).margin(1e-5));
    for (int k = 1; k < 4; ++k) CHECK(got[i].top[k - 1].prob >= got[i].top[k].prob);
  }
  CHECK_THAT(got[1].error, Catch::Contains("empty"));
  CHECK_THAT(got[5].error, Catch::Contains("pixels"));
  CHECK(got.back().error == "no such file or folder");
}

TEST_CASE("Classifier: an exception from the result callback stops the run cleanly", "[pipeline][classify]") {
  test::TempDir tmp;
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(), 6));
  auto backend = make_cpu_backend(model);
  std::vector<fs::path> paths;
  for (int i = 0; i < 12; ++i) {
    paths.push_back(tmp.path() / (std::to_string(i) + "i.png"));
    write_image(paths.back(), 36, 36, static_cast<uint32_t>(i));
  }
  pipeline::ClassifyOptions o;
  o.batch = 2;
  o.jobs = 3;
  pipeline::Classifier classifier(*backend, o);
  int seen = 0;
  CHECK_THROWS_WITH(classifier.run(entries(paths),
                                   [&](const pipeline::ClassifyResult&) {
                                     if (++seen == 3) throw std::runtime_error("disk full");
                                   }),
                    "disk full");
  CHECK(seen == 3);
  // The same classifier (and its pool) still works afterwards.
  std::size_t n = 0;
  classifier.run(entries(paths), [&](const pipeline::ClassifyResult& r) { n += r.ok(); });
  CHECK(n == paths.size());
  pipeline::ClassifyOptions bad;
  bad.top_k = 0;
  CHECK_THROWS_AS(pipeline::Classifier(*backend, bad), Error);
  bad.top_k = 1;
  bad.batch = 0;
  CHECK_THROWS_AS(pipeline::Classifier(*backend, bad), Error);
}

TEST_CASE("Classifier: an empty input list gives no results", "[pipeline][classify]") {
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(), 7));
  auto backend = make_cpu_backend(model);
  pipeline::Classifier classifier(*backend, {});
  int calls = 0;
  const auto stats = classifier.run({}, [&](const pipeline::ClassifyResult&) { ++calls; });
  CHECK(calls == 0);
  CHECK(stats.inputs == 0);
}
