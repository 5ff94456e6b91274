#pragma once
// int8 linear layers for the CPU backend: y = epilogue(dequant(q(x) q(W)^T) + b).
//
// Weights: quantized once (at load, or read from an int8 safetensors file) per output channel, symmetric:
// W[n, :] ~= s_w[n] * q_w[n, :], q_w in [-127, 127]. Activations: quantized per row (token) when the layer runs,
// asymmetric u8: x[m, :] ~= s_x[m] * (q_x[m, :] - z[m]), q_x in [0, 255] — the u8 x s8 form the VNNI
// instruction (vpdpbusd) multiplies. The int32 sum S = sum_k q_x q_w is exact; the zero point comes out
// through the weights' per-column sums: x W^T ~= s_x[m] s_w[n] (S - z[m] colsum[n]). Then bias / GELU /
// residual, as the fp32 kernel applies them.
// Optionally the rows are cut into groups of channels along K, each group with its own scale and zero point
// (one scale per token is set by its few outlier channels, the rest of the row then gets few steps), and the
// weights may have a scale per group too: each group's int32 sum S_g is exact and the groups are summed in fp32,
// x W^T ~= sum_g s_w[n, g] s_x[m, g] (S_g - z[m, g] colsum_g[n]). Off by default: 64-channel groups for both
// lowered the logits' error by about 30 % on ViT-Ti / DeiT-Ti (99.7 / 99.5 % top-1 agreement, against 99.0 / 98.8 %)
// and made the int8 GEMM 1.2-1.75x slower on an AVX2 host (README, "int8 on the CPU").
// One packed weight layout for every ISA: panels of 32 output columns, K in steps of 4 (zero-padded), each
// step 32 columns x 4 bytes (one AVX-512 register per 16 columns). Kernels: AVX-512 VNNI (12 x 32 tile),
// AVX-VNNI (6 x 16), AVX2 without VNNI (6 x 8, exact: int16 products through vpmaddwd, no vpmaddubsw
// saturation) and portable C++; all give the same int32 sums.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ops/gemm.hpp"

namespace vitvk::ops {

enum class Int8Isa { Portable, Avx2, AvxVnni, Avx512Vnni };

// The best int8 kernel this CPU runs, under the same cap as the fp32 kernels: VITVK_CPU_ISA=avx512 allows
// every kernel, avx2 the AVX-VNNI and AVX2 ones, portable only the portable one.
Int8Isa cpu_int8_isa();
bool int8_isa_supported(Int8Isa isa);
const char* int8_isa_name(Int8Isa isa);
int int8_tile_rows(Int8Isa isa);  // register-tile height (12, 6, 5, 4)

// The largest K the int32 accumulators hold without overflow (255 * 127 * K < 2^31).
constexpr int kInt8MaxK = 65536;

// Groups of `group` channels in K (the last may be shorter); group 0 means one group: the whole row. A group is
// 0 or a multiple of 4 (the kernels' K step), at most kInt8MaxK.
inline bool int8_group_valid(long group) { return group >= 0 && group <= kInt8MaxK && group % 4 == 0; }
inline int int8_group_len(int K, int group) { return group > 0 ? group : K; }  // every group's but the last
inline int int8_groups(int K, int group) { return (K + int8_group_len(K, group) - 1) / int8_group_len(K, group); }

// ------------------------------------------------------------------------------------------- weights
// W [N, K] fp32 -> symmetric int8 per row, or per row and group of `group` channels along K (0: the whole row):
// scale[n, g] = max|W[n, group g]| / 127 (0 for an all-zero group), q = round-half-even(W / scale) clamped to
// [-127, 127] (-128 is never produced, so -q is representable).
struct QuantizedMatrix {
  int n = 0, k = 0, group = 0;
  std::vector<int8_t> q;     // n * k, row-major
  std::vector<float> scale;  // n * groups, row-major ([n][g]; one per row for group 0)
  int groups() const { return int8_groups(k, group); }
};
QuantizedMatrix quantize_per_row(std::span<const float> w, int N, int K, int group = 0);
// scale[n, k / group] * q[n, k]
std::vector<float> dequantize(const QuantizedMatrix& m);

// Packed int8 weights plus, per column (padded to whole panels), its bias (0 where none) and, per group of
// `group` in K (the activations' group), the int32 sum of the column's weights in the group and their scale
// (group-major: colsum[g * cols + n], scale[g * cols + n]).
struct PackedInt8Panels {
  static constexpr int kPanel = 32;
  const int8_t* data = nullptr;
  const int32_t* colsum = nullptr;
  const float* scale = nullptr;
  const float* bias = nullptr;
  const float* zeros = nullptr;  // cols zeros: the bias of every group but one
  int n = 0, k = 0, group = 0;
  int k4() const { return (k + 3) / 4; }  // steps of 4 in K
  int panels() const { return (n + kPanel - 1) / kPanel; }
  int cols() const { return panels() * kPanel; }
  const int8_t* panel(int p) const { return data + static_cast<std::size_t>(p) * k4() * kPanel * 4; }
};

class PackedLinearInt8 {
 public:
  static constexpr int kPanel = PackedInt8Panels::kPanel;
  PackedLinearInt8() = default;
  // q [N, K] int8 (values in [-127, 127]; -128 is refused), bias [N] or empty; column sums for activations
  // quantized in groups of `group` (0 or a multiple of 4). scale: [N] (one per row, the same for every group) or
  // [N, groups] (quantize_per_row with the same group: each group's own).
  PackedLinearInt8(std::span<const int8_t> q, std::span<const float> scale, std::span<const float> bias, int N, int K,
                   int group = 0);

  int rows() const { return n_; }
  int cols() const { return k_; }
  std::size_t bytes() const { return bytes_; }  // what it holds (weights + per-column data)
  PackedInt8Panels view() const;

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  int n_ = 0, k_ = 0, group_ = 0;
  std::size_t bytes_ = 0, weight_bytes_ = 0;
  std::unique_ptr<uint8_t[], Free> data_;
};

// ------------------------------------------------------------------------------------------- activations
// How rows are quantized: Asymmetric uses the row's [min, max] (with 0 inside) over 255 steps; Symmetric
// max|x| over 127 steps around a zero point of 128 (the form the kernels would need without zero points;
// kept to measure against, see README).
enum class ActQuant { Asymmetric, Symmetric };

// Quantized rows: u8 at row stride ld (K rounded up to 64, pad bytes 0), a scale and zero point per row and
// group of `group` channels (0: the whole row), group-major (scale[g * rows + m]).
struct QuantizedRows {
  std::vector<uint8_t> data;
  std::vector<float> scale;
  std::vector<int32_t> zero;
  long ld = 0;
  int rows = 0, k = 0;
  int group = 0;  // channels per scale: 0 (whole rows) or a multiple of 4
  // Sizes for M rows of K in groups of `group_size` (keeps the capacity).
  void reset(int M, int K, int group_size = 0);
  int groups() const { return int8_groups(k, group); }
  int group_len() const { return int8_group_len(k, group); }
  uint8_t* row(int m) { return data.data() + m * ld; }
  const uint8_t* row(int m) const { return data.data() + m * ld; }
  float scale_of(int m, int g) const { return scale[static_cast<std::size_t>(g) * rows + m]; }
  int32_t zero_of(int m, int g) const { return zero[static_cast<std::size_t>(g) * rows + m]; }
};

// Rows [m0, m1) of x [M, K] (row stride ldx) into q (sized by q.reset(M, K, group)). Every ISA gives the same bytes.
void quantize_rows(const float* x, long ldx, int m0, int m1, QuantizedRows& q, ActQuant mode, Int8Isa isa);
inline void quantize_rows(const float* x, long ldx, int m0, int m1, QuantizedRows& q,
                          ActQuant mode = ActQuant::Asymmetric) {
  quantize_rows(x, ldx, m0, m1, q, mode, cpu_int8_isa());
}

// ------------------------------------------------------------------------------------------- GEMM
// The [m0, m1) x [n0, n1) tile of y = epilogue(s_w sum_g s_x,g (S_g - z_g colsum_g) + b) (n0 a multiple of
// kPanel), x given quantized in the weights' group size; Residual adds to what y holds.
// Single-threaded; `isa` must be supported.
void int8_gemm_tile(const PackedInt8Panels& w, const QuantizedRows& x, float* y, long ldy, int m0, int m1, int n0,
                    int n1, Epilogue ep, Int8Isa isa);
inline void int8_gemm_tile(const PackedInt8Panels& w, const QuantizedRows& x, float* y, long ldy, int m0, int m1,
                           int n0, int n1, Epilogue ep) {
  int8_gemm_tile(w, x, y, ldy, m0, m1, n0, n1, ep, cpu_int8_isa());
}

}  // namespace vitvk::ops
