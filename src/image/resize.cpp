// Separable resampling that reproduces Pillow's Image.resize on 8-bit images bit for bit: the same
// filters and supports, the support widened by the scale when downscaling (antialiasing), the same
// double-precision coefficient computation and normalisation, 22-bit fixed-point taps, and 8-bit
// rounding and clipping after the horizontal pass and again after the vertical one.
#include <opencv2/core.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "image/preprocess.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

struct Filter {
  double (*fn)(double);
  double support;
};

double box_filter(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_filter(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * M_PI;
  // Pillow writes the window constants as float literals; keep them float so the doubles agree.
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));
}

// Keys' cubic convolution with a = -0.5 (Pillow's BICUBIC); the expression order matters for exactness.
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos_filter(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

Filter filter_for(const std::string& name) {
  if (name == "bicubic") return {bicubic_filter, 2.0};
  if (name == "bilinear") return {bilinear_filter, 1.0};
  if (name == "lanczos") return {lanczos_filter, 3.0};
  if (name == "hamming") return {hamming_filter, 1.0};
  if (name == "box") return {box_filter, 0.5};
  throw Error(ErrorCode::Unsupported,
              "interpolation '" + name + "' is not supported (bicubic, bilinear, lanczos, hamming, box)");
}

constexpr int kPrecisionBits = 32 - 8 - 2;  // two spare bits for the filters' negative lobes / overshoot

// Per output index: the first input index, the tap count, and ksize fixed-point weights.
struct Taps {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // [out_size * ksize]
};

// Taps for output indices [out0, out0 + n) of a resize from in_size to out_size.
Taps compute_taps(int in_size, int out_size, const Filter& filter, int out0, int n_out) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;
  Taps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(n_out);
  t.count.resize(n_out);
  t.weights.assign(static_cast<std::size_t>(n_out) * t.ksize, 0);
  std::vector<double> k(t.ksize);
  const double ss = 1.0 / filterscale;
  for (int i = 0; i < n_out; ++i) {
    const double center = (out0 + i + 0.5) * scale;
    // (int) truncation after +0.5 is Pillow's rounding; negatives truncate toward zero and clamp to 0.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    const int n = xmax - xmin;
    double ww = 0.0;
    for (int x = 0; x < n; ++x) {
      const double w = filter.fn((static_cast<double>(x + xmin) - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    int32_t* out = &t.weights[static_cast<std::size_t>(i) * t.ksize];
    for (int x = 0; x < n; ++x) {
      const double w = ww != 0.0 ? k[x] / ww : k[x];
      const double f = w * (1 << kPrecisionBits);
      out[x] = static_cast<int32_t>(w < 0 ? -0.5 + f : 0.5 + f);
    }
    t.first[i] = xmin;
    t.count[i] = n;
  }
  return t;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;  // arithmetic shift: negative sums become negative and clip to 0
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// Rows [row0, row0 + out.rows) of `in` resampled horizontally into `out` (out.cols = output width).
template <int C>
void resample_horizontal(const cv::Mat& in, int row0, cv::Mat& out, const Taps& t) {
  for (int y = 0; y < out.rows; ++y) {
    const uint8_t* src = in.ptr<uint8_t>(row0 + y);
    uint8_t* dst = out.ptr<uint8_t>(y);
    for (int xx = 0; xx < out.cols; ++xx) {
      const int32_t* k = &t.weights[static_cast<std::size_t>(xx) * t.ksize];
      const uint8_t* s = src + static_cast<std::size_t>(t.first[xx]) * C;
      int32_t acc[C];
      for (int c = 0; c < C; ++c) acc[c] = 1 << (kPrecisionBits - 1);
      for (int x = 0; x < t.count[xx]; ++x)
        for (int c = 0; c < C; ++c) acc[c] += s[x * C + c] * k[x];
      for (int c = 0; c < C; ++c) dst[xx * C + c] = clip8(acc[c]);
    }
  }
}

// Vertical pass; `shift` re-bases the taps' row indices onto `in` (the horizontal pass keeps only used rows).
void resample_vertical(const cv::Mat& in, int shift, cv::Mat& out, const Taps& t) {
  const int row_len = out.cols * out.channels();
  std::vector<int32_t> acc(static_cast<std::size_t>(row_len));
  for (int yy = 0; yy < out.rows; ++yy) {
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    const int32_t* k = &t.weights[static_cast<std::size_t>(yy) * t.ksize];
    for (int y = 0; y < t.count[yy]; ++y) {
      const uint8_t* src = in.ptr<uint8_t>(t.first[yy] - shift + y);
      const int32_t w = k[y];
      for (int i = 0; i < row_len; ++i) acc[i] += src[i] * w;  // integer sums: order does not matter
    }
    uint8_t* dst = out.ptr<uint8_t>(yy);
    for (int i = 0; i < row_len; ++i) dst[i] = clip8(acc[i]);
  }
}

}  // namespace

cv::Mat resize_like_pil(const cv::Mat& image, int out_w, int out_h, const std::string& interpolation,
                        const cv::Rect& roi) {
  if (image.empty() || image.depth() != CV_8U || image.channels() < 1 || image.channels() > 4 || image.dims != 2)
    throw Error(ErrorCode::InvalidArgument, "resize_like_pil: expects a non-empty 8-bit image with 1-4 channels");
  if (out_w <= 0 || out_h <= 0)
    throw Error(ErrorCode::InvalidArgument,
                "resize_like_pil: invalid output size " + std::to_string(out_w) + "x" + std::to_string(out_h));
  if (roi.width <= 0 || roi.height <= 0 || roi.x < 0 || roi.y < 0 || roi.x > out_w - roi.width ||
      roi.y > out_h - roi.height)
    throw Error(ErrorCode::InvalidArgument, "resize_like_pil: region outside the output image");
  const Filter filter = filter_for(interpolation);
  const int C = image.channels();
  const bool need_h = out_w != image.cols;
  const bool need_v = out_h != image.rows;

  // Input rows the vertical pass reads (all of the region's rows when there is no vertical pass).
  Taps vt;
  int row0 = roi.y, row1 = roi.y + roi.height;
  if (need_v) {
    vt = compute_taps(image.rows, out_h, filter, roi.y, roi.height);
    row0 = vt.first.front();
    row1 = vt.first.back() + vt.count.back();
  }
  cv::Mat mid;  // input rows [row0, row1), the region's output columns
  if (need_h) {
    const Taps ht = compute_taps(image.cols, out_w, filter, roi.x, roi.width);
    mid = cv::Mat(row1 - row0, roi.width, CV_8UC(C));
    switch (C) {
      case 1: resample_horizontal<1>(image, row0, mid, ht); break;
      case 2: resample_horizontal<2>(image, row0, mid, ht); break;
      case 3: resample_horizontal<3>(image, row0, mid, ht); break;
      default: resample_horizontal<4>(image, row0, mid, ht); break;
    }
  } else {
    mid = image(cv::Rect(roi.x, row0, roi.width, row1 - row0));
  }
  if (!need_v) return mid.clone();
  cv::Mat out(roi.height, roi.width, CV_8UC(C));
  resample_vertical(mid, row0, out, vt);
  return out;
}

cv::Mat resize_like_pil(const cv::Mat& image, int out_w, int out_h, const std::string& interpolation) {
  return resize_like_pil(image, out_w, out_h, interpolation, cv::Rect(0, 0, out_w, out_h));
}

}  // namespace vitvk
