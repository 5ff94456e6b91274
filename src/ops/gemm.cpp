#include "ops/gemm.hpp"

#include <cblas.h>

#include <cmath>

namespace vitvk::ops {

float gelu(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f)); }

void linear_cpu(const float* x, int M, int K, const float* w, const float* b, int N, float* y, Epilogue ep) {
  const float beta = ep == Epilogue::Residual ? 1.0f : 0.0f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, beta, y, N);
  for (int i = 0; i < M; ++i) {
    float* row = y + static_cast<long>(i) * N;
    if (b)
      for (int j = 0; j < N; ++j) row[j] += b[j];
    if (ep == Epilogue::Gelu)
      for (int j = 0; j < N; ++j) row[j] = gelu(row[j]);
  }
}

}  // namespace vitvk::ops
