#pragma once
// LayerNorm over the last dimension, fp32 accumulation (two-pass mean/variance, biased variance as PyTorch).

namespace vitvk::ops {

// x, y: rows of `dim` floats at the given row strides (in floats); y may alias x.
void layernorm_cpu(const float* x, int rows, int dim, const float* gamma, const float* beta, float eps, float* y,
                   int x_stride, int y_stride);

}  // namespace vitvk::ops

#include "vk/op_context.hpp"

namespace vitvk::ops {

// Vulkan dispatch of the same op (shaders/layernorm.comp); strides in elements.
void layernorm_vk(gpu::OpContext& oc, const gpu::Slice& x, const gpu::Slice& gamma, const gpu::Slice& beta,
                  const gpu::Slice& y, int rows, int dim, float eps, int x_stride, int y_stride);

}  // namespace vitvk::ops
