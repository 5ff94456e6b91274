#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
//! variant nosg -DVITVK_NO_SUBGROUP_OPS=1
//! variant nosg.fp16 -DVITVK_NO_SUBGROUP_OPS=1 -DVITVK_FP16=1 requires=FP16
//! variant bias -DVITVK_BIAS=1
//! variant bias.fp16 -DVITVK_BIAS=1 -DVITVK_FP16=1 requires=FP16
//! variant bias.nosg -DVITVK_BIAS=1 -DVITVK_NO_SUBGROUP_OPS=1
//! variant bias.nosg.fp16 -DVITVK_BIAS=1 -DVITVK_NO_SUBGROUP_OPS=1 -DVITVK_FP16=1 requires=FP16
// Explain mode: for one (image, query row) per workgroup, the full attention probability row of every head,
// fused over heads into mean, max and min (fp32, [B, 3, N, N]). Invocations stride over keys; per head, a
// first pass finds the row's max and sum (online per invocation, then reduced), a second pass recomputes the
// scores and folds the probabilities into the outputs. Each output element has one owner invocation, which
// reads back only what it wrote itself, so no barriers are needed between heads.
#define VITVK_NEED_REDUCE 1
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer QKV { STORE_T qkv[]; };  // [B, N, 3, H, hd]
layout(binding = 1) buffer F { float f[]; };                 // [B, 3, N, N]
#if VITVK_BIAS
// The additive score term [groups, H, N, N], fp32 in both storage precisions: problem z adds group z % groups.
layout(binding = 2) readonly buffer Bias { float bias[]; };
#endif
layout(push_constant) uniform Push {
  uint tokens, heads, head_dim;
  float scale;
#if VITVK_BIAS
  uint groups;
#endif
} p;

float score(uint qrow, uint krow) {
  float d = 0.0;
  for (uint c = 0; c < p.head_dim; ++c) d += float(qkv[qrow + c]) * float(qkv[krow + c]);
  return d * p.scale;
}

void main() {
  const uint N = p.tokens, H = p.heads, hd = p.head_dim, D = H * hd, stride = 3 * D;
  const uint i = gl_WorkGroupID.x, b = gl_WorkGroupID.y, img = b * N * stride;
  const uint WG = gl_WorkGroupSize.x, lid = gl_LocalInvocationID.x;
  const uint nn = N * N, mean_row = b * 3 * nn + i * N, max_row = mean_row + nn, min_row = mean_row + 2 * nn;
  for (uint h = 0; h < H; ++h) {
    const uint qrow = img + i * stride + h * hd, kbase = img + D + h * hd;
#if VITVK_BIAS
    const uint brow = (((b % p.groups) * H + h) * N + i) * N;
#define SCORE(J) (score(qrow, kbase + (J) * stride) + bias[brow + (J)])
#else
#define SCORE(J) score(qrow, kbase + (J) * stride)
#endif
    float m = -1.0 / 0.0, l = 0.0;
    for (uint j = lid; j < N; j += WG) {
      const float s = SCORE(j);
      const float mn = max(m, s);
      l = l * exp(m - mn) + exp(s - mn);
      m = mn;
    }
    const float M = wg_max(m);
    const float inv = 1.0 / wg_sum(l > 0.0 ? l * exp(m - M) : 0.0);
    for (uint j = lid; j < N; j += WG) {
      const float x = exp(SCORE(j) - M) * inv;
      if (h == 0) {
        f[mean_row + j] = x;
        f[max_row + j] = x;
        f[min_row + j] = x;
      } else {
        f[mean_row + j] += x;
        f[max_row + j] = max(f[max_row + j], x);
        f[min_row + j] = min(f[min_row + j], x);
      }
    }
  }
  for (uint j = lid; j < N; j += WG) f[mean_row + j] /= float(H);
}
