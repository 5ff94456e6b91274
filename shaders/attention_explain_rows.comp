#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
//! variant bias -DVITVK_BIAS=1
//! variant bias.fp16 -DVITVK_BIAS=1 -DVITVK_FP16=1 requires=FP16
// Explain mode, "rows" form for CPU drivers (see attention_rows.glsl): each invocation owns R query rows of
// one image and walks the heads in order. Per head, a first pass over the keys finds each row's softmax max
// and sum (online), a second recomputes the scores and folds the probabilities into the fp32 maps
// [B, 3, N, N] = mean, max, min over heads, in the same order as the CPU oracle. Every map element has one
// owner invocation, which only reads back what it wrote itself.
#include "common.glsl"
#include "attention_rows.glsl"

layout(binding = 1) buffer F { float f[]; };  // [B, 3, N, N]
#if VITVK_BIAS
// The additive score term [groups, H, N, N], fp32 in both storage precisions: problem z adds group z % groups.
layout(binding = 2) readonly buffer Bias { float bias[]; };
#endif
layout(push_constant) uniform Push {
  uint tokens, heads;
  float scale;
#if VITVK_BIAS
  uint groups;
#endif
} p;

float q[R * HDMAX];

void main() {
  const uint N = p.tokens, H = p.heads, D = H * HD, stride = 3 * D, WG = gl_WorkGroupSize.x, nn = N * N;
  const uint b = gl_WorkGroupID.y, img = b * N * stride;
  const uint i0 = gl_WorkGroupID.x * WG * R + gl_LocalInvocationID.x;  // rows i0 + r * WG
  const uint lane = gl_SubgroupInvocationID % 8;

  for (uint h = 0; h < H; ++h) {
    const uint kbase = img + D + h * HD;
    float m[R], l[R];
#if VITVK_BIAS
    uint brow[R];  // each row's bias row
#endif
    [[unroll]] for (uint r = 0; r < R; ++r) {
      // Rows past N compute a duplicate of the last row (every lane takes part in the broadcasts), store nothing.
      LOAD_ROW(r, img + min(i0 + r * WG, N - 1) * stride + h * HD, p.scale)
#if VITVK_BIAS
      brow[r] = (((b % p.groups) * H + h) * N + min(i0 + r * WG, N - 1)) * N;
#endif
      m[r] = -1.0 / 0.0;
      l[r] = 0.0;
    }
    for (uint j = 0; j < N; ++j) {
      float dot[R];
      [[unroll]] for (uint r = 0; r < R; ++r) dot[r] = 0.0;
      FOR_EACH_ELEM(kbase + j * stride, [[unroll]] for (uint r = 0; r < R; ++r) dot[r] += q[r * HDMAX + d] * x;)
#if VITVK_BIAS
      [[unroll]] for (uint r = 0; r < R; ++r) dot[r] += bias[brow[r] + j];
#endif
      [[unroll]] for (uint r = 0; r < R; ++r) {
        const float mn = max(m[r], dot[r]);
        l[r] = l[r] * exp(m[r] - mn) + exp(dot[r] - mn);
        m[r] = mn;
      }
    }
    const bool first = h == 0, last = h + 1 == H;
    for (uint j = 0; j < N; ++j) {
      float dot[R];
      [[unroll]] for (uint r = 0; r < R; ++r) dot[r] = 0.0;
      FOR_EACH_ELEM(kbase + j * stride, [[unroll]] for (uint r = 0; r < R; ++r) dot[r] += q[r * HDMAX + d] * x;)
#if VITVK_BIAS
      [[unroll]] for (uint r = 0; r < R; ++r) dot[r] += bias[brow[r] + j];
#endif
      [[unroll]] for (uint r = 0; r < R; ++r) {
        const uint i = i0 + r * WG;
        if (i < N) {
          const float x = exp(dot[r] - m[r]) * (1.0 / l[r]);
          const uint at = b * 3 * nn + i * N + j;
          float mean = first ? x : f[at] + x;
          if (last) mean /= float(H);
          f[at] = mean;
          f[at + nn] = first ? x : max(f[at + nn], x);
          f[at + 2 * nn] = first ? x : min(f[at + 2 * nn], x);
        }
      }
    }
  }
}
