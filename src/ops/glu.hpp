#pragma once
// SwiGLU's gating: y = silu(g) * x over a fused [g | x] input, g the first half of each row, x the second.
// timm's GluMlp(act_layer=SiLU, gate_last=False) packs its fc1 output that way, and its SwiGLU (fc1_g, fc1_x)
// is the same once the two linears are stacked into one [g; x] weight at load (model/load_eva.cpp).
#include "vk/buffer.hpp"
#include "vk/op_context.hpp"

namespace vitvk::ops {

struct GluShape {
  int rows = 0;
  int hidden = 0;  // y's width; x's is 2 * hidden
};

// x: [rows, 2 * hidden], y: [rows, hidden] (contiguous rows); silu(v) = v / (1 + exp(-v)).
void glu_cpu(const float* x, const GluShape& s, float* y);

// Vulkan (glu.vk.cpp, shaders/glu.comp): one invocation per output element; storage precision, fp32 math.
void glu_vk(gpu::OpContext& oc, const gpu::Slice& x, const GluShape& s, const gpu::Slice& y);

}  // namespace vitvk::ops
