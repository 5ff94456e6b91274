#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
//! variant bias -DVITVK_BIAS=1
//! variant bias.fp16 -DVITVK_BIAS=1 -DVITVK_FP16=1 requires=FP16
// Fused multi-head attention, GPU form (flash-attention style): a workgroup owns WG query rows of one
// (image, head), one row per invocation; it stages tiles of TK keys and values in shared memory (fp32),
// read back as broadcasts, with an online softmax (running max / sum, one rescale per tile).
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64;  // head_dim
layout(constant_id = 2) const uint TK = 32;  // keys per tile: 2 * TK * HD4 vec4s of shared memory
const uint HD4 = (HD + 3) / 4;

layout(binding = 0) readonly buffer QKV { STORE_T qkv[]; };  // [B, N, 3, H, HD]
layout(binding = 1) writeonly buffer O { STORE_T o[]; };     // [B, N, H*HD]
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

shared vec4 sk[TK * HD4], sv[TK * HD4];

vec4 load4(uint base, uint c) {
  vec4 r;
  for (uint k = 0; k < 4; ++k) r[k] = (4 * c + k < HD) ? float(qkv[base + 4 * c + k]) : 0.0;
  return r;
}

void main() {
  const uint N = p.tokens, D = p.heads * HD, stride = 3 * D, WG = gl_WorkGroupSize.x, lid = gl_LocalInvocationID.x;
  const uint h = gl_WorkGroupID.y, img = gl_WorkGroupID.z * N * stride;
  const uint i = gl_WorkGroupID.x * WG + lid;
  const uint qrow = img + min(i, N - 1) * stride + h * HD;
  const uint kbase = img + D + h * HD, vbase = img + 2 * D + h * HD;
#if VITVK_BIAS
  const uint brow = (((gl_WorkGroupID.z % p.groups) * p.heads + h) * N + min(i, N - 1)) * N;
#endif

  vec4 q[HD4], acc[HD4];
  for (uint c = 0; c < HD4; ++c) {
    q[c] = load4(qrow, c) * p.scale;
    acc[c] = vec4(0.0);
  }
  float m = -1.0 / 0.0, l = 0.0;
  float s[TK];
  for (uint j0 = 0; j0 < N; j0 += TK) {
    const uint nt = min(TK, N - j0);
    barrier();  // the previous tile has been consumed
    for (uint x = lid; x < nt * HD4; x += WG) {
      const uint t = x / HD4, c = x % HD4, r = (j0 + t) * stride;
      sk[x] = load4(kbase + r, c);
      sv[x] = load4(vbase + r, c);
    }
    barrier();
    float mt = m;
    for (uint t = 0; t < TK; ++t) {
      if (t < nt) {
        float d = 0.0;
        for (uint c = 0; c < HD4; ++c) d += dot(q[c], sk[t * HD4 + c]);
#if VITVK_BIAS
        d += bias[brow + j0 + t];
#endif
        s[t] = d;
        mt = max(mt, d);
      }
    }
    const float corr = exp(m - mt);
    l *= corr;
    for (uint c = 0; c < HD4; ++c) acc[c] *= corr;
    for (uint t = 0; t < TK; ++t) {
      if (t < nt) {
        const float e = exp(s[t] - mt);
        l += e;
        for (uint c = 0; c < HD4; ++c) acc[c] += e * sv[t * HD4 + c];
      }
    }
    m = mt;
  }
  if (i >= N) return;
  const float inv = 1.0 / l;
  const uint orow = (gl_WorkGroupID.z * N + i) * D + h * HD;
  for (uint c = 0; c < HD4; ++c)
    for (uint k = 0; k < 4; ++k)
      if (4 * c + k < HD) o[orow + 4 * c + k] = STORE_T(acc[c][k] * inv);
}
