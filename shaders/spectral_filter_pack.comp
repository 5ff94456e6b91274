#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Global filter, FFT path, transpose in: tokens [B, h*w, C] (storage precision) -> fp32 planes [B*C][h][row],
// one plane per (image, channel), rows padded to row = 2*(w/2+1) floats for VkFFT's in-place R2C.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) readonly buffer X { STORE_T x[]; };
layout(binding = 1) writeonly buffer P { float planes[]; };
layout(push_constant) uniform Push {
  uint batch, h, w, channels, row;
} p;

void main() {
  // In plane order: consecutive invocations write consecutive floats.
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint per_plane = p.h * p.row;
  if (i >= p.batch * p.channels * per_plane) return;
  const uint plane = i / per_plane, r = i - plane * per_plane;
  const uint y = r / p.row, xx = r - y * p.row;
  const uint b = plane / p.channels, c = plane - b * p.channels;
  planes[i] = xx < p.w ? float(x[((b * p.h + y) * p.w + xx) * p.channels + c]) : 0.0;
}
