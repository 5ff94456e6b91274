#pragma once
// The body of the image fuzz targets (fuzz_image, fuzz_heif, fuzz_gif: one decode entry point, decode_image_bytes,
// which routes by content; the targets differ in their seeds and dictionaries, so each spends its time on its
// own formats): image decoding (our header probe, then OpenCV's, libheif's or giflib's decoder) and timm
// preprocessing on arbitrary bytes. Only vitvk::Error may escape; an accepted image must preprocess into finite
// values inside the range that normalising 0..255 can produce.
#include <opencv2/core.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "image/preprocess.hpp"
#include "vitvk/error.hpp"

namespace {

// The last input byte picks one of four eval transforms (it stays part of the image bytes too).
vitvk::PreprocessConfig config_for(uint8_t selector) {
  vitvk::PreprocessConfig c;
  switch (selector & 3) {
    case 0: c.height = c.width = 32; break;  // bicubic, crop_pct 0.875 (DeiT)
    case 1: c.height = c.width = 24; c.interpolation = "bilinear"; c.crop_pct = 0.9f; break;
    case 2: c.height = 16; c.width = 40; c.crop_pct = 1.0f; break;  // non-square: ResizeKeepRatio
    default: c.height = c.width = 20; c.crop_pct = 1.6f; c.mean = {0.5f, 0.5f, 0.5f}; c.std = {0.5f, 0.5f, 0.5f}; break;
  }
  return c;
}

}  // namespace

// Defines the libFuzzer entry points in the target that includes this header.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cv::setNumThreads(0);  // single-threaded: reproducible, and no pool threads for the leak checker
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  vitvk::DecodeLimits limits;
  limits.max_pixels = 1u << 22;  // keeps each run fast; the limit logic is the same at any value
  try {
    const cv::Mat rgb = vitvk::decode_image_bytes(std::span<const uint8_t>(data, size), "fuzz.img", limits);
    FUZZ_CHECK(rgb.type() == CV_8UC3 && !rgb.empty());
    FUZZ_CHECK(static_cast<uint64_t>(rgb.cols) * static_cast<uint64_t>(rgb.rows) <= limits.max_pixels);
    const vitvk::PreprocessConfig cfg = config_for(data[size - 1]);
    vitvk::CropGeometry g;
    const auto x = vitvk::preprocess(rgb, cfg, &g);
    FUZZ_CHECK(x.size() == static_cast<std::size_t>(3 * cfg.height * cfg.width));
    FUZZ_CHECK(g.orig_w == rgb.cols && g.orig_h == rgb.rows && g.crop_w == cfg.width && g.crop_h == cfg.height);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const int c = static_cast<int>(i / (x.size() / 3));
      const float lo = (0.f - cfg.mean[c]) / cfg.std[c] - 1e-4f, hi = (1.f - cfg.mean[c]) / cfg.std[c] + 1e-4f;
      FUZZ_CHECK(std::isfinite(x[i]) && x[i] >= lo && x[i] <= hi);
    }
  } catch (const vitvk::Error&) {
  }
  return 0;
}
