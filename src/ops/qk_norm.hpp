#pragma once
// qk-norm: LayerNorm over head_dim of every head's query and key, in place inside the fused qkv projection's
// output (timm Attention with qk_norm=True: q_norm / k_norm, one [head_dim] weight shared by the heads).
#include "vk/buffer.hpp"
#include "vk/op_context.hpp"

namespace vitvk::ops {

struct QkNormShape {
  int rows = 0;      // batch * tokens
  int heads = 0;
  int head_dim = 0;
  int dim() const { return heads * head_dim; }
};

// qkv: [rows, 3, heads, head_dim]; q (part 0) is normalised with q_gamma/q_beta, k (part 1) with k_gamma/k_beta
// (each [head_dim]); v is left alone.
void qk_norm_cpu(float* qkv, const QkNormShape& s, const float* q_gamma, const float* q_beta, const float* k_gamma,
                 const float* k_beta, float eps);

// Vulkan (qk_norm.vk.cpp, shaders/qk_norm.comp): one invocation per (row, q|k, head); storage precision, fp32 math.
void qk_norm_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const QkNormShape& s, const gpu::Slice& q_gamma,
                const gpu::Slice& q_beta, const gpu::Slice& k_gamma, const gpu::Slice& k_beta, float eps);

}  // namespace vitvk::ops
