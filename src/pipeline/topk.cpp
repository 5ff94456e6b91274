#include "pipeline/topk.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "ops/softmax.hpp"

namespace vitvk::pipeline {

std::vector<float> softmax(std::span<const float> logits) {
  std::vector<float> p(logits.size());
  if (!p.empty()) ops::softmax_cpu(logits.data(), 1, static_cast<int>(p.size()), p.data());
  return p;
}

std::vector<ScoredClass> top_k(std::span<const float> probs, int k) {
  const std::size_t n = std::min(probs.size(), static_cast<std::size_t>(std::max(k, 0)));
  std::vector<int> idx(probs.size());
  std::iota(idx.begin(), idx.end(), 0);
  // NaN (a broken forward pass) ranks last, which also keeps the comparison a strict weak order.
  auto key = [&](int i) { return std::isnan(probs[i]) ? -std::numeric_limits<float>::infinity() : probs[i]; };
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end(), [&](int a, int b) {
    const float ka = key(a), kb = key(b);
    return ka != kb ? ka > kb : a < b;
  });
  std::vector<ScoredClass> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = {idx[i], probs[idx[i]]};
  return out;
}

}  // namespace vitvk::pipeline
