// timm's eval transform (transforms_imagenet_eval): Resize(floor(size / crop_pct)) -> CenterCrop(size) ->
// ToTensor -> Normalize, with torchvision's integer rounding at each step.
#include "image/preprocess.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "vitvk/error.hpp"

namespace vitvk {
namespace {

[[noreturn]] void invalid(const std::string& what) { throw Error(ErrorCode::InvalidArgument, "preprocess: " + what); }

// crop_pct is stored as float but timm computes with the config's decimal as a Python double: 240 / 0.8 is
// exactly 300 in double but 299.99999 with 0.8f. The shortest decimal that round-trips the float is the
// value the config was written with, so go back through it.
double config_decimal(float v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  double d = v;
  std::from_chars(buf, r.ptr, d);
  return d;
}

// Python's round() on a float: half to even (std::nearbyint in the default rounding mode).
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

int checked_size(double v, const char* what) {
  if (!(v >= 1.0) || v > 1 << 20) invalid(std::string(what) + " out of range (" + std::to_string(v) + ")");
  return static_cast<int>(v);
}

// The resized sides of an image whose aspect ratio is too extreme to resample (one side past 2^20 pixels).
[[noreturn]] void too_extreme(int width, int height, double side) {
  invalid("the aspect ratio of a " + std::to_string(width) + "x" + std::to_string(height) +
          " image is too extreme: resizing it for the model makes a side of " + std::to_string(static_cast<int64_t>(side)) +
          " pixels (the limit is 1048576)");
}

}  // namespace

double CropGeometry::src_x0() const { return static_cast<double>(crop_x) * orig_w / resized_w; }
double CropGeometry::src_y0() const { return static_cast<double>(crop_y) * orig_h / resized_h; }
double CropGeometry::src_x1() const { return static_cast<double>(crop_x + crop_w) * orig_w / resized_w; }
double CropGeometry::src_y1() const { return static_cast<double>(crop_y + crop_h) * orig_h / resized_h; }

CropGeometry plan_crop_geometry(int width, int height, const PreprocessConfig& cfg) {
  if (width <= 0 || height <= 0) invalid("empty image (" + std::to_string(width) + "x" + std::to_string(height) + ")");
  if (cfg.channels != 3) invalid("only 3-channel (RGB) models are supported, config has " + std::to_string(cfg.channels));
  if (cfg.width <= 0 || cfg.height <= 0 || cfg.width > 1 << 16 || cfg.height > 1 << 16)
    invalid("bad input size " + std::to_string(cfg.width) + "x" + std::to_string(cfg.height));
  if (!(cfg.crop_pct > 0.0f) || !std::isfinite(cfg.crop_pct)) invalid("bad crop_pct " + std::to_string(cfg.crop_pct));
  const double crop_pct = config_decimal(cfg.crop_pct);
  const int scale_h = checked_size(std::floor(cfg.height / crop_pct), "resize size");
  const int scale_w = checked_size(std::floor(cfg.width / crop_pct), "resize size");

  CropGeometry g;
  g.orig_w = width;
  g.orig_h = height;
  g.crop_w = cfg.width;
  g.crop_h = cfg.height;
  if (cfg.crop_mode == "squash") {
    g.resized_w = scale_w;
    g.resized_h = scale_h;
  } else if (cfg.crop_mode == "center") {
    if (scale_h == scale_w) {
      // torchvision Resize(int): shorter side to s, longer side int(s * long / short) (truncated).
      const int s = scale_h;
      const bool portrait = width <= height;
      const int64_t shorter = portrait ? width : height, longer = portrait ? height : width;
      const double long_side = static_cast<double>(s * longer) / static_cast<double>(shorter);
      if (long_side > 1 << 20) too_extreme(width, height, long_side);
      const int new_long = checked_size(long_side, "resized side");
      g.resized_w = portrait ? s : new_long;
      g.resized_h = portrait ? new_long : s;
    } else {
      // timm's ResizeKeepRatio (non-square targets): scale by the smaller ratio, Python round() each side.
      const double ratio = std::min(static_cast<double>(height) / scale_h, static_cast<double>(width) / scale_w);
      if (std::max(height, width) / ratio > 1 << 20) too_extreme(width, height, std::max(height, width) / ratio);
      g.resized_h = checked_size(round_half_even(height / ratio), "resized side");
      g.resized_w = checked_size(round_half_even(width / ratio), "resized side");
    }
  } else {
    throw Error(ErrorCode::Unsupported, "preprocess: crop_mode '" + cfg.crop_mode + "' is not supported (center, squash)");
  }
  // torchvision CenterCrop: pad (left = deficit // 2) when smaller than the crop, else int(round(diff / 2.0)).
  g.crop_x = g.resized_w < g.crop_w ? -((g.crop_w - g.resized_w) / 2) : round_half_even((g.resized_w - g.crop_w) / 2.0);
  g.crop_y = g.resized_h < g.crop_h ? -((g.crop_h - g.resized_h) / 2) : round_half_even((g.resized_h - g.crop_h) / 2.0);
  return g;
}

CropGeometry preprocess_into(const cv::Mat& image8, const PreprocessConfig& cfg, std::span<float> out, PixelOrder order) {
  if (image8.empty() || image8.type() != CV_8UC3) invalid("expects a non-empty 8-bit RGB image (CV_8UC3)");
  const CropGeometry g = plan_crop_geometry(image8.cols, image8.rows, cfg);
  const std::size_t plane = static_cast<std::size_t>(g.crop_w) * g.crop_h;
  if (out.size() != 3 * plane)
    invalid("output holds " + std::to_string(out.size()) + " floats, the model input needs " + std::to_string(3 * plane));

  // ToTensor + Normalize in float32, as torch computes them: (v / 255 - mean) / std.
  std::array<std::array<float, 256>, 3> lut{};
  for (int c = 0; c < 3; ++c) {
    if (!(cfg.std[c] != 0.0f)) invalid("std must be non-zero");
    for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) / 255.0f - cfg.mean[c]) / cfg.std[c];
  }

  // The part of the resized image inside the crop; the rest of the crop is torchvision's zero padding.
  const int x0 = std::max(g.crop_x, 0), y0 = std::max(g.crop_y, 0);
  const int x1 = std::min(g.crop_x + g.crop_w, g.resized_w), y1 = std::min(g.crop_y + g.crop_h, g.resized_h);
  const cv::Mat region = resize_like_pil(image8, g.resized_w, g.resized_h, cfg.interpolation, cv::Rect(x0, y0, x1 - x0, y1 - y0));

  // The resize treats channels alike, so a BGR image resamples to the same samples in swapped channels.
  for (int c = 0; c < 3; ++c) {
    const int sc = order == PixelOrder::Bgr ? 2 - c : c;  // where output channel c lies in the source pixels
    float* dst = out.data() + c * plane;
    const float pad = lut[c][0];
    for (int y = 0; y < g.crop_h; ++y) {
      const int ry = g.crop_y + y;
      float* row = dst + static_cast<std::size_t>(y) * g.crop_w;
      if (ry < y0 || ry >= y1) {
        std::fill(row, row + g.crop_w, pad);
        continue;
      }
      const uint8_t* src = region.ptr<uint8_t>(ry - y0);
      for (int x = 0; x < g.crop_w; ++x) {
        const int rx = g.crop_x + x;
        row[x] = (rx < x0 || rx >= x1) ? pad : lut[c][src[(rx - x0) * 3 + sc]];
      }
    }
  }
  return g;
}

std::vector<float> preprocess(const cv::Mat& rgb8, const PreprocessConfig& cfg, CropGeometry* geometry) {
  plan_crop_geometry(rgb8.empty() ? 0 : rgb8.cols, rgb8.rows, cfg);  // validates cfg before allocating
  std::vector<float> out(static_cast<std::size_t>(3) * cfg.width * cfg.height);
  const CropGeometry g = preprocess_into(rgb8, cfg, out);
  if (geometry) *geometry = g;
  return out;
}

}  // namespace vitvk
