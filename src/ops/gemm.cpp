#include "ops/gemm.hpp"

#include <cmath>

#include "ops/cpu_kernels.hpp"

namespace vitvk::ops {

float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

void linear_cpu(const float* x, int M, int K, const float* w, const float* b, int N, float* y, Epilogue ep) {
  linear_tile(x, K, K, w, b, y, N, 0, M, 0, N, ep);
}

}  // namespace vitvk::ops
