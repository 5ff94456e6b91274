#pragma once
// Row-wise softmax in fp32 (max-subtracted), used for attention scores and for class probabilities.

namespace vitvk::ops {

// y may alias x.
void softmax_cpu(const float* x, int rows, int cols, float* y);

}  // namespace vitvk::ops

#include "vk/op_context.hpp"

namespace vitvk::ops {

// Vulkan (softmax.vk.cpp, shaders/softmax.comp): output is always fp32 (class probabilities for the host).
void softmax_vk(gpu::OpContext& oc, const gpu::Slice& x, int rows, int cols, const gpu::Slice& y_f32);

}  // namespace vitvk::ops
