#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// x = act(x) in place; kind 1 tanh GELU, 2 QuickGELU (ops::Activation; exact GELU is the linear's epilogue).
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) buffer X { STORE_T x[]; };
layout(push_constant) uniform Push {
  uint n, kind;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.n) return;
  const float v = float(x[i]);
  float y;
  if (p.kind == 1u) {
    // tanh(u) = 1 - 2 / (exp(2u) + 1), clamped where exp overflows.
    const float u = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0);
    y = 0.5 * v * (2.0 - 2.0 / (exp(2.0 * u) + 1.0));
  } else {
    y = v / (1.0 + exp(-1.702 * v));
  }
  x[i] = STORE_T(y);
}
