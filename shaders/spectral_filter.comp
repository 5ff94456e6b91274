#version 450
// Global filter, FFT path: the spectrum (VkFFT's in-place R2C layout, [B*C][h][w/2+1] complex) times the
// filter [h][w/2+1][C] complex (pre-scaled, see spectral_filter_vk_pack), in place.
layout(local_size_x = 64) in;
layout(binding = 0) buffer S { vec2 spectrum[]; };
layout(binding = 1) readonly buffer F { vec2 filter_w[]; };
layout(push_constant) uniform Push {
  uint batch, h, w, channels, row;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint kw = p.row / 2, per_plane = p.h * kw;
  if (i >= p.batch * p.channels * per_plane) return;
  const uint plane = i / per_plane, f = i - plane * per_plane;  // f = ky * kw + k
  const uint c = plane % p.channels;
  const vec2 z = spectrum[i], g = filter_w[f * p.channels + c];
  spectrum[i] = vec2(z.x * g.x - z.y * g.y, z.x * g.y + z.y * g.x);
}
