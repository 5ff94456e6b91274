#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Global filter, FFT path, transpose out: fp32 planes [B*C][h][row] (row = 2*(w/2+1)) -> tokens [B, h*w, C].
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) readonly buffer P { float planes[]; };
layout(binding = 1) writeonly buffer Y { STORE_T y[]; };
layout(push_constant) uniform Push {
  uint batch, h, w, channels, row;
} p;

void main() {
  // In token order: consecutive invocations write consecutive channels.
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint n = p.h * p.w;
  if (i >= p.batch * n * p.channels) return;
  const uint c = i % p.channels, t = i / p.channels;
  const uint b = t / n, token = t - b * n;
  const uint yy = token / p.w, xx = token - yy * p.w;
  y[i] = STORE_T(planes[((b * p.channels + c) * p.h + yy) * p.row + xx]);
}
