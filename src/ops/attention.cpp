#include "ops/attention.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu_kernels.hpp"
#include "ops/softmax.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void attention_cpu(const float* qkv, const AttentionShape& s, float* out, float* fused, const float* bias) {
  const int N = s.tokens, H = s.heads, hd = s.head_dim, D = s.dim();
  if ((bias != nullptr) != (s.bias_groups > 0) || s.bias_groups < 0)
    throw Error(ErrorCode::InvalidArgument, "attention_cpu: bias and bias_groups disagree (a bias needs bias_groups > 0, none needs 0)");
  if (!fused) {  // no per-head probabilities wanted: score rows a block at a time
    const int block = std::min(N, 64);
    std::vector<float> scratch(static_cast<std::size_t>(block) * N);
    for (int b = 0; b < s.batch; ++b)
      for (int h = 0; h < H; ++h) attention_head_cpu(qkv, s, b, h, 0, N, out, scratch.data(), block, bias);
    return;
  }
  const long row = 3L * D;  // qkv row stride
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::vector<float> p(static_cast<std::size_t>(N) * N);
  const long nn = static_cast<long>(N) * N;
  for (int b = 0; b < s.batch; ++b) {
    const float* base = qkv + b * N * row;
    float* fb = fused ? fused + b * 3 * nn : nullptr;
    for (int h = 0; h < H; ++h) {
      const float* q = base + h * hd;
      const float* k = base + D + h * hd;
      const float* v = base + 2 * D + h * hd;
      const float* bm = attention_bias_matrix(bias, s, b, h);
      if (bm) std::copy_n(bm, nn, p.data());  // the product adds to the bias (beta 1)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, hd, scale, q, row, k, row, bm ? 1.f : 0.f, p.data(), N);
      softmax_cpu(p.data(), N, N, p.data());
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, hd, N, 1.f, p.data(), N, v, row, 0.f,
                  out + static_cast<long>(b) * N * D + h * hd, D);
      if (fb) fuse_head_probs(p.data(), nn, h, H, fb);
    }
  }
}

}  // namespace vitvk::ops
