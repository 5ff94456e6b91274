#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Global filter, dense-DFT path: one pass applies a small real matrix M along a strided axis,
//   out[o*so_o + iy*so_i + ip*so_p + l] = sum_{jp < NP_IN, jy < Jy} M[ip*Iy_pad + iy][jp*Jy_pad + jy] * in[o*si_o + jy*si_j + jp*si_p + l]
// where p = 0/1 index real/imaginary halves. M is zero-padded: Iy_pad rows per part (a multiple of ROWS) and
// Jy_pad columns per part (a multiple of 4). With FILTER (NP_OUT == 2) the complex result is multiplied by
// filter[iy][l] ([h][K*C] complex).
// Each invocation computes ROWS rows iy x NP_OUT parts for 4 consecutive l (the contiguous axis: channels), four
// columns j per step: 4 input vec4 loads and ROWS*NP_OUT matrix vec4 loads feed 16*ROWS*NP_OUT FMAs. On CPU
// drivers (lavapipe) every load is a loop over the SIMD lanes, so loads, not FMAs, set the speed; the shape
// choices are specialization constants so the accumulators stay in registers.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint ROWS = 4;
layout(constant_id = 1) const uint NP_IN = 1;
layout(constant_id = 2) const uint NP_OUT = 2;
layout(constant_id = 3) const uint FLAGS = 0;    // IN_STORE | OUT_STORE | FILTER
layout(constant_id = 4) const bool VEC4 = false;  // L, strides and offsets allow 4-element loads and stores
const uint IN_STORE = 1u, OUT_STORE = 2u, FILTER = 4u;

// Activations (storage precision) or fp32 work space, by FLAGS; element-wise or 4 at a time, by VEC4.
layout(binding = 0) readonly buffer InS { STORE_T in_s[]; };
layout(binding = 0) readonly buffer InF { float in_f[]; };
layout(binding = 0) readonly buffer InF4 { vec4 in_f4[]; };
layout(binding = 1) readonly buffer M { vec4 mtx[]; };
layout(binding = 2) readonly buffer F { vec2 filter_w[]; };
layout(binding = 3) writeonly buffer OutS { STORE_T out_s[]; };
layout(binding = 3) writeonly buffer OutF { float out_f[]; };
layout(binding = 3) writeonly buffer OutF4 { vec4 out_f4[]; };
#if VITVK_FP16
layout(binding = 0) readonly buffer InH4 { uvec2 in_h4[]; };
layout(binding = 3) writeonly buffer OutH4 { uvec2 out_h4[]; };
const bool HALF_STORE = true;
#else
const bool HALF_STORE = false;
#endif
layout(push_constant) uniform Push {
  uint O, L, Iy, Iy_pad, Jy, Jy_pad, si_o, si_j, si_p, so_o, so_i, so_p;
} p;

// in[i..i+3]; with VEC4, i is a multiple of 4. n: how many are real (the rest read 0).
vec4 load4(uint i, uint n) {
  const bool store_t = (FLAGS & IN_STORE) != 0u;
  if (VEC4) {
#if VITVK_FP16
    if (store_t) {
      const uvec2 u = in_h4[i >> 2];
      return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
    }
#endif
    if (!store_t || !HALF_STORE) return in_f4[i >> 2];
  }
  vec4 v = vec4(0.0);
  for (uint t = 0u; t < 4u; ++t)
    if (t < n) v[t] = store_t ? float(in_s[i + t]) : in_f[i + t];
  return v;
}

void store4(uint i, uint n, vec4 v) {
  const bool store_t = (FLAGS & OUT_STORE) != 0u;
  if (VEC4) {
#if VITVK_FP16
    if (store_t) {
      out_h4[i >> 2] = uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw));
      return;
    }
#endif
    if (!store_t || !HALF_STORE) {
      out_f4[i >> 2] = v;
      return;
    }
  }
  for (uint t = 0u; t < 4u; ++t)
    if (t < n) {
      if (store_t) out_s[i + t] = STORE_T(v[t]);
      else out_f[i + t] = v[t];
    }
}

void main() {
  const uint l0 = gl_GlobalInvocationID.x * 4u;
  const uint iy0 = gl_WorkGroupID.y * ROWS;
  const uint o = gl_WorkGroupID.z;
  if (l0 >= p.L) return;
  const uint nl = min(4u, p.L - l0);
  const uint jcols4 = NP_IN * p.Jy_pad / 4u;  // matrix row length in vec4
  vec4 acc[NP_OUT * ROWS];
  for (uint r = 0u; r < NP_OUT * ROWS; ++r) acc[r] = vec4(0.0);
  for (uint jp = 0u; jp < NP_IN; ++jp)
    for (uint j4 = 0u; j4 < p.Jy; j4 += 4u) {
      const uint src = o * p.si_o + j4 * p.si_j + jp * p.si_p + l0;
      // Rows past Jy read 0 (their matrix columns are 0 too); the test is uniform across the workgroup.
      const vec4 v0 = load4(src, nl);
      const vec4 v1 = j4 + 1u < p.Jy ? load4(src + p.si_j, nl) : vec4(0.0);
      const vec4 v2 = j4 + 2u < p.Jy ? load4(src + 2u * p.si_j, nl) : vec4(0.0);
      const vec4 v3 = j4 + 3u < p.Jy ? load4(src + 3u * p.si_j, nl) : vec4(0.0);
      const uint m0 = iy0 * jcols4 + (jp * p.Jy_pad + j4) / 4u;
      for (uint ip = 0u; ip < NP_OUT; ++ip)
        for (uint r = 0u; r < ROWS; ++r) {
          const vec4 m = mtx[m0 + (ip * p.Iy_pad + r) * jcols4];
          acc[ip * ROWS + r] += m.x * v0 + m.y * v1 + m.z * v2 + m.w * v3;
        }
    }
  for (uint r = 0u; r < ROWS; ++r) {
    const uint iy = iy0 + r;
    if (iy >= p.Iy) break;
    vec4 re = acc[r], im = acc[(NP_OUT - 1u) * ROWS + r];
    if ((FLAGS & FILTER) != 0u) {
      for (uint t = 0u; t < 4u; ++t) {
        const vec2 g = t < nl ? filter_w[iy * p.L + l0 + t] : vec2(0.0);
        const float a = re[t], b = im[t];
        re[t] = a * g.x - b * g.y;
        im[t] = a * g.y + b * g.x;
      }
    }
    const uint dst = o * p.so_o + iy * p.so_i + l0;
    store4(dst, nl, re);
    if (NP_OUT > 1u) store4(dst + p.so_p, nl, im);
  }
}
