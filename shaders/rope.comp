#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Rotary position embedding in place on q and k of qkv [batch, tokens, 3, heads, head_dim] (ops/rope.hpp): one
// invocation per rotated pair (image, patch token, q|k, head, pair); the prefix tokens and v are not touched.
// The sin/cos tables [tokens - prefix, head_dim] are fp32 in both storage precisions.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) buffer Qkv { STORE_T qkv[]; };
layout(binding = 1) readonly buffer Sin { float sin_t[]; };
layout(binding = 2) readonly buffer Cos { float cos_t[]; };
layout(push_constant) uniform Push {
  uint pairs, tokens, prefix, heads, head_dim, rotate_half;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.pairs) return;
  const uint half_d = p.head_dim / 2u, rotated = p.tokens - p.prefix;
  const uint pair = i % half_d;
  const uint h = (i / half_d) % p.heads;
  const uint part = (i / (half_d * p.heads)) % 2u;
  const uint r = (i / (half_d * p.heads * 2u)) % rotated;  // the table row
  const uint b = i / (half_d * p.heads * 2u * rotated);
  const uint dim = p.heads * p.head_dim;
  const uint base = ((b * p.tokens + p.prefix + r) * 3u + part) * dim + h * p.head_dim;
  const uint ia = p.rotate_half != 0u ? pair : 2u * pair;
  const uint ib = p.rotate_half != 0u ? pair + half_d : 2u * pair + 1u;
  const uint t = r * p.head_dim;
  const float xa = float(qkv[base + ia]), xb = float(qkv[base + ib]);
  qkv[base + ia] = STORE_T(xa * cos_t[t + ia] - xb * sin_t[t + ia]);
  qkv[base + ib] = STORE_T(xb * cos_t[t + ib] + xa * sin_t[t + ib]);
}
