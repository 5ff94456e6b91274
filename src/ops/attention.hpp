#pragma once
// Multi-head self-attention core: softmax(Q K^T / sqrt(d)) V per head, from a fused qkv projection.

namespace vitvk::ops {

struct AttentionShape {
  int batch = 1;
  int tokens = 0;
  int heads = 0;
  int head_dim = 0;
  int dim() const { return heads * head_dim; }
};

// qkv: [B, N, 3, H, hd] (timm's qkv Linear output); out: [B, N, H*hd].
// fused (nullable): [B, 3, N, N] = mean, max and min over heads of the attention probabilities (explain mode).
void attention_cpu(const float* qkv, const AttentionShape& s, float* out, float* fused);

}  // namespace vitvk::ops
