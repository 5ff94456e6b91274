#pragma once
// Element-wise MLP activations other than exact GELU (which the linear layers fuse as an epilogue):
// tanh-approximated GELU (SigLIP-2 / so400m towers) and QuickGELU, x * sigmoid(1.702 x) (OpenAI CLIP).
// A separate pass after the linear: these families are rare, and one pass over the hidden layer costs a few
// percent of its GEMM.
#include <cstddef>

#include "vk/buffer.hpp"
#include "vk/op_context.hpp"

namespace vitvk::ops {

enum class Activation { Gelu, GeluTanh, QuickGelu };
const char* to_string(Activation a) noexcept;

// In place over n floats.
void activation_cpu(float* x, std::size_t n, Activation a);

// Vulkan (activation.vk.cpp, shaders/activation.comp); x in the storage precision, math in fp32. GeluTanh and
// QuickGelu only (exact GELU is linear_vk's Epilogue::Gelu).
void activation_vk(gpu::OpContext& oc, const gpu::Slice& x, std::size_t n, Activation a);

}  // namespace vitvk::ops
