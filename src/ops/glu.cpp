#include "ops/glu.hpp"

#include <cmath>

namespace vitvk::ops {

void glu_cpu(const float* x, const GluShape& s, float* y) {
  const long h = s.hidden;
  for (int r = 0; r < s.rows; ++r) {
    const float* g = x + r * 2 * h;
    const float* v = g + h;
    float* o = y + r * h;
    for (long j = 0; j < h; ++j) o[j] = g[j] / (1.0f + std::exp(-g[j])) * v[j];
  }
}

}  // namespace vitvk::ops
