#pragma once
// LayerNorm over the last dimension, fp32 accumulation (two-pass mean/variance, biased variance as PyTorch).

namespace vitvk::ops {

// x, y: rows of `dim` floats at the given row strides (in floats); y may alias x.
void layernorm_cpu(const float* x, int rows, int dim, const float* gamma, const float* beta, float eps, float* y,
                   int x_stride, int y_stride);

}  // namespace vitvk::ops
