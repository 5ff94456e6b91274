#include "ops/qk_norm.hpp"

#include "ops/layernorm.hpp"

namespace vitvk::ops {

void qk_norm_cpu(float* qkv, const QkNormShape& s, const float* q_gamma, const float* q_beta, const float* k_gamma,
                 const float* k_beta, float eps) {
  const long D = s.dim();
  for (int r = 0; r < s.rows; ++r)
    for (int part = 0; part < 2; ++part) {
      // The heads of one row's q (or k) are consecutive [head_dim] vectors: one strided LayerNorm call.
      float* x = qkv + r * 3 * D + part * D;
      layernorm_cpu(x, s.heads, s.head_dim, part ? k_gamma : q_gamma, part ? k_beta : q_beta, eps, x, s.head_dim,
                    s.head_dim);
    }
}

}  // namespace vitvk::ops
