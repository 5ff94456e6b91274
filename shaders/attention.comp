#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
//! variant bias -DVITVK_BIAS=1
//! variant bias.fp16 -DVITVK_BIAS=1 -DVITVK_FP16=1 requires=FP16
// Fused multi-head attention, "rows" form for CPU drivers (lavapipe): each invocation owns R query rows of
// one (image, head), a workgroup is one subgroup, and keys / values reach the rows by broadcast (see
// attention_rows.glsl). Softmax is online (running max / sum), so no N-sized array exists anywhere; its tile
// is a single key here, because on lavapipe unrolled multi-key tiles measured slower (and compiled far
// longer) than one rescale per key.
#include "common.glsl"
#include "attention_rows.glsl"

layout(binding = 1) writeonly buffer O { STORE_T o[]; };  // [B, N, H*HD]
#if VITVK_FP16
layout(binding = 1) writeonly buffer OW { uvec4 ow[]; };
#else
layout(binding = 1) writeonly buffer OW { vec4 ow[]; };
#endif
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

float q[R * HDMAX], acc[R * HDMAX];

void main() {
  const uint N = p.tokens, D = p.heads * HD, stride = 3 * D, WG = gl_WorkGroupSize.x;
  const uint h = gl_WorkGroupID.y, img = gl_WorkGroupID.z * N * stride;
  const uint i0 = gl_WorkGroupID.x * WG * R + gl_LocalInvocationID.x;  // rows i0 + r * WG
  const uint kbase = img + D + h * HD, vbase = img + 2 * D + h * HD;
  const uint lane = gl_SubgroupInvocationID % 8;

  float m[R], l[R];
#if VITVK_BIAS
  uint brow[R];  // each row's bias row
#endif
  [[unroll]] for (uint r = 0; r < R; ++r) {
    // Rows past N compute a duplicate of the last row (every lane takes part in the broadcasts), store nothing.
    LOAD_ROW(r, img + min(i0 + r * WG, N - 1) * stride + h * HD, p.scale)
#if VITVK_BIAS
    brow[r] = (((gl_WorkGroupID.z % p.groups) * p.heads + h) * N + min(i0 + r * WG, N - 1)) * N;
#endif
    [[unroll]] for (uint d = 0; d < HDMAX; ++d) acc[r * HDMAX + d] = 0.0;
    m[r] = -1.0 / 0.0;
    l[r] = 0.0;
  }

  for (uint j = 0; j < N; ++j) {
    float dot[R], e[R], corr[R];
    [[unroll]] for (uint r = 0; r < R; ++r) dot[r] = 0.0;
    FOR_EACH_ELEM(kbase + j * stride, [[unroll]] for (uint r = 0; r < R; ++r) dot[r] += q[r * HDMAX + d] * x;)
#if VITVK_BIAS
    [[unroll]] for (uint r = 0; r < R; ++r) dot[r] += bias[brow[r] + j];
#endif
    [[unroll]] for (uint r = 0; r < R; ++r) {
      const float mn = max(m[r], dot[r]);
      corr[r] = exp(m[r] - mn);  // 0 for the first key (m = -inf)
      e[r] = exp(dot[r] - mn);
      l[r] = l[r] * corr[r] + e[r];
      m[r] = mn;
    }
    // The rescale rides along with the value update: acc spills to the stack, so one pass over it, not two.
    FOR_EACH_ELEM(vbase + j * stride,
                  [[unroll]] for (uint r = 0; r < R; ++r) acc[r * HDMAX + d] = acc[r * HDMAX + d] * corr[r] + e[r] * x;)
  }

  [[unroll]] for (uint r = 0; r < R; ++r) {
    const uint i = i0 + r * WG;
    if (i < N) {
      const float inv = 1.0 / l[r];
      const uint orow = (gl_WorkGroupID.z * N + i) * D + h * HD;
      [[unroll]] for (uint d = 0; d < HDMAX; d += WIDE_K) {
        if (d < HD) {
          if (WIDE) {
            const uint a = r * HDMAX + d;
#if VITVK_FP16
            ow[(orow + d) / 8] = uvec4(packHalf2x16(vec2(acc[a], acc[a + 1]) * inv),
                                       packHalf2x16(vec2(acc[a + 2], acc[a + 3]) * inv),
                                       packHalf2x16(vec2(acc[a + 4], acc[a + 5]) * inv),
                                       packHalf2x16(vec2(acc[a + 6], acc[a + 7]) * inv));
#else
            ow[(orow + d) / 4] = vec4(acc[a], acc[a + 1], acc[a + 2], acc[a + 3]) * inv;
#endif
          } else {
            [[unroll]] for (uint k = 0; k < WIDE_K; ++k)
              if (d + k < HD) o[orow + d + k] = STORE_T(acc[r * HDMAX + d + k] * inv);
          }
        }
      }
    }
  }
}
