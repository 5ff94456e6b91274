#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// SwiGLU gating (ops/glu.hpp): y[r, j] = silu(x[r, j]) * x[r, hidden + j], x [rows, 2 hidden], y [rows, hidden].
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) readonly buffer X { STORE_T x[]; };
layout(binding = 1) writeonly buffer Y { STORE_T y[]; };
layout(push_constant) uniform Push {
  uint n, hidden;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.n) return;
  const uint r = i / p.hidden, j = i % p.hidden;
  const float g = float(x[r * 2u * p.hidden + j]);
  // silu(g) = g / (1 + exp(-g)); the exponent capped where exp would overflow (silu is -0 to fp32 there anyway).
  y[i] = STORE_T(g / (1.0 + exp(min(-g, 80.0))) * float(x[r * 2u * p.hidden + p.hidden + j]));
}
