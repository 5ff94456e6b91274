#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
//! variant nosg -DVITVK_NO_SUBGROUP_OPS=1
//! variant nosg.fp16 -DVITVK_NO_SUBGROUP_OPS=1 -DVITVK_FP16=1 requires=FP16
// Row softmax in fp32, one row per workgroup: each invocation keeps an online (max, sum) over its strided
// columns, the workgroup reduces them, then a second pass writes exp(x - max) / sum as fp32.
#define VITVK_NEED_REDUCE 1
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(binding = 0) readonly buffer X { STORE_T x[]; };
layout(binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push {
  uint rows, cols;
} p;

void main() {
  const uint row = flat_group_id();
  if (row >= p.rows) return;  // uniform across the workgroup
  const uint o = row * p.cols, n = gl_WorkGroupSize.x, t = gl_LocalInvocationID.x;
  float m = -1.0 / 0.0, l = 0.0;
  for (uint i = t; i < p.cols; i += n) {
    const float v = float(x[o + i]);
    if (v > m) {  // new running max (exp(-inf) = 0 rescales an empty sum)
      l = l * exp(m - v) + 1.0;
      m = v;
    } else if (m > -1.0 / 0.0) {  // -inf inputs contribute nothing (and must not make -inf - -inf = NaN)
      l += exp(v - m);
    }
  }
  const float M = wg_max(m);
  const float inv = 1.0 / wg_sum(l > 0.0 ? l * exp(m - M) : 0.0);
  for (uint i = t; i < p.cols; i += n) y[o + i] = exp(float(x[o + i]) - M) * inv;
}
