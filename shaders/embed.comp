#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Token concat + position embedding, in place: row 0 = cls, row 1 = dist (if any), then tokens += pos.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) buffer Tok { STORE_T tokens[]; };
layout(binding = 1) readonly buffer Cls { STORE_T cls[]; };
layout(binding = 2) readonly buffer Dist { STORE_T dist[]; };
layout(binding = 3) readonly buffer Pos { STORE_T pos[]; };
layout(push_constant) uniform Push {
  uint batch, T, D, has_dist;
} p;

void main() {
  const uint per_image = p.T * p.D;
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.batch * per_image) return;
  const uint j = i % per_image;  // index within the image's [T, D] block
  float v;
  if (j < p.D) v = float(cls[j]);
  else if (p.has_dist != 0u && j < 2u * p.D) v = float(dist[j - p.D]);
  else v = float(tokens[i]);
  tokens[i] = STORE_T(v + float(pos[j]));
}
