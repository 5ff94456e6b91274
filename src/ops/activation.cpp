#include "ops/activation.hpp"

#include <cmath>

#include "ops/gemm.hpp"

namespace vitvk::ops {

const char* to_string(Activation a) noexcept {
  switch (a) {
    case Activation::Gelu: return "gelu";
    case Activation::GeluTanh: return "gelu_tanh";
    case Activation::QuickGelu: return "quick_gelu";
  }
  return "?";
}

void activation_cpu(float* x, std::size_t n, Activation a) {
  switch (a) {
    case Activation::Gelu:
      for (std::size_t i = 0; i < n; ++i) x[i] = gelu(x[i]);
      return;
    case Activation::GeluTanh:
      for (std::size_t i = 0; i < n; ++i) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
      }
      return;
    case Activation::QuickGelu:
      for (std::size_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::exp(-1.702f * x[i]));
      return;
  }
}

}  // namespace vitvk::ops
