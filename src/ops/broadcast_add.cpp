#include "ops/broadcast_add.hpp"

namespace vitvk::ops {

void broadcast_add_cpu(float* x, int batch, long n, const float* v) {
  for (int b = 0; b < batch; ++b)
    for (long i = 0; i < n; ++i) x[b * n + i] += v[i];
}

}  // namespace vitvk::ops
