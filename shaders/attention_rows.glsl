// Shared by the "rows" attention kernels (attention.comp, attention_explain_rows.comp), written for CPU
// drivers such as lavapipe. There a buffer load is a per-lane loop with an exec-mask and bounds check per
// component, while subgroupBroadcast from a constant lane is a register extract. So key and value rows are
// loaded cooperatively, chunk by chunk: lane l of 8 holds K consecutive elements of a W = 8*K-wide chunk,
// and every element reaches every row (lane) by broadcast. Per-row state lives in arrays indexed only by
// unrolled constants, so it stays in registers (or plain stack spills) instead of lavapipe's per-lane
// indexed scratch; HD is a specialization constant that folds the unused tail of those arrays (and every
// `d < HD` test) away. Needs subgroups of at least 8 lanes.
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_ballot : require

#define HDMAX 128  // widest head these kernels handle (the host uses another form above it)
#define R 3        // query rows per invocation (the host's kRowsPerLane): measured best on lavapipe

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64;  // head_dim

layout(binding = 0) readonly buffer QKV { STORE_T qkv[]; };  // [B, N, 3, H, HD]
// Wide view of the same binding: 4 floats, or 8 halves packed in a uvec4, per load.
#if VITVK_FP16
#define WIDE_K 8
#define WIDE_T uvec4
const bool WIDE = HD % 8 == 0;  // every head row starts on a 16-byte boundary
layout(binding = 0) readonly buffer QKVW { uvec4 qkvw[]; };
float wide_elem(uvec4 v, uint k) { return unpackHalf2x16(v[k / 2])[k % 2]; }
#else
#define WIDE_K 4
#define WIDE_T vec4
const bool WIDE = HD % 4 == 0;
layout(binding = 0) readonly buffer QKVW { vec4 qkvw[]; };
float wide_elem(vec4 v, uint k) { return v[k]; }
#endif
#define WIDE_W (8 * WIDE_K)

// Runs STMT with `d` (element index) and `x` (element value) for every element of the HD-vector at BASE,
// the loads spread over lanes as described above; `lane` must be gl_SubgroupInvocationID % 8.
#define FOR_EACH_ELEM(BASE, STMT)                                                         \
  if (WIDE) {                                                                             \
    [[unroll]] for (uint c = 0; c < HDMAX / WIDE_W; ++c) {                                \
      if (c * WIDE_W < HD) {                                                              \
        const uint e0 = c * WIDE_W + lane * WIDE_K;                                       \
        const WIDE_T v = e0 < HD ? qkvw[((BASE) + e0) / WIDE_K] : WIDE_T(0);              \
        [[unroll]] for (uint u = 0; u < 8; ++u) {                                         \
          const WIDE_T vb = subgroupBroadcast(v, u);                                      \
          [[unroll]] for (uint k = 0; k < WIDE_K; ++k) {                                  \
            const uint d = c * WIDE_W + u * WIDE_K + k;                                   \
            if (d < HD) {                                                                 \
              const float x = wide_elem(vb, k);                                           \
              STMT                                                                        \
            }                                                                             \
          }                                                                               \
        }                                                                                 \
      }                                                                                   \
    }                                                                                     \
  } else {                                                                                \
    [[unroll]] for (uint c = 0; c < HDMAX / 8; ++c) {                                     \
      if (c * 8 < HD) {                                                                   \
        const float v = c * 8 + lane < HD ? float(qkv[(BASE) + c * 8 + lane]) : 0.0;      \
        [[unroll]] for (uint u = 0; u < 8; ++u) {                                         \
          const uint d = c * 8 + u;                                                       \
          if (d < HD) {                                                                   \
            const float x = subgroupBroadcast(v, u);                                      \
            STMT                                                                          \
          }                                                                               \
        }                                                                                 \
      }                                                                                   \
    }                                                                                     \
  }

// q[R0 * HDMAX + d] = scale * (the HD-vector at ROW), each invocation its own row.
#define LOAD_ROW(R0, ROW, SCALE)                                                          \
  [[unroll]] for (uint d = 0; d < HDMAX; d += WIDE_K) {                                   \
    if (d < HD) {                                                                         \
      if (WIDE) {                                                                         \
        const WIDE_T v = qkvw[((ROW) + d) / WIDE_K];                                      \
        [[unroll]] for (uint k = 0; k < WIDE_K; ++k) q[(R0) * HDMAX + d + k] = wide_elem(v, k) * (SCALE); \
      } else {                                                                            \
        [[unroll]] for (uint k = 0; k < WIDE_K; ++k)                                      \
          if (d + k < HD) q[(R0) * HDMAX + d + k] = float(qkv[(ROW) + d + k]) * (SCALE);  \
      }                                                                                   \
    }                                                                                     \
  }
