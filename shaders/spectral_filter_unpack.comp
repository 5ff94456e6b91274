#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Global filter, FFT path, transpose out: fp32 planes [B*C][h][row] (row = 2*(w/2+1)) -> tokens [B, h*w, C].
// One invocation per (token, 4 channels): four loads, one 4-element store.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const bool VEC4 = false;  // C % 4 == 0 and y 16-byte aligned: 4-channel stores
layout(binding = 0) readonly buffer P { float planes[]; };
layout(binding = 1) writeonly buffer Y { STORE_T y[]; };
#if VITVK_FP16
layout(binding = 1) writeonly buffer Y4 { uvec2 y4[]; };
#else
layout(binding = 1) writeonly buffer Y4 { vec4 y4[]; };
#endif
layout(push_constant) uniform Push {
  uint batch, h, w, channels, row;
} p;

void main() {
  const uint c4s = (p.channels + 3u) / 4u;
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.batch * p.h * p.w * c4s) return;
  const uint t = i / c4s, c0 = (i - t * c4s) * 4u;
  const uint n = p.h * p.w, b = t / n, token = t - b * n;
  const uint yy = token / p.w, xx = token - yy * p.w;
  const uint nc = min(4u, p.channels - c0);
  vec4 v = vec4(0.0);
  for (uint k = 0u; k < nc; ++k) v[k] = planes[((b * p.channels + c0 + k) * p.h + yy) * p.row + xx];
  if (VEC4) {
#if VITVK_FP16
    y4[i] = uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw));
#else
    y4[i] = v;
#endif
  } else {
    for (uint k = 0u; k < nc; ++k) y[t * p.channels + c0 + k] = STORE_T(v[k]);
  }
}
