#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Mean over tokens: y[b, c] = sum_n x[b, n, c] / N, fp32 accumulation; one invocation per (b, c).
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) readonly buffer X { STORE_T x[]; };
layout(binding = 1) writeonly buffer Y { STORE_T y[]; };
layout(push_constant) uniform Push {
  uint batch, tokens, dim, image_stride, row_stride, offset;  // row n of image b: offset + b image_stride + n row_stride
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.batch * p.dim) return;
  const uint b = i / p.dim, c = i - b * p.dim;
  float s = 0.0;
  for (uint n = 0u; n < p.tokens; ++n) s += float(x[p.offset + b * p.image_stride + n * p.row_stride + c]);
  y[i] = STORE_T(s / float(p.tokens));
}
