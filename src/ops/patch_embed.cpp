#include "ops/patch_embed.hpp"

#include <vector>

#include "ops/gemm.hpp"

namespace vitvk::ops {

void patch_embed_cpu(const float* images, const PatchEmbedShape& s, const float* weight, const float* bias,
                     float* tokens, int tokens_per_image, int first_token) {
  const int P = s.patch, G = s.num_patches(), gw = s.grid_w(), K = s.channels * P * P;
  std::vector<float> cols(static_cast<std::size_t>(G) * K);
  for (int b = 0; b < s.batch; ++b) {
    const float* img = images + static_cast<long>(b) * s.channels * s.height * s.width;
    for (int p = 0; p < G; ++p) {
      const int py = p / gw, px = p % gw;
      float* dst = cols.data() + static_cast<long>(p) * K;
      for (int c = 0; c < s.channels; ++c)
        for (int ky = 0; ky < P; ++ky) {
          const float* src = img + (static_cast<long>(c) * s.height + py * P + ky) * s.width + px * P;
          for (int kx = 0; kx < P; ++kx) *dst++ = src[kx];
        }
    }
    float* out = tokens + (static_cast<long>(b) * tokens_per_image + first_token) * s.dim;
    linear_cpu(cols.data(), G, K, weight, bias, s.dim, out, Epilogue::None);
  }
}

}  // namespace vitvk::ops
