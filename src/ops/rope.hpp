#pragma once
// Rotary position embedding (RoPE) on the patch tokens' queries and keys, in place inside the fused qkv
// projection's output (timm EvaAttention with a rope: the prefix tokens -- class, registers -- keep theirs).
// Each query/key vector is cut into pairs of elements, and each pair is rotated by an angle that depends on the
// token's position: out = x * cos + rot(x) * sin, with per-element tables sin/cos [patch tokens, head_dim].
// Pairs are adjacent elements (2i, 2i+1) (timm's default, EVA-02) or, with rotate_half, the two halves of the
// head (i, i + head_dim/2) (timm's rope_rotate_half). rot(x) = (-x_b, x_a) for a pair (x_a, x_b).
#include <vector>

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
// sin, cos: [tokens - prefix, head_dim], fp32.
void rope_cpu(float* qkv, const RopeShape& s, const float* sin, const float* cos);

// Vulkan (rope.vk.cpp, shaders/rope.comp): one invocation per rotated pair; qkv in the storage precision, the
// tables fp32 in both precisions (an angle's sine rounded to fp16 would cost more than the rest of the op saves).
void rope_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const RopeShape& s, const gpu::Slice& sin,
             const gpu::Slice& cos);

// The tables of timm's RotaryEmbeddingCat for a grid_h x grid_w patch grid (row-major tokens), in_pixels=False:
// num_bands = head_dim / 4 frequencies f_j = temperature^(-j / num_bands); a token at grid row y, column x has
// coordinates t_y = (y + offset) * ref_h / grid_h and t_x = (x + offset) * ref_w / grid_w (ref 0: unscaled,
// t = y + offset), and angles t_y f_0 .. t_y f_{nb-1}, t_x f_0 .. t_x f_{nb-1} (the row coordinate first: 'ij'
// indexing), one per pair. Interleaved pairs repeat each angle twice ([a0, a0, a1, a1, ...]); rotate_half lays
// the angles out twice over ([a0, a1, ..., a0, a1, ...]). head_dim must be a multiple of 4.
struct RopeTables {
  std::vector<float> sin, cos;  // [grid_h * grid_w, head_dim] each
};
struct RopeGrid {
  int grid_h = 0, grid_w = 0;
  int ref_h = 0, ref_w = 0;  // ref_feat_shape (0: none)
  double temperature = 10000.0;
  double offset = 0.0;  // rope_grid_offset
  bool rotate_half = false;
};
RopeTables rope_tables_2d(const RopeGrid& g, int head_dim);

}  // namespace vitvk::ops
