#pragma once
// Rotary position embedding (RoPE) on the patch tokens' queries and keys, in place inside the fused qkv
// projection's output (timm EvaAttention with a rope: the prefix tokens -- class, registers -- keep theirs).
// Each query/key vector is cut into pairs of elements, and each pair is rotated by an angle that depends on the
// token's position: out = x * cos + rot(x) * sin, with per-element tables sin/cos [patch tokens, head_dim].
// Pairs are adjacent elements (2i, 2i+1) (timm's default, EVA-02) or, with rotate_half, the two halves of the
// head (i, i + head_dim/2) (timm's rope_rotate_half). rot(x) = (-x_b, x_a) for a pair (x_a, x_b).
#include "vk/buffer.hpp"
#include "vk/op_context.hpp"

namespace vitvk::ops {

struct RopeShape {
  int batch = 1;
  int tokens = 0;   // per image, prefix included
  int heads = 0;
  int head_dim = 0;  // even
  int prefix = 0;    // leading tokens of each image left alone
  bool rotate_half = false;
  int dim() const { return heads * head_dim; }
  int rotated() const { return tokens - prefix; }  // rows of the tables
};

// qkv: [batch, tokens, 3, heads, head_dim]; q (part 0) and k (part 1) of every token >= prefix rotated with the
// tables' row (token - prefix), every head alike; v and the prefix tokens are left alone.
// sin, cos: [tokens - prefix, head_dim], fp32 (model/rope_tables.hpp derives them as timm does).
void rope_cpu(float* qkv, const RopeShape& s, const float* sin, const float* cos);

// Vulkan (rope.vk.cpp, shaders/rope.comp): one invocation per rotated pair; qkv in the storage precision, the
// tables fp32 in both precisions (an angle's sine rounded to fp16 would cost more than the rest of the op saves).
void rope_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const RopeShape& s, const gpu::Slice& sin,
             const gpu::Slice& cos);

}  // namespace vitvk::ops
