#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
//! variant nosg -DVITVK_NO_SUBGROUP_OPS=1
//! variant nosg.fp16 -DVITVK_NO_SUBGROUP_OPS=1 -DVITVK_FP16=1 requires=FP16
// LayerNorm of one row per workgroup; two-pass mean/variance in fp32.
#define VITVK_NEED_REDUCE 1
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { STORE_T x[]; };
layout(binding = 1) readonly buffer G { STORE_T gamma[]; };
layout(binding = 2) readonly buffer B { STORE_T beta[]; };
layout(binding = 3) writeonly buffer Y { STORE_T y[]; };
layout(push_constant) uniform Push {
  uint rows, dim, x_stride, y_stride;
  float eps;
} p;

void main() {
  const uint row = flat_group_id();
  if (row >= p.rows) return;  // uniform across the workgroup
  const uint xo = row * p.x_stride, yo = row * p.y_stride, n = gl_WorkGroupSize.x, t = gl_LocalInvocationID.x;
  float s = 0.0;
  for (uint i = t; i < p.dim; i += n) s += float(x[xo + i]);
  const float mean = wg_sum(s) / float(p.dim);
  float v = 0.0;
  for (uint i = t; i < p.dim; i += n) {
    const float d = float(x[xo + i]) - mean;
    v += d * d;
  }
  const float inv = inversesqrt(wg_sum(v) / float(p.dim) + p.eps);
  for (uint i = t; i < p.dim; i += n)
    y[yo + i] = STORE_T((float(x[xo + i]) - mean) * inv * float(gamma[i]) + float(beta[i]));
}
