#include "ops/token_mean.hpp"

#include <algorithm>
#include <vector>

namespace vitvk::ops {

void token_mean_cpu(const float* x, int batch, int tokens, int dim, float* y) {
  std::vector<double> acc(dim);
  for (int b = 0; b < batch; ++b) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int n = 0; n < tokens; ++n) {
      const float* row = x + (static_cast<long>(b) * tokens + n) * dim;
      for (int c = 0; c < dim; ++c) acc[c] += row[c];
    }
    for (int c = 0; c < dim; ++c) y[static_cast<long>(b) * dim + c] = static_cast<float>(acc[c] / tokens);
  }
}

}  // namespace vitvk::ops
