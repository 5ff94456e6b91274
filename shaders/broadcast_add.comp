#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// x[i] += v[i % n] (a [n] vector added to every batch entry), in place.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) buffer X { STORE_T x[]; };
layout(binding = 1) readonly buffer V { STORE_T v[]; };
layout(push_constant) uniform Push {
  uint total, n;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.total) return;
  x[i] = STORE_T(float(x[i]) + float(v[i % p.n]));
}
