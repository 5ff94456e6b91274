// Separable resampling that reproduces Pillow's Image.resize on 8-bit images bit for bit: the same
// filters and supports, the support widened by the scale when downscaling (antialiasing), the same
// double-precision coefficient computation and normalisation, 22-bit fixed-point taps, and 8-bit
// rounding and clipping after the horizontal pass and again after the vertical one.
#include <opencv2/core.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "image/preprocess.hpp"
#include "vitvk/error.hpp"

#include "core/simd.hpp"  // VITVK_SIMD_CLONES

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

// Both passes are integer multiply-adds of 8-bit samples by 22-bit taps into int32 sums started at the
// rounding bias: the order of the additions cannot change a sum, so any vectorisation is bit-exact.
//
// Vertical pass: every tap multiplies a whole contiguous row, so the sums run over the row in chunks held in
// registers. The horizontal pass is made the same shape by transposing a block of kBlock input rows (column
// major: the kBlock rows' samples of one column and channel lie together), so each tap is one contiguous
// multiply-add over C * kBlock lanes.
constexpr int kBlock = 16;

// GCC vector extensions: 16 samples widened to int32 per vector, lowered to AVX-512, AVX2 or SSE2 code by
// each clone. Vectors are only ever locals (never passed by value), so no clone changes a function's ABI.
typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint16_t u16x16 __attribute__((vector_size(32)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

// Sum -> 8-bit sample, as clip8, for 16 lanes; stored to p.
#define VITVK_CLIP_STORE16(p, acc)                                        \
  do {                                                                    \
    i32x16 v_ = (acc) >> kPrecisionBits;                                  \
    const i32x16 zero_ = {};                                              \
    const i32x16 max_ = zero_ + 255;                                      \
    v_ = v_ < zero_ ? zero_ : v_;                                         \
    v_ = v_ > max_ ? max_ : v_;                                           \
    const u8x16 b_ = __builtin_convertvector(v_, u8x16);                  \
    std::memcpy((p), &b_, 16);                                            \
  } while (0)

// 16 samples at p, widened to int32 (in two steps: GCC lowers a 4x widening element by element).
#define VITVK_LOAD16(p) \
  __extension__({                                                         \
    u8x16 b_;                                                             \
    std::memcpy(&b_, (p), 16);                                            \
    __builtin_convertvector(__builtin_convertvector(b_, u16x16), i32x16); \
  })

// out[i] = clip8(bias + sum_t rows[t][i] * k[t]) for i in [0, len).
VITVK_SIMD_CLONES static void vertical_row_simd(const uint8_t* const* rows, const int32_t* k, int taps, int len,
                                                uint8_t* out) {
  const i32x16 bias = i32x16{} + (1 << (kPrecisionBits - 1));
  int i0 = 0;
  for (; i0 + 64 <= len; i0 += 64) {
    i32x16 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    for (int t = 0; t < taps; ++t) {
      const uint8_t* s = rows[t] + i0;
      const int32_t w = k[t];
      a0 += VITVK_LOAD16(s) * w;
      a1 += VITVK_LOAD16(s + 16) * w;
      a2 += VITVK_LOAD16(s + 32) * w;
      a3 += VITVK_LOAD16(s + 48) * w;
    }
    VITVK_CLIP_STORE16(out + i0, a0);
    VITVK_CLIP_STORE16(out + i0 + 16, a1);
    VITVK_CLIP_STORE16(out + i0 + 32, a2);
    VITVK_CLIP_STORE16(out + i0 + 48, a3);
  }
  for (; i0 + 16 <= len; i0 += 16) {
    i32x16 a = bias;
    for (int t = 0; t < taps; ++t) a += VITVK_LOAD16(rows[t] + i0) * k[t];
    VITVK_CLIP_STORE16(out + i0, a);
  }
  for (int i = i0; i < len; ++i) {
    int32_t acc = 1 << (kPrecisionBits - 1);
    for (int t = 0; t < taps; ++t) acc += rows[t][i] * k[t];
    out[i] = clip8(acc);
  }
}

// Horizontal pass of nb <= kBlock rows: `rows[b]` (b < nb) are input rows, `out[b]` their output rows.
// Input columns [xlo, xhi) cover every tap; `block` holds (xhi - xlo) * C * kBlock samples of scratch, widened to
// int32 once here rather than once per tap.
template <int C>
[[gnu::always_inline]] inline void horizontal_block(const uint8_t* const* rows, uint8_t* const* out, int nb, int xlo,
                                                    int xhi, const Taps& t, int n_out, int32_t* block) {
  constexpr int L = C * kBlock;
  static_assert(kBlock == 16, "the transpose below works on 16x16 byte tiles");
  const int n = (xhi - xlo) * C;
  const std::size_t x0 = static_cast<std::size_t>(xlo) * C;
  // 16x16 byte tiles: four rounds of interleaving rows k and k + 8 (low halves, high halves) transpose a tile.
  // Lanes of missing rows (b >= nb) are zero: computed, never stored.
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    u8x16 r[kBlock], o[kBlock];
    for (int b = 0; b < kBlock; ++b) {
      if (b < nb) std::memcpy(&r[b], rows[b] + x0 + i, 16);
      else r[b] = u8x16{};
    }
    for (int round = 0; round < 4; ++round) {
      for (int k = 0; k < 8; ++k) {
        // __builtin_shufflevector (GCC >= 12 and clang): the fuzz and sanitizer builds use clang.
        o[2 * k] = __builtin_shufflevector(r[k], r[k + 8], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        o[2 * k + 1] =
            __builtin_shufflevector(r[k], r[k + 8], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      }
      for (int k = 0; k < kBlock; ++k) r[k] = o[k];
    }
    for (int j = 0; j < 16; ++j) {
      const i32x16 w = __builtin_convertvector(__builtin_convertvector(r[j], u16x16), i32x16);
      std::memcpy(block + static_cast<std::size_t>(i + j) * kBlock, &w, sizeof w);
    }
  }
  for (int b = 0; b < kBlock; ++b)  // the last n % 16 samples of each row
    for (int ii = i; ii < n; ++ii) block[static_cast<std::size_t>(ii) * kBlock + b] = b < nb ? rows[b][x0 + ii] : 0;
  // Column (x, c) of row b is block[((x - xlo) * C + c) * kBlock + b]: lane b of vector c of column x.
  const i32x16 bias = i32x16{} + (1 << (kPrecisionBits - 1));
  for (int xx = 0; xx < n_out; ++xx) {
    i32x16 acc[C];
    for (int c = 0; c < C; ++c) acc[c] = bias;
    const int32_t* p = block + static_cast<std::size_t>(t.first[xx] - xlo) * L;
    const int32_t* k = &t.weights[static_cast<std::size_t>(xx) * t.ksize];
    for (int x = 0; x < t.count[xx]; ++x) {
      const int32_t w = k[x];
      for (int c = 0; c < C; ++c) {
        i32x16 v;
        std::memcpy(&v, p + x * L + c * kBlock, sizeof v);
        acc[c] += v * w;
      }
    }
    uint8_t res[L];
    for (int c = 0; c < C; ++c) VITVK_CLIP_STORE16(res + c * kBlock, acc[c]);
    for (int b = 0; b < nb; ++b)
      for (int c = 0; c < C; ++c) out[b][xx * C + c] = res[c * kBlock + b];
  }
}

VITVK_SIMD_CLONES static void horizontal_block1_simd(const uint8_t* const* rows, uint8_t* const* out, int nb, int xlo,
                                                     int xhi, const Taps& t, int n_out, int32_t* block) {
  horizontal_block<1>(rows, out, nb, xlo, xhi, t, n_out, block);
}
VITVK_SIMD_CLONES static void horizontal_block2_simd(const uint8_t* const* rows, uint8_t* const* out, int nb, int xlo,
                                                     int xhi, const Taps& t, int n_out, int32_t* block) {
  horizontal_block<2>(rows, out, nb, xlo, xhi, t, n_out, block);
}
VITVK_SIMD_CLONES static void horizontal_block3_simd(const uint8_t* const* rows, uint8_t* const* out, int nb, int xlo,
                                                     int xhi, const Taps& t, int n_out, int32_t* block) {
  horizontal_block<3>(rows, out, nb, xlo, xhi, t, n_out, block);
}
VITVK_SIMD_CLONES static void horizontal_block4_simd(const uint8_t* const* rows, uint8_t* const* out, int nb, int xlo,
                                                     int xhi, const Taps& t, int n_out, int32_t* block) {
  horizontal_block<4>(rows, out, nb, xlo, xhi, t, n_out, block);
}

// Rows [row0, row0 + out.rows) of `in` resampled horizontally into `out` (out.cols = output width).
void resample_horizontal(const cv::Mat& in, int row0, cv::Mat& out, const Taps& t) {
  const int C = in.channels();
  int xlo = in.cols, xhi = 0;  // the input columns any tap reads
  for (int xx = 0; xx < out.cols; ++xx) {
    xlo = std::min(xlo, t.first[xx]);
    xhi = std::max(xhi, t.first[xx] + t.count[xx]);
  }
  if (xhi <= xlo) xlo = xhi = 0;  // every output has zero taps (cannot happen for sane sizes): all sums are the bias
  std::vector<int32_t> block(static_cast<std::size_t>(xhi - xlo) * C * kBlock + 1);
  const uint8_t* rows[kBlock];
  uint8_t* dst[kBlock];
  for (int y0 = 0; y0 < out.rows; y0 += kBlock) {
    const int nb = std::min(kBlock, out.rows - y0);
    for (int b = 0; b < nb; ++b) {
      rows[b] = in.ptr<uint8_t>(row0 + y0 + b);
      dst[b] = out.ptr<uint8_t>(y0 + b);
    }
    switch (C) {
      case 1: horizontal_block1_simd(rows, dst, nb, xlo, xhi, t, out.cols, block.data()); break;
      case 2: horizontal_block2_simd(rows, dst, nb, xlo, xhi, t, out.cols, block.data()); break;
      case 3: horizontal_block3_simd(rows, dst, nb, xlo, xhi, t, out.cols, block.data()); break;
      default: horizontal_block4_simd(rows, dst, nb, xlo, xhi, t, out.cols, block.data()); break;
    }
  }
}

// Vertical pass; `shift` re-bases the taps' row indices onto `in` (the horizontal pass keeps only used rows).
void resample_vertical(const cv::Mat& in, int shift, cv::Mat& out, const Taps& t) {
  const int row_len = out.cols * out.channels();
  std::vector<const uint8_t*> rows(static_cast<std::size_t>(t.ksize));
  for (int yy = 0; yy < out.rows; ++yy) {
    for (int y = 0; y < t.count[yy]; ++y) rows[y] = in.ptr<uint8_t>(t.first[yy] - shift + y);
    vertical_row_simd(rows.data(), &t.weights[static_cast<std::size_t>(yy) * t.ksize], t.count[yy], row_len,
                      out.ptr<uint8_t>(yy));
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
    resample_horizontal(image, row0, mid, ht);
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
