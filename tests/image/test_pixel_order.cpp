// The BGR fast path of the classify pipeline (decode without the full-image channel swap, preprocess reading
// BGR) against the RGB path: identical pixels and identical model input, on odd sizes and every channel
// layout the decoder converts.
#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <random>
#include <vector>

#include "image/preprocess.hpp"

using namespace vitvk;

namespace {

std::vector<uint8_t> encode(const std::string& ext, const cv::Mat& img) {
  std::vector<uint8_t> buf;
  REQUIRE(cv::imencode(ext, img, buf));
  return buf;
}

cv::Mat random_image(int w, int h, int type, std::mt19937& rng) {
  cv::Mat m(h, w, type);
  std::uniform_int_distribution<int> d(0, 255);
  const int depth_bytes = m.depth() == CV_16U ? 2 : 1;
  for (int y = 0; y < h; ++y)
    for (std::size_t i = 0; i < static_cast<std::size_t>(w) * m.channels() * depth_bytes; ++i)
      m.ptr<uint8_t>(y)[i] = static_cast<uint8_t>(d(rng));
  return m;
}

bool same(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return false;
  return cv::norm(a, b, cv::NORM_INF) == 0;
}

}  // namespace

TEST_CASE("decoding to BGR gives the RGB decode with channels swapped", "[image][decode]") {
  std::mt19937 rng(11);
  const struct {
    const char* ext;
    int type;
  } cases[] = {{".jpg", CV_8UC3}, {".jpg", CV_8UC1}, {".png", CV_8UC3}, {".png", CV_8UC1},
               {".png", CV_8UC4}, {".png", CV_16UC3}, {".bmp", CV_8UC3}};
  for (const auto& c : cases) {
    const auto bytes = encode(c.ext, random_image(37, 23, c.type, rng));
    INFO(c.ext << " type " << c.type);
    const cv::Mat rgb = decode_image_bytes(bytes, c.ext);
    const cv::Mat bgr = decode_image_bytes(bytes, c.ext, {}, PixelOrder::Bgr);
    REQUIRE(bgr.type() == CV_8UC3);
    cv::Mat swapped;
    cv::cvtColor(rgb, swapped, cv::COLOR_RGB2BGR);
    CHECK(same(bgr, swapped));
  }
}

TEST_CASE("preprocess_into reads BGR images exactly as their RGB originals", "[image][preprocess]") {
  std::mt19937 rng(5);
  PreprocessConfig cfg;
  cfg.mean = {0.485f, 0.456f, 0.406f};  // distinct per channel: a swapped channel would show
  cfg.std = {0.229f, 0.224f, 0.225f};
  const std::vector<float> out_shape(3 * 224 * 224);
  const int sizes[][2] = {{503, 377}, {377, 503}, {224, 224}, {37, 251}, {251, 37}, {100, 61}, {1, 1}};
  for (const char* mode : {"center", "squash"})
    for (const char* interp : {"bicubic", "bilinear"})
      for (const auto& sz : sizes) {
        cfg.crop_mode = mode;
        cfg.interpolation = interp;
        cfg.crop_pct = sz[0] == 100 ? 1.7f : 0.9f;  // 1.7: the resized image is smaller than the crop (padding)
        const cv::Mat rgb = random_image(sz[0], sz[1], CV_8UC3, rng);
        cv::Mat bgr;
        cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
        std::vector<float> want(out_shape.size()), got(out_shape.size());
        const CropGeometry gw = preprocess_into(rgb, cfg, want);
        const CropGeometry gg = preprocess_into(bgr, cfg, got, PixelOrder::Bgr);
        INFO(mode << " " << interp << " " << sz[0] << "x" << sz[1]);
        CHECK(gg.crop_x == gw.crop_x);
        CHECK(gg.crop_y == gw.crop_y);
        CHECK(got == want);  // bit for bit
      }
}
