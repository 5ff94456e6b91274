#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Fused multi-head attention, "rows" form for CPU drivers (lavapipe). Each invocation owns R query rows of
// one (image, head); a workgroup is one subgroup. On lavapipe a buffer load is a per-lane loop with a bounds
// check, while subgroupBroadcast from a constant lane is a register extract: so keys and values are loaded
// cooperatively, lane l holding elements 4l..4l+3 of a 32-wide chunk (8 lanes x vec4), and handed to every
// row by broadcast; each loaded element then feeds 8 lanes x R rows of multiply-adds. All per-row state
// (q, acc, the tile's scores) is indexed only by unrolled constants, so it stays out of memory; HD (head_dim,
// <= HDMAX) is a specialization constant that folds the unused tail away. Heads whose width is not a multiple
// of 4 take a scalar path (8-wide chunks). Softmax is online (running max / sum), no N-sized array; its tile
// is a single key here: on lavapipe unrolled multi-key tiles measured slower (and compile far longer) than
// one rescale per key. Needs subgroups of at least 8 lanes.
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_ballot : require
#include "common.glsl"

#define R 3        // query rows per invocation (the host's kRowsPerLane): 3 measured best on lavapipe
#define HDMAX 128  // widest head this form handles (the host falls back to attention_tiled above it)

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64;  // head_dim
const bool VEC = HD % 4 == 0;                // rows and heads start on vec4 boundaries

layout(binding = 0) readonly buffer QKV { STORE_T qkv[]; };  // [B, N, 3, H, HD]
layout(binding = 0) readonly buffer QKV4 { STORE_V4 qkv4[]; };
layout(binding = 1) writeonly buffer O { STORE_T o[]; };  // [B, N, H*HD]
layout(binding = 1) writeonly buffer O4 { STORE_V4 o4[]; };
layout(push_constant) uniform Push {
  uint tokens, heads;
  float scale;
} p;

float q[R * HDMAX], acc[R * HDMAX];

// Chunk c (elements c*W .. c*W+W-1, W = 32 or 8) of the HD-vector at `base`, spread over lanes 0..7.
vec4 load_chunk(uint base, uint c, uint lane) {
  if (VEC) {
    const uint e = c * 32 + lane * 4;
    return e < HD ? vec4(qkv4[(base + e) / 4]) : vec4(0.0);
  }
  const uint e = c * 8 + lane;
  return vec4(e < HD ? float(qkv[base + e]) : 0.0, 0.0, 0.0, 0.0);
}

// dot[r] += q[r] . key, for the key row at kr. W elements per chunk, U lanes x K components.
#define SCORE_CHUNKS(W, U, K)                                                   \
  [[unroll]] for (uint c = 0; c < HDMAX / W; ++c) {                             \
    if (c * W < HD) {                                                           \
      const vec4 kv = load_chunk(kr, c, lane);                                  \
      [[unroll]] for (uint u = 0; u < U; ++u) {                                 \
        const vec4 kb = subgroupBroadcast(kv, u);                               \
        [[unroll]] for (uint k = 0; k < K; ++k) {                               \
          const uint d = c * W + u * K + k;                                     \
          if (d < HD) {                                                         \
            [[unroll]] for (uint r = 0; r < R; ++r) dot[r] += q[r * HDMAX + d] * kb[k]; \
          }                                                                     \
        }                                                                       \
      }                                                                         \
    }                                                                           \
  }

// acc[r] += e[r] * value, for the value row at vr.
#define PV_CHUNKS(W, U, K)                                                      \
  [[unroll]] for (uint c = 0; c < HDMAX / W; ++c) {                             \
    if (c * W < HD) {                                                           \
      const vec4 vv = load_chunk(vr, c, lane);                                  \
      [[unroll]] for (uint u = 0; u < U; ++u) {                                 \
        const vec4 vb = subgroupBroadcast(vv, u);                               \
        [[unroll]] for (uint k = 0; k < K; ++k) {                               \
          const uint d = c * W + u * K + k;                                     \
          if (d < HD) {                                                         \
            [[unroll]] for (uint r = 0; r < R; ++r) acc[r * HDMAX + d] += e[r] * vb[k]; \
          }                                                                     \
        }                                                                       \
      }                                                                         \
    }                                                                           \
  }

void main() {
  const uint N = p.tokens, D = p.heads * HD, stride = 3 * D, WG = gl_WorkGroupSize.x;
  const uint h = gl_WorkGroupID.y, img = gl_WorkGroupID.z * N * stride;
  const uint i0 = gl_WorkGroupID.x * WG * R + gl_LocalInvocationID.x;  // rows i0 + r * WG
  const uint kbase = img + D + h * HD, vbase = img + 2 * D + h * HD;
  const uint lane = gl_SubgroupInvocationID % 8;

  float m[R], l[R];
  [[unroll]] for (uint r = 0; r < R; ++r) {
    // Rows past N compute a duplicate of the last row (every lane takes part in the broadcasts), store nothing.
    const uint qrow = img + min(i0 + r * WG, N - 1) * stride + h * HD;
    [[unroll]] for (uint d = 0; d < HDMAX; d += 4) {
      if (d < HD) {
        vec4 v;
        if (VEC) {
          v = vec4(qkv4[(qrow + d) / 4]);
        } else {
          [[unroll]] for (uint k = 0; k < 4; ++k) v[k] = d + k < HD ? float(qkv[qrow + d + k]) : 0.0;
        }
        [[unroll]] for (uint k = 0; k < 4; ++k) {
          q[r * HDMAX + d + k] = v[k] * p.scale;
          acc[r * HDMAX + d + k] = 0.0;
        }
      }
    }
    m[r] = -1.0 / 0.0;
    l[r] = 0.0;
  }

  for (uint j = 0; j < N; ++j) {
    const uint kr = kbase + j * stride, vr = vbase + j * stride;
    float dot[R], e[R];
    [[unroll]] for (uint r = 0; r < R; ++r) dot[r] = 0.0;
    if (VEC) {
      SCORE_CHUNKS(32, 8, 4)
    } else {
      SCORE_CHUNKS(8, 8, 1)
    }
    [[unroll]] for (uint r = 0; r < R; ++r) {
      const float mn = max(m[r], dot[r]);
      const float corr = exp(m[r] - mn);  // 0 for the first key (m = -inf)
      e[r] = exp(dot[r] - mn);
      l[r] = l[r] * corr + e[r];
      m[r] = mn;
      [[unroll]] for (uint d = 0; d < HDMAX; ++d)
        if (d < HD) acc[r * HDMAX + d] *= corr;
    }
    if (VEC) {
      PV_CHUNKS(32, 8, 4)
    } else {
      PV_CHUNKS(8, 8, 1)
    }
  }

  [[unroll]] for (uint r = 0; r < R; ++r) {
    const uint i = i0 + r * WG;
    if (i < N) {
      const float inv = 1.0 / l[r];
      const uint orow = (gl_WorkGroupID.z * N + i) * D + h * HD;
      [[unroll]] for (uint d = 0; d < HDMAX; d += 4) {
        if (d < HD) {
          if (VEC) {
            o4[(orow + d) / 4] = STORE_V4(vec4(acc[r * HDMAX + d], acc[r * HDMAX + d + 1], acc[r * HDMAX + d + 2],
                                               acc[r * HDMAX + d + 3]) * inv);
          } else {
            [[unroll]] for (uint k = 0; k < 4; ++k)
              if (d + k < HD) o[orow + d + k] = STORE_T(acc[r * HDMAX + d + k] * inv);
          }
        }
      }
    }
  }
}
