// The vectorised resampling passes of resize_like_pil against a plain scalar port of Pillow's loops (the
// implementation they replaced) on random images of odd sizes: every filter, 1-4 channels, up- and
// downscaling, regions, strided (non-continuous) input. Integer sums, so the results must be identical.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "image/preprocess.hpp"

using namespace vitvk;

namespace {

double ref_bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double ref_bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}
double ref_box(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }
double ref_hamming(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));
}
double ref_sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}
double ref_lanczos(double x) { return (-3.0 <= x && x < 3.0) ? ref_sinc(x) * ref_sinc(x / 3) : 0.0; }

struct RefFilter {
  double (*fn)(double);
  double support;
};

RefFilter ref_filter(const std::string& name) {
  if (name == "bicubic") return {ref_bicubic, 2.0};
  if (name == "bilinear") return {ref_bilinear, 1.0};
  if (name == "lanczos") return {ref_lanczos, 3.0};
  if (name == "hamming") return {ref_hamming, 1.0};
  return {ref_box, 0.5};
}

constexpr int kBits = 22;

struct RefTaps {
  std::vector<int> first, count;
  std::vector<std::vector<int32_t>> w;
};

RefTaps ref_taps(int in_size, int out_size, const RefFilter& f) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = f.support * filterscale;
  RefTaps t;
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    std::vector<double> k;
    double ww = 0.0;
    for (int x = xmin; x < xmax; ++x) {
      k.push_back(f.fn((x - center + 0.5) / filterscale));
      ww += k.back();
    }
    std::vector<int32_t> q;
    for (double v : k) {
      const double w = ww != 0.0 ? v / ww : v;
      const double s = w * (1 << kBits);
      q.push_back(static_cast<int32_t>(w < 0 ? -0.5 + s : 0.5 + s));
    }
    t.first.push_back(xmin);
    t.count.push_back(xmax - xmin);
    t.w.push_back(std::move(q));
  }
  return t;
}

uint8_t ref_clip(int32_t v) {
  v >>= kBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Whole-image Pillow resize, one sample at a time: horizontal pass over every row, then vertical.
cv::Mat ref_resize(const cv::Mat& in, int out_w, int out_h, const std::string& filter) {
  const RefFilter f = ref_filter(filter);
  const int C = in.channels();
  cv::Mat mid = in;
  if (out_w != in.cols) {
    const RefTaps t = ref_taps(in.cols, out_w, f);
    mid = cv::Mat(in.rows, out_w, CV_8UC(C));
    for (int y = 0; y < in.rows; ++y)
      for (int xx = 0; xx < out_w; ++xx)
        for (int c = 0; c < C; ++c) {
          int32_t acc = 1 << (kBits - 1);
          for (int x = 0; x < t.count[xx]; ++x) acc += in.ptr<uint8_t>(y)[(t.first[xx] + x) * C + c] * t.w[xx][x];
          mid.ptr<uint8_t>(y)[xx * C + c] = ref_clip(acc);
        }
  }
  if (out_h == in.rows) return mid.clone();
  const RefTaps t = ref_taps(in.rows, out_h, f);
  cv::Mat out(out_h, out_w, CV_8UC(C));
  for (int yy = 0; yy < out_h; ++yy)
    for (int i = 0; i < out_w * C; ++i) {
      int32_t acc = 1 << (kBits - 1);
      for (int y = 0; y < t.count[yy]; ++y) acc += mid.ptr<uint8_t>(t.first[yy] + y)[i] * t.w[yy][y];
      out.ptr<uint8_t>(yy)[i] = ref_clip(acc);
    }
  return out;
}

cv::Mat random_image(int w, int h, int channels, std::mt19937& rng) {
  cv::Mat m(h, w, CV_8UC(channels));
  std::uniform_int_distribution<int> d(0, 255);
  for (int y = 0; y < h; ++y)
    for (int i = 0; i < w * channels; ++i) m.ptr<uint8_t>(y)[i] = static_cast<uint8_t>(d(rng));
  return m;
}

bool same(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return false;
  for (int y = 0; y < a.rows; ++y)
    for (int i = 0; i < a.cols * a.channels(); ++i)
      if (a.ptr<uint8_t>(y)[i] != b.ptr<uint8_t>(y)[i]) return false;
  return true;
}

}  // namespace

TEST_CASE("vectorised resize_like_pil equals the scalar reference on odd sizes", "[image][resize]") {
  std::mt19937 rng(20261121);
  struct Case {
    int w, h, ow, oh;
  };
  // Down and up in each direction, single rows/columns, sizes around the 16-row block and 64-sample chunk,
  // and a photo-like downscale of the kind the classify pipeline makes.
  const Case cases[] = {{1, 1, 3, 5},    {5, 3, 1, 1},     {17, 33, 16, 15}, {33, 17, 65, 31}, {31, 47, 13, 29},
                        {64, 16, 22, 9}, {129, 65, 64, 63}, {7, 200, 5, 17},  {300, 2, 37, 1},  {503, 377, 331, 249},
                        {97, 61, 97, 23}, {61, 97, 23, 97}};
  for (const std::string filter : {"bicubic", "bilinear", "lanczos", "hamming", "box"})
    for (int channels = 1; channels <= 4; ++channels)
      for (const Case& c : cases) {
        const cv::Mat src = random_image(c.w, c.h, channels, rng);
        const cv::Mat want = ref_resize(src, c.ow, c.oh, filter);
        INFO(filter << " C=" << channels << " " << c.w << "x" << c.h << " -> " << c.ow << "x" << c.oh);
        CHECK(same(resize_like_pil(src, c.ow, c.oh, filter), want));
        // An off-centre region with odd offsets.
        const cv::Rect roi(c.ow / 3, c.oh / 4, std::max(1, c.ow - c.ow / 3 - c.ow / 5), std::max(1, c.oh - c.oh / 4 - c.oh / 7));
        CHECK(same(resize_like_pil(src, c.ow, c.oh, filter, roi), want(roi)));
      }
}

TEST_CASE("vectorised resize_like_pil reads strided (non-continuous) input", "[image][resize]") {
  std::mt19937 rng(7);
  const cv::Mat big = random_image(411, 300, 3, rng);
  const cv::Mat view = big(cv::Rect(3, 5, 377, 281));  // rows are 411 * 3 bytes apart
  REQUIRE_FALSE(view.isContinuous());
  const cv::Mat want = ref_resize(view.clone(), 249, 185, "bicubic");
  CHECK(same(resize_like_pil(view, 249, 185, "bicubic"), want));
  const cv::Rect centre(12, 0, 224, 185);
  CHECK(same(resize_like_pil(view, 249, 185, "bicubic", centre), want(centre)));
}

TEST_CASE("vectorised resize_like_pil keeps saturating extremes exact", "[image][resize]") {
  // Black/white edges drive the bicubic and lanczos lobes past 0 and 255: the clipping must match.
  cv::Mat src(37, 53, CV_8UC3);
  for (int y = 0; y < src.rows; ++y)
    for (int i = 0; i < src.cols * 3; ++i) src.ptr<uint8_t>(y)[i] = ((i / 3 + y) / 2) % 2 ? 255 : 0;
  for (const std::string filter : {"bicubic", "lanczos"}) {
    CHECK(same(resize_like_pil(src, 101, 71, filter), ref_resize(src, 101, 71, filter)));
    CHECK(same(resize_like_pil(src, 19, 13, filter), ref_resize(src, 19, 13, filter)));
  }
}
