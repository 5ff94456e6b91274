#include "ops/token_mean.hpp"

#include <algorithm>
#include <vector>

namespace vitvk::ops {

void token_mean_cpu(const float* x, const TokenMeanShape& s, float* y) {
  std::vector<double> acc(s.dim);
  for (int b = 0; b < s.batch; ++b) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int n = 0; n < s.tokens; ++n) {
      const float* row = x + s.offset + b * s.image_step() + n * s.row_step();
      for (int c = 0; c < s.dim; ++c) acc[c] += row[c];
    }
    for (int c = 0; c < s.dim; ++c) y[static_cast<long>(b) * s.dim + c] = static_cast<float>(acc[c] / s.tokens);
  }
}

}  // namespace vitvk::ops
