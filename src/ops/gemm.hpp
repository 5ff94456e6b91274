#pragma once
// Linear layer y = x W^T + b (W stored [N, K] as in PyTorch) with fused epilogues.
// CPU reference here; the Vulkan dispatch lives beside it in gemm.vk.cpp, the shader in shaders/gemm.comp.

namespace vitvk::ops {

enum class Epilogue {
  None,      // y = x W^T + b
  Gelu,      // y = gelu(x W^T + b), exact erf form
  Residual,  // y += x W^T + b (y holds the residual stream on entry)
};

float gelu(float x);

// x: [M, K] row-major, w: [N, K], b: [N] or nullptr, y: [M, N].
void linear_cpu(const float* x, int M, int K, const float* w, const float* b, int N, float* y, Epilogue ep);

}  // namespace vitvk::ops
