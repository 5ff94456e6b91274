#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Token concat + position embedding, in place: rows < prefix come from the prefix tokens, then the last
// pos_rows rows get pos added.
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) buffer Tok { STORE_T tokens[]; };
layout(binding = 1) readonly buffer Prefix { STORE_T prefix[]; };
layout(binding = 2) readonly buffer Pos { STORE_T pos[]; };
layout(push_constant) uniform Push {
  uint batch, T, D, prefix_rows, pos_rows;
} p;

void main() {
  const uint per_image = p.T * p.D;
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.batch * per_image) return;
  const uint j = i % per_image;  // index within the image's [T, D] block
  float v = j < p.prefix_rows * p.D ? float(prefix[j]) : float(tokens[i]);
  const uint first_pos = (p.T - p.pos_rows) * p.D;
  if (j >= first_pos) v += float(pos[j - first_pos]);
  tokens[i] = STORE_T(v);
}
