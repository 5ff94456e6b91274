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

#include <span>
#include <vector>

#include "vk/op_context.hpp"

namespace vitvk::ops {

// --- Vulkan (gemm.vk.cpp, shaders/gemm*.comp) ---
// Weights are packed once, at upload, into whatever layout this device's kernel variant reads best
// (the identity [N, K] layout is allowed). Packed element count, then the packing itself (fp32 values;
// the caller converts to the storage precision).
std::size_t linear_vk_packed_count(const gpu::DeviceInfo& dev, int N, int K);
std::vector<float> linear_vk_pack(const gpu::DeviceInfo& dev, std::span<const float> w, int N, int K);

// y[m * y_stride + n] (=, gelu(), or +=) sum_k x[m * x_stride + k] * W[n, k] + bias[n], in fp32 accumulation.
// bias.size == 0 means no bias. Residual: y holds the residual stream on entry (read-modify-write).
void linear_vk(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_packed,
               const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep);

}  // namespace vitvk::ops
