#pragma once
// Mean over tokens: GFNet's head input (global average pooling of the final-normed tokens).

namespace vitvk::ops {

// x: [B, N, D] -> y: [B, D], fp32 accumulation.
void token_mean_cpu(const float* x, int batch, int tokens, int dim, float* y);

}  // namespace vitvk::ops

#include "vk/op_context.hpp"

namespace vitvk::ops {

// Vulkan (token_mean.vk.cpp, shaders/token_mean.comp); x and y in the storage precision.
void token_mean_vk(gpu::OpContext& oc, const gpu::Slice& x, int batch, int tokens, int dim, const gpu::Slice& y);

}  // namespace vitvk::ops
