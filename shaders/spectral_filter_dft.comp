#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Global filter, dense-DFT path: one pass applies a small real matrix M along a strided axis,
//   out[o*so_o + iy*so_i + ip*so_p + l] = sum_{jp < np_in, jy < Jy} M[ip*Iy + iy][jp*Jy + jy] * in[o*si_o + jy*si_j + jp*si_p + l]
// where p = 0/1 index real/imaginary halves. Each invocation computes ROWS rows iy for 4 consecutive l (the
// contiguous axis: channels), so an input load feeds 4*ROWS*np_out FMAs and the M loads are uniform across the
// workgroup. With FILTER (np_out == 2) the complex result is multiplied by filter[iy][l] ([h][K*C] complex).
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const uint ROWS = 4;
// Activations (storage precision) or fp32 work space, by the flags: two views of each binding.
layout(binding = 0) readonly buffer InS { STORE_T in_s[]; };
layout(binding = 0) readonly buffer InF { float in_f[]; };
layout(binding = 1) readonly buffer M { float mat[]; };
layout(binding = 2) readonly buffer F { vec2 filter_w[]; };
layout(binding = 3) writeonly buffer OutS { STORE_T out_s[]; };
layout(binding = 3) writeonly buffer OutF { float out_f[]; };
layout(push_constant) uniform Push {
  uint O, L, Iy, Jy, np_in, np_out, si_o, si_j, si_p, so_o, so_i, so_p, flags;
} p;

const uint IN_STORE = 1u, OUT_STORE = 2u, FILTER = 4u;

float load(uint i) { return (p.flags & IN_STORE) != 0u ? float(in_s[i]) : in_f[i]; }
void store(uint i, float v) {
  if ((p.flags & OUT_STORE) != 0u) out_s[i] = STORE_T(v);
  else out_f[i] = v;
}

void main() {
  const uint l0 = gl_GlobalInvocationID.x * 4u;
  const uint iy0 = gl_WorkGroupID.y * ROWS;
  const uint o = gl_WorkGroupID.z;
  if (l0 >= p.L) return;
  const uint nl = min(4u, p.L - l0);
  const uint jcols = p.np_in * p.Jy;
  vec4 acc[2 * ROWS];
  for (uint r = 0u; r < 2u * ROWS; ++r) acc[r] = vec4(0.0);
  for (uint jp = 0u; jp < p.np_in; ++jp)
    for (uint jy = 0u; jy < p.Jy; ++jy) {
      const uint src = o * p.si_o + jy * p.si_j + jp * p.si_p + l0;
      vec4 v;
      if (nl == 4u) v = vec4(load(src), load(src + 1u), load(src + 2u), load(src + 3u));
      else v = vec4(load(src), nl > 1u ? load(src + 1u) : 0.0, nl > 2u ? load(src + 2u) : 0.0, 0.0);
      const uint col = jp * p.Jy + jy;
      for (uint ip = 0u; ip < 2u; ++ip) {
        if (ip >= p.np_out) break;
        for (uint r = 0u; r < ROWS; ++r) {
          const uint row = min(iy0 + r, p.Iy - 1u);  // clamped rows are computed, never stored
          acc[ip * ROWS + r] += mat[(ip * p.Iy + row) * jcols + col] * v;
        }
      }
    }
  for (uint r = 0u; r < ROWS; ++r) {
    const uint iy = iy0 + r;
    if (iy >= p.Iy) break;
    vec4 re = acc[r], im = acc[ROWS + r];
    if ((p.flags & FILTER) != 0u) {
      for (uint t = 0u; t < nl; ++t) {
        const vec2 g = filter_w[iy * p.L + l0 + t];
        const float a = re[t], b = im[t];
        re[t] = a * g.x - b * g.y;
        im[t] = a * g.y + b * g.x;
      }
    }
    const uint dst = o * p.so_o + iy * p.so_i + l0;
    for (uint t = 0u; t < nl; ++t) store(dst + t, re[t]);
    if (p.np_out > 1u)
      for (uint t = 0u; t < nl; ++t) store(dst + p.so_p + t, im[t]);
  }
}
