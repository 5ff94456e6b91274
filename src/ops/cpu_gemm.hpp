#pragma once
// The CPU backend's own SGEMM for linear layers: y = epilogue(x W^T + b) against weights packed once, at model
// load, into K-major column panels (no per-call re-packing as in OpenBLAS), with bias / GELU / residual applied
// as each register tile is stored. One micro-kernel per ISA: AVX-512 (12 x 32 tile), AVX2 + FMA (6 x 16) and a
// portable fallback, all over the same packed layout; the best one the CPU runs is picked at run time.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ops/gemm.hpp"

namespace vitvk::ops {

enum class CpuIsa { Portable, Avx2, Avx512 };

// The best kernel this CPU (and OS) can run; VITVK_CPU_ISA=portable|avx2|avx512 caps it (for testing).
CpuIsa cpu_gemm_isa();
bool cpu_isa_supported(CpuIsa isa);
const char* cpu_isa_name(CpuIsa isa);

// The packed layout: W [N, K] (PyTorch layout) as panels, panel p holding columns [32p, 32p + 32) of W^T as K
// rows of 32 floats (zero past N), the panels one after another; 64-byte aligned. A view of packed weights,
// wherever they live (a PackedLinear, or a buffer packed for one call, as attention does with K and V).
struct PackedPanels {
  static constexpr int kPanel = 32;
  const float* data = nullptr;
  int n = 0, k = 0;              // N, K
  const float* bias = nullptr;   // panels() * kPanel floats (zero-padded), or null
  int panels() const { return (n + kPanel - 1) / kPanel; }
  const float* panel(int p) const { return data + static_cast<std::size_t>(p) * k * kPanel; }
};

// The packed kernel's register-tile height on `isa` (12 rows AVX-512, 6 AVX2, 4 portable): the unit in which
// a task's rows cost time.
int packed_tile_rows(CpuIsa isa);

// Scratch for packed operands: grows v (never shrinks it) to hold n floats from a 64-byte boundary and returns
// that boundary.
inline float* aligned_floats(std::vector<float>& v, std::size_t n) {
  if (v.size() < n + 16) v.resize(n + 16);
  return v.data() + (16 - reinterpret_cast<std::uintptr_t>(v.data()) / sizeof(float) % 16) % 16;
}

// Floats of a packed W [N, K] (without bias).
inline std::size_t packed_floats(int N, int K) {
  return static_cast<std::size_t>((N + PackedPanels::kPanel - 1) / PackedPanels::kPanel) * K * PackedPanels::kPanel;
}
// dst (64-byte aligned, packed_floats(N, K)) <- scale * W, W given as N rows of K floats at row stride ldw.
// Every `isa` gives the same bits (AVX-512 transposes 16 x 16 blocks in registers; others go float by float).
void pack_rows(const float* w, long ldw, int N, int K, float scale, float* dst, CpuIsa isa);
// dst <- W given transposed, as K rows of N floats (W^T) at row stride ld: each panel row is one contiguous copy.
void pack_transposed(const float* wt, long ld, int N, int K, float* dst);

// W and b packed once (at model load) and owned.
class PackedLinear {
 public:
  static constexpr int kPanel = PackedPanels::kPanel;
  PackedLinear() = default;
  PackedLinear(std::span<const float> w, std::span<const float> b, int N, int K);

  int rows() const { return n_; }  // N
  int cols() const { return k_; }  // K
  bool has_bias() const { return has_bias_; }
  int panels() const { return (n_ + kPanel - 1) / kPanel; }
  std::size_t bytes() const { return (static_cast<std::size_t>(panels()) * (k_ + 1) * kPanel) * sizeof(float); }
  PackedPanels view() const {
    return {data_.get(), n_, k_, has_bias_ ? data_.get() + packed_floats(n_, k_) : nullptr};
  }

 private:
  struct Free {
    void operator()(float* p) const;
  };
  int n_ = 0, k_ = 0;
  bool has_bias_ = false;
  std::unique_ptr<float[], Free> data_;
};

// The [m0, m1) x [n0, n1) tile of y = epilogue(x W^T + b) (n0 a multiple of kPanel): x [M, K] at row stride
// ldx, y at row stride ldy; Residual adds to what y holds. Single-threaded; `isa` must be supported. K is cut
// into blocks of at most k_block rows (0: the default, sized to the L2 cache; tests force small ones).
void packed_gemm_tile(const PackedPanels& w, const float* x, long ldx, float* y, long ldy, int m0, int m1, int n0,
                      int n1, Epilogue ep, CpuIsa isa, int k_block = 0);
inline void packed_gemm_tile(const PackedPanels& w, const float* x, long ldx, float* y, long ldy, int m0, int m1,
                             int n0, int n1, Epilogue ep) {
  packed_gemm_tile(w, x, ldx, y, ldy, m0, m1, n0, n1, ep, cpu_gemm_isa());
}
inline void packed_linear_tile(const PackedLinear& w, const float* x, long ldx, float* y, long ldy, int m0, int m1,
                               int n0, int n1, Epilogue ep, CpuIsa isa, int k_block = 0) {
  packed_gemm_tile(w.view(), x, ldx, y, ldy, m0, m1, n0, n1, ep, isa, k_block);
}
inline void packed_linear_tile(const PackedLinear& w, const float* x, long ldx, float* y, long ldy, int m0, int m1,
                               int n0, int n1, Epilogue ep) {
  packed_gemm_tile(w.view(), x, ldx, y, ldy, m0, m1, n0, n1, ep, cpu_gemm_isa());
}

}  // namespace vitvk::ops
