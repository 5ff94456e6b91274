#pragma once
// The CPU backend's own SGEMM for linear layers: y = epilogue(x W^T + b) against weights packed once, at model
// load, into K-major column panels (no per-call re-packing as in OpenBLAS), with bias / GELU / residual applied
// as each register tile is stored. One micro-kernel per ISA: AVX-512 (12 x 32 tile), AVX2 + FMA (6 x 16) and a
// portable fallback, all over the same packed layout; the best one the CPU runs is picked at run time.
#include <cstddef>
#include <memory>
#include <span>

#include "ops/gemm.hpp"

namespace vitvk::ops {

enum class CpuIsa { Portable, Avx2, Avx512 };

// The best kernel this CPU (and OS) can run; VITVK_CPU_ISA=portable|avx2|avx512 caps it (for testing).
CpuIsa cpu_gemm_isa();
bool cpu_isa_supported(CpuIsa isa);
const char* cpu_isa_name(CpuIsa isa);

// W [N, K] (PyTorch layout) and b [N] repacked: panel p holds columns [32p, 32p + 32) of W^T as K rows of 32
// floats (zero past N); the bias is zero-padded to the panels. 64-byte aligned.
class PackedLinear {
 public:
  static constexpr int kPanel = 32;
  PackedLinear() = default;
  PackedLinear(std::span<const float> w, std::span<const float> b, int N, int K);

  int rows() const { return n_; }  // N
  int cols() const { return k_; }  // K
  bool has_bias() const { return has_bias_; }
  const float* panel(int p) const { return data_.get() + static_cast<std::size_t>(p) * k_ * kPanel; }
  const float* bias() const { return data_.get() + static_cast<std::size_t>(panels()) * k_ * kPanel; }
  int panels() const { return (n_ + kPanel - 1) / kPanel; }
  std::size_t bytes() const { return (static_cast<std::size_t>(panels()) * (k_ + 1) * kPanel) * sizeof(float); }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  int n_ = 0, k_ = 0;
  bool has_bias_ = false;
  std::unique_ptr<float[], Free> data_;
};

// The [m0, m1) x [n0, n1) tile of y = epilogue(x W^T + b) (n0 a multiple of PackedLinear::kPanel): x [M, K] at
// row stride ldx, y at row stride ldy; Residual adds to what y holds. Single-threaded; `isa` must be supported.
void packed_linear_tile(const PackedLinear& w, const float* x, long ldx, float* y, long ldy, int m0, int m1, int n0,
                        int n1, Epilogue ep, CpuIsa isa);
inline void packed_linear_tile(const PackedLinear& w, const float* x, long ldx, float* y, long ldy, int m0, int m1,
                               int n0, int n1, Epilogue ep) {
  packed_linear_tile(w, x, ldx, y, ldy, m0, m1, n0, n1, ep, cpu_gemm_isa());
}

}  // namespace vitvk::ops
