#pragma once
// Multi-head self-attention core: softmax(Q K^T / sqrt(d) + bias) V per head, from a fused qkv projection.
// The optional additive bias is what BEiT's relative position bias and Swin's (relative position bias plus
// shifted-window mask) add to the scaled scores: one op with an optional input, not a second attention.

namespace vitvk::ops {

struct AttentionShape {
  int batch = 1;
  int tokens = 0;
  int heads = 0;
  int head_dim = 0;
  // The additive score bias's groups, [bias_groups, H, N, N] fp32: problem b (of `batch`) adds group
  // b % bias_groups. 0: no bias (today's kernels, unchanged).
  int bias_groups = 0;
  int dim() const { return heads * head_dim; }
};

// qkv: [B, N, 3, H, hd] (timm's qkv Linear output); out: [B, N, H*hd].
// fused (nullable): [B, 3, N, N] = mean, max and min over heads of the attention probabilities (explain mode).
// bias: [s.bias_groups, H, N, N], added to the scaled scores before the softmax; null iff s.bias_groups == 0.
void attention_cpu(const float* qkv, const AttentionShape& s, float* out, float* fused, const float* bias = nullptr);

}  // namespace vitvk::ops

#include "vk/op_context.hpp"

namespace vitvk::ops {

// --- Vulkan (attention.vk.cpp, shaders/attention*.comp) ---
// Same contract as attention_cpu: fused attention per head (scaled QK^T, fp32 online softmax, PV);
// fused.size == 0 means no explain output, else [B, 3, N, N] mean/max/min over heads, always fp32
// (host-bound maps, like softmax_vk's output); qkv and out are in the storage precision. bias (size 0: none,
// then s.bias_groups must be 0) is [s.bias_groups, H, N, N] and fp32 in both storage precisions (a mask's
// large negative terms and the bias tables' small differences both want fp32).
void attention_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const AttentionShape& s, const gpu::Slice& out,
                  const gpu::Slice& fused);

// Kernel forms. Auto picks by device: Rows on CPU drivers (lavapipe runs a workgroup as SIMD lanes, where
// loads are costly and subgroup broadcasts cheap), Tiled elsewhere (K/V tiles staged in shared memory).
// Rows needs subgroups of >= 8 lanes and head_dim <= 128; outside that it falls back to Tiled (and Tiled to
// Rows for a head too wide for shared memory). The explicit choices let tests run each form on any device.
enum class AttentionKernel { Auto, Rows, Tiled };
void attention_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const AttentionShape& s, const gpu::Slice& out,
                  const gpu::Slice& fused, AttentionKernel kernel);
// With an additive score bias (every form honours it; its kernels are variants built with VITVK_BIAS).
void attention_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const AttentionShape& s, const gpu::Slice& out,
                  const gpu::Slice& fused, const gpu::Slice& bias, AttentionKernel kernel = AttentionKernel::Auto);

}  // namespace vitvk::ops
