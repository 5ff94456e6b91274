#pragma once
// Row-wise softmax in fp32 (max-subtracted), used for attention scores and for class probabilities.

namespace vitvk::ops {

// y may alias x.
void softmax_cpu(const float* x, int rows, int cols, float* y);

}  // namespace vitvk::ops
