#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
// Swin's token permutations (ops/window.hpp), one invocation per output element, consecutive invocations on
// consecutive channels. The source of every element follows from the shape alone:
//   mode 0 partition:   out [B, nW * wh * ww, C] = rolled (-shift), zero-padded feature map in window order
//   mode 1 reverse_add: out [B, H * W, C] += the window rows, unrolled (+shift) and cropped
//   mode 2 merge:       out [B, ceil(H/2) * ceil(W/2), 4C] = the 2x2 cells, part q = 2 dx + dy, zero-padded
#include "common.glsl"

layout(local_size_x = 64) in;
layout(binding = 0) readonly buffer In { STORE_T x[]; };
layout(binding = 1) buffer Out { STORE_T y[]; };
layout(push_constant) uniform Push {
  uint batch, height, width, channels, window_h, window_w, shift_h, shift_w, mode, total;
} p;

void main() {
  const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  if (i >= p.total) return;
  const uint C = p.channels, H = p.height, W = p.width;
  const uint nww = (W + p.window_w - 1u) / p.window_w, area = p.window_h * p.window_w;
  const uint nwin = ((H + p.window_h - 1u) / p.window_h) * nww;
  if (p.mode == 0u) {
    const uint c = i % C, row = i / C, rows = nwin * area;
    const uint b = row / rows, r = row % rows, win = r / area, k = r % area;
    const uint py = win / nww * p.window_h + k / p.window_w, px = win % nww * p.window_w + k % p.window_w;
    float v = 0.0;
    if (py < H && px < W) v = float(x[(b * H * W + (py + p.shift_h) % H * W + (px + p.shift_w) % W) * C + c]);
    y[i] = STORE_T(v);
  } else if (p.mode == 1u) {
    const uint c = i % C, row = i / C;
    const uint b = row / (H * W), r = row % (H * W);
    const uint py = (r / W + H - p.shift_h) % H, px = (r % W + W - p.shift_w) % W;
    const uint from = (py / p.window_h * nww + px / p.window_w) * area + py % p.window_h * p.window_w + px % p.window_w;
    y[i] = STORE_T(float(y[i]) + float(x[(b * nwin * area + from) * C + c]));
  } else {
    const uint c4 = i % (4u * C), row = i / (4u * C), q = c4 / C, c = c4 % C;
    const uint mw = (W + 1u) / 2u, mrows = ((H + 1u) / 2u) * mw;
    const uint b = row / mrows, r = row % mrows;
    const uint yy = r / mw * 2u + q % 2u, xx = r % mw * 2u + q / 2u;
    float v = 0.0;
    if (yy < H && xx < W) v = float(x[(b * H * W + yy * W + xx) * C + c]);
    y[i] = STORE_T(v);
  }
}
