// Pillow goldens (tools/goldens/make_resize_goldens.py -> tests/data/resize/): resize, the whole eval
// transform, and decoding of EXIF-rotated / CMYK / palette / grey+alpha files.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "image/preprocess.hpp"
#include "support/test_data.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

const std::filesystem::path kDir = std::filesystem::path(VITVK_SOURCE_DIR) / "tests" / "data" / "resize";

nlohmann::json manifest() {
  std::ifstream in(kDir / "manifest.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

struct Diff {
  int max = 0;
  double mean = 0.0;
};

Diff diff_u8(const cv::Mat& a, const cv::Mat& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE(a.type() == b.type());
  cv::Mat d;
  cv::absdiff(a, b, d);
  double mx = 0;
  cv::minMaxLoc(d.reshape(1), nullptr, &mx);
  const cv::Scalar s = cv::sum(d);
  return {static_cast<int>(mx), (s[0] + s[1] + s[2] + s[3]) / static_cast<double>(a.total() * a.channels())};
}

}  // namespace

TEST_CASE("resize_like_pil reproduces Pillow's Image.resize exactly", "[image][resize]") {
  const auto m = manifest();
  REQUIRE(m["resize"].size() >= 40);
  int worst = 0;
  for (const auto& c : m["resize"]) {
    const cv::Mat src = decode_image_file(kDir / c["source"].get<std::string>());
    const cv::Mat expected = decode_image_file(kDir / c["expected"].get<std::string>());
    const std::string filter = c["filter"];
    const cv::Mat got = resize_like_pil(src, c["width"], c["height"], filter);
    const Diff d = diff_u8(got, expected);
    worst = std::max(worst, d.max);
    INFO(c["expected"].get<std::string>() << ": max |diff| " << d.max << ", mean " << d.mean);
    CHECK(d.mean < 0.5);  // the bar: mean absolute difference < 0.5/255
    CHECK(d.max == 0);    // what this implementation achieves: Pillow's integer arithmetic, bit for bit
  }
  WARN("resize goldens: " << m["resize"].size() << " cases, worst max |diff| = " << worst << "/255");
}

TEST_CASE("resize_like_pil on a region equals the same region of the full resize", "[image][resize]") {
  std::mt19937 rng(7);
  cv::Mat src(37, 53, CV_8UC3);
  cv::randu(src, 0, 256);
  for (const char* filter : {"bicubic", "bilinear", "lanczos"}) {
    for (auto [w, h] : {std::pair{20, 15}, {90, 71}, {53, 20}, {11, 37}}) {
      const cv::Mat full = resize_like_pil(src, w, h, filter);
      for (int i = 0; i < 10; ++i) {
        const int x = std::uniform_int_distribution<int>(0, w - 1)(rng);
        const int y = std::uniform_int_distribution<int>(0, h - 1)(rng);
        const int rw = std::uniform_int_distribution<int>(1, w - x)(rng);
        const int rh = std::uniform_int_distribution<int>(1, h - y)(rng);
        const cv::Rect roi(x, y, rw, rh);
        const cv::Mat part = resize_like_pil(src, w, h, filter, roi);
        INFO(filter << " " << w << "x" << h << " roi " << roi);
        CHECK(diff_u8(part, full(roi)).max == 0);
      }
    }
  }
  // Channel counts other than 3 take the same path.
  cv::Mat grey(19, 23, CV_8UC1), rgba(19, 23, CV_8UC4);
  cv::randu(grey, 0, 256);
  cv::randu(rgba, 0, 256);
  CHECK(resize_like_pil(grey, 7, 30, "bicubic").type() == CV_8UC1);
  CHECK(resize_like_pil(rgba, 7, 30, "bicubic").type() == CV_8UC4);
  CHECK_THROWS_AS(resize_like_pil(src, 0, 5, "bicubic"), Error);
  CHECK_THROWS_AS(resize_like_pil(src, 5, 5, "nearest-exact"), Error);
  CHECK_THROWS_AS(resize_like_pil(src, 5, 5, "bicubic", cv::Rect(3, 0, 3, 5)), Error);
}

TEST_CASE("preprocess reproduces timm's eval transform on the Pillow goldens", "[image][preprocess]") {
  const auto m = manifest();
  REQUIRE(m["transform"].size() >= 6);
  for (const auto& c : m["transform"]) {
    PreprocessConfig cfg;
    cfg.height = cfg.width = c["size"];
    cfg.crop_pct = c["crop_pct"].get<float>();
    cfg.interpolation = c["interpolation"];
    cfg.crop_mode = c["crop_mode"];
    for (int i = 0; i < 3; ++i) {
      cfg.mean[i] = c["mean"][i].get<float>();
      cfg.std[i] = c["std"][i].get<float>();
    }
    const cv::Mat src = decode_image_file(kDir / c["source"].get<std::string>());
    CropGeometry g;
    const auto got = preprocess(src, cfg, &g);
    const auto expected = test::read_f32(kDir / c["expected"].get<std::string>(), got.size());
    float max_diff = 0.f;
    for (std::size_t i = 0; i < got.size(); ++i) max_diff = std::max(max_diff, std::abs(got[i] - expected[i]));
    INFO(c["expected"].get<std::string>() << ": max |diff| " << max_diff);
    CHECK(max_diff == 0.0f);
    CHECK(g.resized_w == c["resized"][0].get<int>());
    CHECK(g.resized_h == c["resized"][1].get<int>());
    CHECK(g.crop_x == c["crop_origin"][0].get<int>());
    CHECK(g.crop_y == c["crop_origin"][1].get<int>());
    CHECK(g.orig_w == src.cols);
    CHECK(g.crop_w == cfg.width);
  }
}

TEST_CASE("decoding matches Pillow for EXIF-rotated CMYK palette and grey+alpha files", "[image][decode]") {
  const auto m = manifest();
  REQUIRE(m["decode"].size() >= 11);
  for (const auto& c : m["decode"]) {
    const cv::Mat got = decode_image_file(kDir / c["file"].get<std::string>());
    const cv::Mat expected = decode_image_file(kDir / c["expected"].get<std::string>());
    INFO(c["what"].get<std::string>() << " (" << c["file"].get<std::string>() << ")");
    REQUIRE(got.size() == expected.size());
    const Diff d = diff_u8(got, expected);
    INFO("max |diff| " << d.max << ", mean " << d.mean);
    CHECK(d.max <= c["max_abs_diff"].get<int>());
    if (c["max_abs_diff"].get<int>() > 0) WARN(c["what"].get<std::string>() << " vs Pillow: max |diff| " << d.max << ", mean " << d.mean);
  }
}
