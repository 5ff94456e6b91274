#pragma once
// Shared pieces of the public-API tests: random-weight model directories and synthetic photos.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/image.hpp"

namespace vitvk::test {

// A tiny random-weight model written as a model directory (config.json + model.safetensors), as users have.
struct TinyModelDir {
  TempDir temp;
  std::filesystem::path dir = temp.path() / "tiny";
  explicit TinyModelDir(bool distilled = false, uint32_t seed = 7) { Model::random(tiny_config(distilled), seed).save(dir); }
  std::string path() const { return dir.string(); }
};

// A deterministic, structured RGB photo (gradients and a bright disc, so different images classify differently).
inline std::vector<std::uint8_t> synthetic_rgb(int w, int h, int seed) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int dx = x - (w * (seed % 3 + 1)) / 4, dy = y - h / 2;
      const bool disc = dx * dx + dy * dy < (w * h) / 16;
      for (int c = 0; c < 3; ++c)
        px[(static_cast<std::size_t>(y) * w + x) * 3 + c] = static_cast<std::uint8_t>(
            disc ? 230 - 40 * c : (x * (3 + seed) + y * (5 + c) + seed * 31 + c * 70 + (x * y) % 17) % 256);
    }
  return px;
}

inline ImageView rgb_view(const std::vector<std::uint8_t>& px, int w, int h) {
  return ImageView{px.data(), w, h, 0, PixelFormat::Rgb8};
}

}  // namespace vitvk::test
