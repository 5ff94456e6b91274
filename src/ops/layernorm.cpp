#include "ops/layernorm.hpp"

#include <cmath>

#include "core/simd.hpp"  // VITVK_SIMD_CLONES

namespace vitvk::ops {
namespace {

constexpr int kLanes = 16;  // independent partial sums: the reductions vectorize without reassociation flags

inline float lane_sum(const float* x, int n) {
  float acc[kLanes] = {};
  int i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[i + l];
  float s = 0.0f;
  for (; i < n; ++i) s += x[i];
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  return s;
}

}  // namespace

VITVK_SIMD_CLONES static void layernorm_cpu_simd(const float* x, int rows, int dim, const float* gamma, const float* beta,
                                     float eps, float* y, int x_stride, int y_stride) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<long>(r) * x_stride;
    float* yr = y + static_cast<long>(r) * y_stride;
    const float mean = lane_sum(xr, dim) / dim;
    float acc[kLanes] = {};
    int i = 0;
    for (; i + kLanes <= dim; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float t = xr[i + l] - mean;
        acc[l] += t * t;
      }
    float var = 0.0f;
    for (; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    for (int l = 0; l < kLanes; ++l) var += acc[l];
    const float inv = 1.0f / std::sqrt(var / dim + eps);
    for (int j = 0; j < dim; ++j) yr[j] = (xr[j] - mean) * inv * gamma[j] + beta[j];
  }
}

// Plain wrappers: a cloned function's ifunc resolver would otherwise be exported from the shared library
// whatever its visibility; internal-linkage clones keep it local.
void layernorm_cpu(const float* x, int rows, int dim, const float* gamma, const float* beta,
                                     float eps, float* y, int x_stride, int y_stride) { layernorm_cpu_simd(x, rows, dim, gamma, beta, eps, y, x_stride, y_stride); }

}  // namespace vitvk::ops
