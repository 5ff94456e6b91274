#include "ops/embed.hpp"

#include <algorithm>

namespace vitvk::ops {

void embed_tokens_cpu(float* tokens, int batch, int T, int D, const float* cls, const float* dist, const float* pos) {
  for (int b = 0; b < batch; ++b) {
    float* t = tokens + static_cast<long>(b) * T * D;
    std::copy(cls, cls + D, t);
    if (dist) std::copy(dist, dist + D, t + D);
    for (long i = 0; i < static_cast<long>(T) * D; ++i) t[i] += pos[i];
  }
}

}  // namespace vitvk::ops
