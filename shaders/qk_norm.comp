#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// qk-norm in place: LayerNorm over head_dim of each head of q and k in qkv [rows, 3, heads, head_dim]; one
// invocation per (row, q|k, head), two passes (mean, then variance) over its head_dim values.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) buffer Qkv { STORE_T qkv[]; };
layout(binding = 1) readonly buffer Qg { STORE_T q_gamma[]; };
layout(binding = 2) readonly buffer Qb { STORE_T q_beta[]; };
layout(binding = 3) readonly buffer Kg { STORE_T k_gamma[]; };
layout(binding = 4) readonly buffer Kb { STORE_T k_beta[]; };
layout(push_constant) uniform Push {
  uint rows, heads, head_dim;
  float eps;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.rows * 2u * p.heads) return;
  const uint row = i / (2u * p.heads), part = (i / p.heads) % 2u, h = i % p.heads;
  const uint dim = p.heads * p.head_dim;
  const uint base = row * 3u * dim + part * dim + h * p.head_dim;
  float mean = 0.0;
  for (uint j = 0u; j < p.head_dim; ++j) mean += float(qkv[base + j]);
  mean /= float(p.head_dim);
  float var = 0.0;
  for (uint j = 0u; j < p.head_dim; ++j) {
    const float d = float(qkv[base + j]) - mean;
    var += d * d;
  }
  const float inv = inversesqrt(var / float(p.head_dim) + p.eps);
  for (uint j = 0u; j < p.head_dim; ++j) {
    const float g = part == 0u ? float(q_gamma[j]) : float(k_gamma[j]);
    const float b = part == 0u ? float(q_beta[j]) : float(k_beta[j]);
    qkv[base + j] = STORE_T((float(qkv[base + j]) - mean) * inv * g + b);
  }
}
