#pragma once
// Reproducible N(0, scale^2) test inputs, for CPU and GPU tests alike.
#include <cstdint>
#include <random>
#include <vector>

namespace vitvk::test {

inline std::vector<float> random_floats(std::size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

}  // namespace vitvk::test
