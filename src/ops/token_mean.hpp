#pragma once
// Mean over tokens: GFNet's head input (global average pooling of the final-normed tokens).

namespace vitvk::ops {

// Where the rows are: row n of image b starts at offset + b * image_stride + n * row_stride (elements; strides 0:
// contiguous [B, N, D]), so that e.g. the patch rows of a [B, T, D] tensor with prefix tokens can be averaged.
struct TokenMeanShape {
  int batch = 1, tokens = 0, dim = 0;
  long image_stride = 0, row_stride = 0, offset = 0;
  long image_step() const { return image_stride ? image_stride : long(tokens) * row_step(); }
  long row_step() const { return row_stride ? row_stride : dim; }
};

// y: [B, D] contiguous, fp32 accumulation.
void token_mean_cpu(const float* x, const TokenMeanShape& s, float* y);

}  // namespace vitvk::ops

#include "vk/op_context.hpp"

namespace vitvk::ops {

// Vulkan (token_mean.vk.cpp, shaders/token_mean.comp); x and y in the storage precision.
// s.offset is applied inside the shader: x may be bound from an aligned start before the rows.
void token_mean_vk(gpu::OpContext& oc, const gpu::Slice& x, const TokenMeanShape& s, const gpu::Slice& y);

}  // namespace vitvk::ops
