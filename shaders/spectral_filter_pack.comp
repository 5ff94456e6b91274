#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Global filter, FFT path, transpose in: tokens [B, h*w, C] (storage precision) -> fp32 planes [B*C][h][row],
// one plane per (image, channel), rows padded to row = 2*(w/2+1) floats for VkFFT's in-place R2C (padding
// written as 0). One invocation per (token, 4 channels): one 4-element load, four stores (loads and stores are
// what costs on CPU drivers).
#include "common.glsl"

layout(local_size_x = 64) in;
layout(constant_id = 0) const bool VEC4 = false;  // C % 4 == 0 and x 16-byte aligned: 4-channel loads
layout(binding = 0) readonly buffer X { STORE_T x[]; };
#if VITVK_FP16
layout(binding = 0) readonly buffer X4 { uvec2 x4[]; };
#else
layout(binding = 0) readonly buffer X4 { vec4 x4[]; };
#endif
layout(binding = 1) writeonly buffer P { float planes[]; };
layout(push_constant) uniform Push {
  uint batch, h, w, channels, row;
} p;

void main() {
  const uint c4s = (p.channels + 3u) / 4u;
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.batch * p.h * p.w * c4s) return;
  const uint t = i / c4s, c0 = (i - t * c4s) * 4u;  // t = b * h * w + token
  const uint n = p.h * p.w, b = t / n, token = t - b * n;
  const uint y = token / p.w, xx = token - y * p.w;
  vec4 v;
  if (VEC4) {
#if VITVK_FP16
    const uvec2 u = x4[i];
    v = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
#else
    v = x4[i];
#endif
  } else {
    for (uint k = 0u; k < 4u; ++k) v[k] = c0 + k < p.channels ? float(x[t * p.channels + c0 + k]) : 0.0;
  }
  const uint nc = min(4u, p.channels - c0);
  for (uint k = 0u; k < nc; ++k) {
    const uint at = ((b * p.channels + c0 + k) * p.h + y) * p.row;
    planes[at + xx] = v[k];
    if (xx == p.w - 1u)
      for (uint q = p.w; q < p.row; ++q) planes[at + q] = 0.0;
  }
}
