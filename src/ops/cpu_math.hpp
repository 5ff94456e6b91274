#pragma once
// Scalar, branch-free exp and GELU shared by the CPU kernels (cpu_kernels.cpp, cpu_gemm.cpp): written so the
// loops around them vectorize. Internal header; internal linkage.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace vitvk::ops {
namespace {

// exp(x) by Cody-Waite range reduction and a degree-7 Taylor polynomial on |r| <= ln2/2 (truncation 6e-9
// relative): within 2 ulp of std::exp. Branch-free so the loops around it vectorize. Below -87.3 (results
// under 2^-126, -inf included) it returns 0 instead of a denormal; above 88 it saturates at exp(88).
inline float exp_approx(float x_in) {
  const float x = std::min(std::max(x_in, -87.3f), 88.0f);
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
  const float t = x * 1.44269504088896341f + shifter;
  const float n = t - shifter;
  float r = x - n * 0.693145751953125f;  // ln 2 split into an exact high part and a low correction
  r = r - n * 1.42860682030941723e-6f;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return x_in < -87.3f ? 0.0f : p * std::bit_cast<float>(bits);
}

// gelu(x) = x/2 (1 + erf(x/sqrt2)). erfc(a), a = |x|/sqrt2, by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7);
// for x < 0, 1 + erf = erfc(a) is used directly (no cancellation; the bound stays absolute, so the far tail
// is accurate to about 0.2% relative, far below the GEMM rounding that precedes it).
inline float gelu_approx(float x) {
  const float a = std::fabs(x) * 0.70710678118654752f;
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float q = 1.061405429f;
  q = q * t - 1.453152027f;
  q = q * t + 1.421413741f;
  q = q * t - 0.284496736f;
  q = q * t + 0.254829592f;
  q = q * t * exp_approx(-a * a);  // erfc(a)
  return 0.5f * x * (x >= 0.0f ? 2.0f - q : q);
}

}  // namespace
}  // namespace vitvk::ops
