#include "ops/layernorm.hpp"

#include <cmath>

namespace vitvk::ops {

void layernorm_cpu(const float* x, int rows, int dim, const float* gamma, const float* beta, float eps, float* y,
                   int x_stride, int y_stride) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<long>(r) * x_stride;
    float* yr = y + static_cast<long>(r) * y_stride;
    double mean = 0.0;
    for (int i = 0; i < dim; ++i) mean += xr[i];
    mean /= dim;
    double var = 0.0;
    for (int i = 0; i < dim; ++i) {
      const double t = xr[i] - mean;
      var += t * t;
    }
    var /= dim;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float m = static_cast<float>(mean);
    for (int i = 0; i < dim; ++i) yr[i] = (xr[i] - m) * inv * gamma[i] + beta[i];
  }
}

}  // namespace vitvk::ops
