#include "ops/rope.hpp"

namespace vitvk::ops {

void rope_cpu(float* qkv, const RopeShape& s, const float* sin, const float* cos) {
  const int hd = s.head_dim, half = hd / 2, D = s.dim();
  for (int b = 0; b < s.batch; ++b)
    for (int t = s.prefix; t < s.tokens; ++t) {
      const float* sn = sin + static_cast<long>(t - s.prefix) * hd;
      const float* cs = cos + static_cast<long>(t - s.prefix) * hd;
      float* row = qkv + (static_cast<long>(b) * s.tokens + t) * 3 * D;
      for (int part = 0; part < 2; ++part)
        for (int h = 0; h < s.heads; ++h) {
          float* v = row + part * D + h * hd;
          for (int i = 0; i < half; ++i) {
            // The pair (a, b) -> (a cos_a - b sin_a, b cos_b + a sin_b): rot(x) = (-x_b, x_a).
            const int ia = s.rotate_half ? i : 2 * i, ib = s.rotate_half ? i + half : 2 * i + 1;
            const float xa = v[ia], xb = v[ib];
            v[ia] = xa * cs[ia] - xb * sn[ia];
            v[ib] = xb * cs[ib] + xa * sn[ib];
          }
        }
    }
}

}  // namespace vitvk::ops
