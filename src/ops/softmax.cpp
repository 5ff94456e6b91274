#include "ops/softmax.hpp"

#include <algorithm>
#include <cmath>

namespace vitvk::ops {

void softmax_cpu(const float* x, int rows, int cols, float* y) {
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<long>(r) * cols;
    float* yr = y + static_cast<long>(r) * cols;
    const float mx = *std::max_element(xr, xr + cols);
    float sum = 0.f;
    for (int i = 0; i < cols; ++i) {
      yr[i] = std::exp(xr[i] - mx);
      sum += yr[i];
    }
    const float inv = 1.f / sum;
    for (int i = 0; i < cols; ++i) yr[i] *= inv;
  }
}

}  // namespace vitvk::ops
