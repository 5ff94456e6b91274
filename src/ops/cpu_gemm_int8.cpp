#include "ops/cpu_gemm_int8.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include "ops/cpu_gemm.hpp"
#include "ops/cpu_math.hpp"
#include "vitvk/error.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include "ops/cpu_simd_math.hpp"  // exp / GELU in vectors, VITVK_AVX512 / VITVK_AVX2
#define VITVK_X86_INT8 1
// The VNNI forms add their instructions to the fp32 kernels' ISA levels (so those levels' GELU inlines).
#define VITVK_AVX512_VNNI __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx512vnni,avx2,fma")))
#define VITVK_AVX_VNNI __attribute__((target("avx2,fma,avxvnni")))
#else
#define VITVK_X86_INT8 0
#endif

namespace vitvk::ops {

// ============================================================================================== weights

QuantizedMatrix quantize_per_row(std::span<const float> w, int N, int K, int group) {
  if (N < 1 || K < 1 || w.size() != static_cast<std::size_t>(N) * K || !int8_group_valid(group))
    throw Error(ErrorCode::InvalidArgument, "quantize_per_row: " + std::to_string(w.size()) + " values for " +
                                                std::to_string(N) + " x " + std::to_string(K) + " in groups of " +
                                                std::to_string(group));
  QuantizedMatrix m{N, K, group, std::vector<int8_t>(w.size()), {}};
  const int groups = m.groups(), glen = int8_group_len(K, group);
  m.scale.resize(static_cast<std::size_t>(N) * groups);
  for (int n = 0; n < N; ++n) {
    const float* row = w.data() + static_cast<std::size_t>(n) * K;
    int8_t* q = m.q.data() + static_cast<std::size_t>(n) * K;
    for (int g = 0; g < groups; ++g) {
      const int k0 = g * glen, k1 = std::min(K, k0 + glen);
      float amax = 0.0f;
      for (int k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(row[k]));
      const float s = std::isfinite(amax) ? amax / 127.0f : 0.0f;
      m.scale[static_cast<std::size_t>(n) * groups + g] = s;
      for (int k = k0; k < k1; ++k) {
        // fmax/fmin also map NaN to 0 (from fmax's non-NaN operand) before the conversion.
        const float v = s > 0.0f ? std::nearbyint(row[k] / s) : 0.0f;
        q[k] = static_cast<int8_t>(std::fmin(std::fmax(v, -127.0f), 127.0f));
      }
    }
  }
  return m;
}

std::vector<float> dequantize(const QuantizedMatrix& m) {
  std::vector<float> w(m.q.size());
  const int groups = m.groups(), glen = int8_group_len(m.k, m.group);
  for (int n = 0; n < m.n; ++n)
    for (int k = 0; k < m.k; ++k) {
      const std::size_t i = static_cast<std::size_t>(n) * m.k + k;
      w[i] = m.scale[static_cast<std::size_t>(n) * groups + k / glen] * static_cast<float>(m.q[i]);
    }
  return w;
}

void PackedLinearInt8::Free::operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(64)); }

PackedLinearInt8::PackedLinearInt8(std::span<const int8_t> q, std::span<const float> scale,
                                   std::span<const float> bias, int N, int K, int group)
    : n_(N), k_(K), group_(group) {
  constexpr int P = kPanel;
  if (!int8_group_valid(group))
    throw Error(ErrorCode::InvalidArgument, "PackedLinearInt8: group " + std::to_string(group) +
                                                " is not 0 or a multiple of 4");
  const int groups = K >= 1 ? int8_groups(K, group) : 0;
  const bool scale_per_group = groups > 1 && scale.size() == static_cast<std::size_t>(N) * groups;
  if (N < 1 || K < 1 || K > kInt8MaxK || q.size() != static_cast<std::size_t>(N) * K ||
      (scale.size() != std::size_t(N) && !scale_per_group) || (!bias.empty() && bias.size() != std::size_t(N)))
    throw Error(ErrorCode::InvalidArgument,
                "PackedLinearInt8: weight / scale / bias sizes do not match " + std::to_string(N) + " x " +
                    std::to_string(K) + " in " + std::to_string(groups) +
                    " group(s) (scales: N or N x groups; K at most " + std::to_string(kInt8MaxK) + ")");
  if (std::find(q.begin(), q.end(), int8_t{-128}) != q.end())
    throw Error(ErrorCode::InvalidArgument, "PackedLinearInt8: weights must lie in [-127, 127] (found -128)");
  const int panels = (N + P - 1) / P, k4 = (K + 3) / 4;
  const int glen = int8_group_len(K, group);
  weight_bytes_ = static_cast<std::size_t>(panels) * k4 * P * 4;
  const std::size_t cols = static_cast<std::size_t>(panels) * P;
  bytes_ = weight_bytes_ + cols * (groups * (sizeof(int32_t) + sizeof(float)) + 2 * sizeof(float));
  data_.reset(new (std::align_val_t(64)) uint8_t[bytes_]);
  std::fill_n(data_.get(), bytes_, uint8_t{0});  // also the padding columns and the zeros
  auto* w = reinterpret_cast<int8_t*>(data_.get());
  const PackedInt8Panels v = view();
  auto* colsum = const_cast<int32_t*>(v.colsum);
  auto* sc = const_cast<float*>(v.scale);
  auto* b = const_cast<float*>(v.bias);
  for (int n = 0; n < N; ++n) {
    const int p = n / P, c = n % P;
    int8_t* panel = w + static_cast<std::size_t>(p) * k4 * P * 4;
    for (int k = 0; k < K; ++k) {
      const int8_t x = q[static_cast<std::size_t>(n) * K + k];
      panel[(static_cast<std::size_t>(k / 4) * P + c) * 4 + k % 4] = x;
      colsum[static_cast<std::size_t>(k / glen) * cols + n] += x;
    }
    for (int g = 0; g < groups; ++g)
      sc[static_cast<std::size_t>(g) * cols + n] =
          scale_per_group ? scale[static_cast<std::size_t>(n) * groups + g] : scale[n];
    b[n] = bias.empty() ? 0.0f : bias[n];
  }
}

PackedInt8Panels PackedLinearInt8::view() const {
  const std::size_t cols = static_cast<std::size_t>((n_ + kPanel - 1) / kPanel) * kPanel;
  uint8_t* base = data_.get();
  const auto* colsum = reinterpret_cast<const int32_t*>(base + weight_bytes_);
  const std::size_t groups = int8_groups(k_, group_);
  const auto* scale = reinterpret_cast<const float*>(colsum + cols * groups);
  const float* bias = scale + cols * groups;
  return {reinterpret_cast<const int8_t*>(base), colsum, scale, bias, bias + cols, n_, k_, group_};
}

// ============================================================================================== ISA

bool int8_isa_supported(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::Portable:
      return true;
#if VITVK_X86_INT8
    case Int8Isa::Avx2:
      return cpu_isa_supported(CpuIsa::Avx2);
    case Int8Isa::AvxVnni:
      __builtin_cpu_init();
      return cpu_isa_supported(CpuIsa::Avx2) && __builtin_cpu_supports("avxvnni");
    case Int8Isa::Avx512Vnni:
      __builtin_cpu_init();
      return cpu_isa_supported(CpuIsa::Avx512) && __builtin_cpu_supports("avx512vnni");
#endif
    default:
      return false;
  }
}

const char* int8_isa_name(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::Avx512Vnni: return "avx512-vnni";
    case Int8Isa::AvxVnni: return "avx-vnni";
    case Int8Isa::Avx2: return "avx2";
    default: return "portable";
  }
}

Int8Isa cpu_int8_isa() {
  static const Int8Isa best = [] {
    const CpuIsa cap = cpu_gemm_isa();  // VITVK_CPU_ISA, checked there
    if (cap == CpuIsa::Avx512 && int8_isa_supported(Int8Isa::Avx512Vnni)) return Int8Isa::Avx512Vnni;
    if (cap != CpuIsa::Portable && int8_isa_supported(Int8Isa::AvxVnni)) return Int8Isa::AvxVnni;
    if (cap != CpuIsa::Portable && int8_isa_supported(Int8Isa::Avx2)) return Int8Isa::Avx2;
    return Int8Isa::Portable;
  }();
  return best;
}

namespace {
constexpr int kRowsPortable = 4, kRowsAvx512 = 12, kRowsAvxVnni = 6, kRowsAvx2 = 5;
}

int int8_tile_rows(Int8Isa isa) {
  switch (isa) {
    case Int8Isa::Avx512Vnni: return kRowsAvx512;
    case Int8Isa::AvxVnni: return kRowsAvxVnni;
    case Int8Isa::Avx2: return kRowsAvx2;
    default: return kRowsPortable;
  }
}

// ============================================================================================== activations

void QuantizedRows::reset(int M, int K, int group_size) {
  if (M < 0 || K < 1 || !int8_group_valid(group_size))
    throw Error(ErrorCode::InvalidArgument, "QuantizedRows: bad size or group (" + std::to_string(M) + " x " +
                                                std::to_string(K) + ", group " + std::to_string(group_size) + ")");
  rows = M;
  k = K;
  group = group_size;
  ld = (K + 63) / 64 * 64;
  const std::size_t need = static_cast<std::size_t>(M) * ld, params = static_cast<std::size_t>(M) * groups();
  if (data.size() < need) data.resize(need);
  if (scale.size() < params) scale.resize(params), zero.resize(params);
}

namespace {

// The scale and zero point of a row with the given min (<= 0) and max (>= 0), and the multiplier 1 / scale.
// A row of zeros (or with a non-finite value) gets scale 0: every q is then its zero point and it contributes 0.
struct RowParams {
  float scale = 0.0f, inv = 0.0f, zero = 0.0f;
};
RowParams row_params(float lo, float hi, ActQuant mode) {
  RowParams p;
  if (mode == ActQuant::Symmetric) {
    const float s = std::max(-lo, hi) / 127.0f;
    p.zero = 128.0f;
    if (s > 0.0f && std::isfinite(s)) p.scale = s, p.inv = 1.0f / s;
    return p;
  }
  const float s = (hi - lo) / 255.0f;
  if (!(s > 0.0f) || !std::isfinite(s)) return p;
  p.scale = s;
  p.inv = 1.0f / s;
  p.zero = std::fmin(std::fmax(std::nearbyint(-lo * p.inv), 0.0f), 255.0f);
  return p;
}

// q = clamp(round-half-even(x / s) + z, 0, 255); the same float steps in every ISA, so the same bytes.
inline uint8_t quantize_one(float x, const RowParams& p) {
  return static_cast<uint8_t>(std::fmin(std::fmax(std::nearbyint(x * p.inv) + p.zero, 0.0f), 255.0f));
}

void quantize_row_portable(const float* x, int K, uint8_t* q, ActQuant mode, float& scale, int32_t& zero) {
  float lo = 0.0f, hi = 0.0f;
  for (int k = 0; k < K; ++k) lo = std::fmin(lo, x[k]), hi = std::fmax(hi, x[k]);
  const RowParams p = row_params(lo, hi, mode);
  for (int k = 0; k < K; ++k) q[k] = quantize_one(x[k], p);
  scale = p.scale;
  zero = static_cast<int32_t>(p.zero);
}

#if VITVK_X86_INT8
// The row's parameters from the vector forms' per-lane minima and maxima (exact in any order).
RowParams lane_params(const float* los, const float* his, int lanes, ActQuant mode) {
  return row_params(*std::min_element(los, los + lanes), *std::max_element(his, his + lanes), mode);
}

// Lanes [0, n) of 8 set (the AVX2 forms' masked loads and stores).
VITVK_AVX2 inline __m256i lane_mask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

VITVK_AVX512 void quantize_row_avx512(const float* x, int K, uint8_t* q, ActQuant mode, float& scale, int32_t& zero) {
  const __mmask16 all = 0xFFFF;  // maskz forms: see exp_avx512
  __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
  for (int k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? all : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + k);  // masked-off lanes read as 0, inside [lo, hi] anyway
    lo = _mm512_maskz_min_ps(all, lo, v);
    hi = _mm512_maskz_max_ps(all, hi, v);
  }
  // Reduced through memory: GCC 12's _mm512_reduce_* trip -Wuninitialized (PR 105593). Exact in any order.
  alignas(64) float los[16], his[16];
  _mm512_store_ps(los, lo);
  _mm512_store_ps(his, hi);
  const RowParams p = lane_params(los, his, 16, mode);
  const __m512 inv = _mm512_set1_ps(p.inv), z = _mm512_set1_ps(p.zero);
  for (int k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? all : static_cast<__mmask16>((1u << (K - k)) - 1);
    __m512 v = _mm512_maskz_roundscale_ps(all, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), inv),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // max/min return their second operand when the first is NaN: a NaN lane becomes 0 as in quantize_one.
    v = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, _mm512_add_ps(v, z), _mm512_setzero_ps()),
                            _mm512_set1_ps(255.0f));
    _mm_mask_storeu_epi8(q + k, m, _mm512_maskz_cvtepi32_epi8(all, _mm512_maskz_cvtps_epi32(all, v)));
  }
  scale = p.scale;
  zero = static_cast<int32_t>(p.zero);
}

// AVX2 (and AVX-VNNI): the portable steps 8 lanes at a time. The tail is read through a mask (off lanes read 0,
// inside [lo, hi] anyway) and stored through a small buffer.
VITVK_AVX2 inline __m256 load_upto8(const float* x, int n) {
  return n >= 8 ? _mm256_loadu_ps(x) : _mm256_maskload_ps(x, lane_mask(n));
}

VITVK_AVX2 void quantize_row_avx2(const float* x, int K, uint8_t* q, ActQuant mode, float& scale, int32_t& zero) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  for (int k = 0; k < K; k += 8) {
    const __m256 v = load_upto8(x + k, K - k);
    // min/max return their second operand when one is NaN: a NaN is skipped, as fmin / fmax skip it.
    lo = _mm256_min_ps(v, lo);
    hi = _mm256_max_ps(v, hi);
  }
  alignas(32) float los[8], his[8];
  _mm256_store_ps(los, lo);
  _mm256_store_ps(his, hi);
  const RowParams p = lane_params(los, his, 8, mode);
  const __m256 inv = _mm256_set1_ps(p.inv), z = _mm256_set1_ps(p.zero);
  for (int k = 0; k < K; k += 8) {
    __m256 v = _mm256_round_ps(_mm256_mul_ps(load_upto8(x + k, K - k), inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    // A NaN lane becomes 0 (max's second operand), as in quantize_one.
    v = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, z), _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
    const __m256i i32 = _mm256_cvtps_epi32(v);  // 0..255: the packs below cannot saturate
    const __m128i i16 = _mm_packus_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
    const __m128i u8 = _mm_packus_epi16(i16, i16);
    if (K - k >= 8) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), u8);
    } else {
      alignas(16) uint8_t tail[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(tail), u8);
      std::memcpy(q + k, tail, static_cast<std::size_t>(K - k));
    }
  }
  scale = p.scale;
  zero = static_cast<int32_t>(p.zero);
}
#endif

}  // namespace

void quantize_rows(const float* x, long ldx, int m0, int m1, QuantizedRows& q, ActQuant mode, Int8Isa isa) {
  if (m0 < 0 || m1 > q.rows || m0 > m1) throw Error(ErrorCode::InvalidArgument, "quantize_rows: bad row range");
  for (int m = m0; m < m1; ++m) {
    uint8_t* row = q.row(m);
    std::fill(row + q.k, row + q.ld, uint8_t{0});
    for (int g = 0, k0 = 0; k0 < q.k; ++g, k0 += q.group_len()) {
      const int len = std::min(q.group_len(), q.k - k0);
      const std::size_t at = static_cast<std::size_t>(g) * q.rows + m;
      const float* xg = x + m * ldx + k0;
#if VITVK_X86_INT8
      if (isa == Int8Isa::Avx512Vnni) {
        quantize_row_avx512(xg, len, row + k0, mode, q.scale[at], q.zero[at]);
        continue;
      }
      if (isa == Int8Isa::AvxVnni || isa == Int8Isa::Avx2) {
        quantize_row_avx2(xg, len, row + k0, mode, q.scale[at], q.zero[at]);
        continue;
      }
#else
      (void)isa;
#endif
      quantize_row_portable(xg, len, row + k0, mode, q.scale[at], q.zero[at]);
    }
  }
}

// ============================================================================================== GEMM
namespace {

// The epilogue's inputs for one tile: per row (at the tile's first row) the activations' scale and zero point;
// per column (at the tile's first column) the weights' sums, scales and bias.
struct TileEpi {
  const float* xs;
  const int32_t* xz;
  const int32_t* colsum;
  const float* ws;
  const float* bias;
  Epilogue ep;
};

// rows [0, MR) of a (row stride lda) times k4 groups of a packed panel (stride 128 bytes per group), `cols` <= 32
// of the panel's columns stored into c (stride ldc).
using Int8TileFn = void (*)(const uint8_t* a, long lda, const int8_t* b, int k4, float* c, long ldc, int cols,
                            const TileEpi& e);

inline int32_t load4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---------------------------------------------------------------------------------------------- portable
inline float finish_one(int32_t acc, int r, int j, const TileEpi& e, float old) {
  const float v = static_cast<float>(acc - e.xz[r] * e.colsum[j]) * (e.xs[r] * e.ws[j]) + e.bias[j];
  if (e.ep == Epilogue::Gelu) return gelu_approx(v);
  if (e.ep == Epilogue::Residual) return old + v;
  return v;
}

template <int MR>
void tile_portable(const uint8_t* a, long lda, const int8_t* b, int k4, float* c, long ldc, int cols, const TileEpi& e) {
  constexpr int P = PackedInt8Panels::kPanel;
  int32_t acc[MR][P] = {};
  for (int g = 0; g < k4; ++g) {
    const int8_t* bg = b + static_cast<long>(g) * P * 4;
    for (int r = 0; r < MR; ++r) {
      const uint8_t* ar = a + r * lda + 4 * g;
      for (int j = 0; j < P; ++j)
        acc[r][j] += ar[0] * bg[4 * j] + ar[1] * bg[4 * j + 1] + ar[2] * bg[4 * j + 2] + ar[3] * bg[4 * j + 3];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < cols; ++j) c[r * ldc + j] = finish_one(acc[r][j], r, j, e, c[r * ldc + j]);
}

#if VITVK_X86_INT8
// vpdpbusd in place. Through the intrinsics GCC 12 copies every accumulator to a fresh register around each
// vpdpbusd (and spills some): the 12 x 32 tile ran at about a third of its rate (perf annotate: vmovdqa64
// between the dot products). The asm operand "+v" keeps each accumulator where it is.
// AT&T order: weights (s8), activations (u8), accumulator.
#define VITVK_DPBUSD_512(acc, u8, s8) asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u8), "v"(s8))
// AVX-VNNI: the VEX encoding ({vex}, written %{vex%} in a template: the assembler would otherwise pick AVX512-VNNI's EVEX form), so xmm0-15.
#define VITVK_DPBUSD_VEX(acc, u8, s8) asm("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u8), "x"(s8))

// acc += vpmaddwd(a, b) with the accumulator pinned in its register, for the same reason (AVX2 without VNNI:
// through the intrinsics the 5 x 8 tile moved or spilled every accumulator on each step).
#define VITVK_MADDWD_ACC(acc, a, b)                                                                           \
  do {                                                                                                        \
    __m256i t_;                                                                                               \
    asm("vpmaddwd %2, %3, %1\n\tvpaddd %1, %0, %0" : "+x"(acc), "=&x"(t_) : "x"(a), "x"(b));                \
  } while (0)

// ---------------------------------------------------------------------------------------------- AVX-512 VNNI
// MR x 32: 2 MR int32 accumulators, two 64-byte panel loads per group of 4 k, 4 activation bytes broadcast.
template <int MR>
VITVK_AVX512_VNNI void tile_avx512_vnni(const uint8_t* a, long lda, const int8_t* b, int k4, float* c, long ldc,
                                        int cols, const TileEpi& e) {
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? __mmask16(0xFFFF) : cols > 16 ? __mmask16((1u << (cols - 16)) - 1) : 0;
  __m512i acc0[MR], acc1[MR];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_si512();
  for (int g = 0; g < k4; ++g) {
    const __m512i b0 = _mm512_load_si512(b + 128L * g), b1 = _mm512_load_si512(b + 128L * g + 64);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi32(load4(a + r * lda + 4 * g));
      VITVK_DPBUSD_512(acc0[r], av, b0);
      VITVK_DPBUSD_512(acc1[r], av, b1);
    }
  }
  const __m512i cs0 = _mm512_loadu_si512(e.colsum), cs1 = _mm512_loadu_si512(e.colsum + 16);
  const __m512 ws0 = _mm512_loadu_ps(e.ws), ws1 = _mm512_loadu_ps(e.ws + 16);
  const __m512 bias0 = _mm512_loadu_ps(e.bias), bias1 = _mm512_loadu_ps(e.bias + 16);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    const __mmask16 all = 0xFFFF;  // maskz forms: see exp_avx512
    const __m512i z = _mm512_set1_epi32(e.xz[r]);
    const __m512 xs = _mm512_set1_ps(e.xs[r]);
    __m512 v0 = _mm512_maskz_cvtepi32_ps(all, _mm512_sub_epi32(acc0[r], _mm512_mullo_epi32(z, cs0)));
    __m512 v1 = _mm512_maskz_cvtepi32_ps(all, _mm512_sub_epi32(acc1[r], _mm512_mullo_epi32(z, cs1)));
    v0 = _mm512_fmadd_ps(v0, _mm512_mul_ps(xs, ws0), bias0);
    v1 = _mm512_fmadd_ps(v1, _mm512_mul_ps(xs, ws1), bias1);
    if (e.ep == Epilogue::Gelu) {
      v0 = gelu_avx512(v0);
      v1 = gelu_avx512(v1);
    } else if (e.ep == Epilogue::Residual) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, c + r * ldc), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, c + r * ldc + 16), v1);
    }
    _mm512_mask_storeu_ps(c + r * ldc, m0, v0);
    _mm512_mask_storeu_ps(c + r * ldc + 16, m1, v1);
  }
}

// ---------------------------------------------------------------------------------------------- AVX2 forms
// 8 int32 sums of one row for 8 columns -> floats finished and stored (the AVX kernels' shared epilogue). `full`:
// all 8 columns, through plain loads and stores; vmaskmovps stores are microcoded on AMD (on Zen 3, with
// 64-channel groups, whose every group adds to c, the int8 GEMM took 1.4-2.2x the one-group time through them on
// ViT shapes, 1.2-1.75x without).
VITVK_AVX2 inline void finish_avx2(__m256i acc, int r, const TileEpi& e, int j0, float* c, __m256i mask, bool full) {
  const __m256i cs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.colsum + j0));
  __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_mullo_epi32(_mm256_set1_epi32(e.xz[r]), cs)));
  v = _mm256_fmadd_ps(v, _mm256_mul_ps(_mm256_set1_ps(e.xs[r]), _mm256_loadu_ps(e.ws + j0)), _mm256_loadu_ps(e.bias + j0));
  if (e.ep == Epilogue::Gelu) v = gelu_avx2(v);
  else if (e.ep == Epilogue::Residual) v = _mm256_add_ps(full ? _mm256_loadu_ps(c) : _mm256_maskload_ps(c, mask), v);
  if (full) _mm256_storeu_ps(c, v);
  else _mm256_maskstore_ps(c, mask, v);
}

// AVX-VNNI: MR x 16 over one half of the panel (b at the half: 64 of each group's 128 bytes).
template <int MR>
VITVK_AVX_VNNI void half_avx_vnni(const uint8_t* a, long lda, const int8_t* b, int k4, float* c, long ldc, int cols,
                                  const TileEpi& e, int j0) {
  __m256i acc0[MR], acc1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_si256();
  for (int g = 0; g < k4; ++g) {
    const __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + 128L * g));
    const __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(b + 128L * g + 32));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256i av = _mm256_set1_epi32(load4(a + r * lda + 4 * g));
      VITVK_DPBUSD_VEX(acc0[r], av, b0);
      VITVK_DPBUSD_VEX(acc1[r], av, b1);
    }
  }
  const __m256i mask0 = lane_mask(cols), mask1 = lane_mask(cols - 8);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    finish_avx2(acc0[r], r, e, j0, c + r * ldc, mask0, cols >= 8);
    finish_avx2(acc1[r], r, e, j0 + 8, c + r * ldc + 8, mask1, cols >= 16);
  }
}

template <int MR>
VITVK_AVX_VNNI void tile_avx_vnni(const uint8_t* a, long lda, const int8_t* b, int k4, float* c, long ldc, int cols,
                                  const TileEpi& e) {
  half_avx_vnni<MR>(a, lda, b, k4, c, ldc, std::min(cols, 16), e, 0);
  if (cols > 16) half_avx_vnni<MR>(a, lda, b + 64, k4, c + 16, ldc, cols - 16, e, 16);
}

// AVX2 without VNNI: MR x 8 over a quarter of the panel (32 of each group's 128 bytes: columns j0..j0+7, 4 k
// each). vpmaddubsw would saturate (255 * 127 * 2 > 32767), so both operands are widened to int16 and vpmaddwd
// sums pairs into int32 exactly; the two pair sums of a column are added when the tile is finished.
// Its rate on Zen 3 (tools/cpu_gemm_bench --int8, ViT-B shapes, one thread): vpmaddwd runs 2 a cycle as the
// fp32 FMA does, with 16 products to the FMA's 8, so the bound is 2x fp32; this tile, 5 rows (6 spilled: 12
// accumulators, 2 weights, the activations, the sum and the shuffle mask are 17 registers), reached 1.2-1.65x
// the fp32 kernel, quantization included.
template <int MR>
VITVK_AVX2 void quarter_avx2(const uint8_t* a, long lda, const int8_t* b, int k4, float* c, long ldc, int cols,
                             const TileEpi& e, int j0) {
  __m256i lo[MR], hi[MR];  // columns 0-3 and 4-7, each as (k0 k1, k2 k3) pair sums
  // byte i of a dword to int16 lane i (-128: a zero byte), the same in every 4-byte group.
  const __m256i widen = _mm256_setr_epi8(0, -128, 1, -128, 2, -128, 3, -128, 0, -128, 1, -128, 2, -128, 3, -128, 0,
                                         -128, 1, -128, 2, -128, 3, -128, 0, -128, 1, -128, 2, -128, 3, -128);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) lo[r] = hi[r] = _mm256_setzero_si256();
  for (int g = 0; g < k4; ++g) {
    const int8_t* bg = b + 128L * g;
    const __m256i w0 = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(bg)));
    const __m256i w1 = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(bg + 16)));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      // The row's 4 bytes broadcast from memory, then zero-extended to int16 in place by one vpshufb.
      const __m256i av = _mm256_shuffle_epi8(_mm256_set1_epi32(load4(a + r * lda + 4 * g)), widen);
      VITVK_MADDWD_ACC(lo[r], av, w0);
      VITVK_MADDWD_ACC(hi[r], av, w1);
    }
  }
  const __m256i mask = lane_mask(cols);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    // hadd: (c0 c1 c4 c5 | c2 c3 c6 c7); the 64-bit permute puts the columns in order.
    const __m256i s = _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo[r], hi[r]), _MM_SHUFFLE(3, 1, 2, 0));
    finish_avx2(s, r, e, j0, c + r * ldc, mask, cols == 8);
  }
}

template <int MR>
VITVK_AVX2 void tile_avx2(const uint8_t* a, long lda, const int8_t* b, int k4, float* c, long ldc, int cols,
                          const TileEpi& e) {
  for (int q = 0; q * 8 < cols; ++q)
    quarter_avx2<MR>(a, lda, b + 32 * q, k4, c + 8 * q, ldc, std::min(8, cols - 8 * q), e, 8 * q);
}

// GELU over the `cols` (<= 32) finished values of a tile row, in the tiles' own vector forms: ops::gelu_inplace's
// x86-64-v3 clone is scalar (objdump: no ymm instruction in it), as its softmax clone was.
VITVK_AVX512 void gelu_row_avx512(float* c, int cols) {
  for (int j = 0; j < cols; j += 16) {
    const __mmask16 m = cols - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (cols - j)) - 1);
    _mm512_mask_storeu_ps(c + j, m, gelu_avx512(_mm512_maskz_loadu_ps(m, c + j)));
  }
}
VITVK_AVX2 void gelu_row_avx2(float* c, int cols) {
  int j = 0;
  for (; j + 8 <= cols; j += 8) _mm256_storeu_ps(c + j, gelu_avx2(_mm256_loadu_ps(c + j)));
  if (j < cols) {  // vmaskmovps only for the tail (see finish_avx2)
    const __m256i m = lane_mask(cols - j);
    _mm256_maskstore_ps(c + j, m, gelu_avx2(_mm256_maskload_ps(c + j, m)));
  }
}
#endif  // VITVK_X86_INT8

void gelu_row(float* c, int cols, Int8Isa isa) {
#if VITVK_X86_INT8
  if (isa == Int8Isa::Avx512Vnni) return gelu_row_avx512(c, cols);
  if (isa == Int8Isa::AvxVnni || isa == Int8Isa::Avx2) return gelu_row_avx2(c, cols);
#else
  (void)isa;
#endif
  for (int j = 0; j < cols; ++j) c[j] = gelu_approx(c[j]);
}

template <template <int> class K, int... I>
constexpr auto tile_table(std::integer_sequence<int, I...>) {
  return std::array<Int8TileFn, sizeof...(I)>{K<I + 1>::fn...};
}
template <int MR>
struct Portable {
  static constexpr Int8TileFn fn = tile_portable<MR>;
};
#if VITVK_X86_INT8
template <int MR>
struct Avx512Vnni {
  static constexpr Int8TileFn fn = tile_avx512_vnni<MR>;
};
template <int MR>
struct AvxVnni {
  static constexpr Int8TileFn fn = tile_avx_vnni<MR>;
};
template <int MR>
struct Avx2 {
  static constexpr Int8TileFn fn = tile_avx2<MR>;
};
#endif

}  // namespace

void int8_gemm_tile(const PackedInt8Panels& w, const QuantizedRows& x, float* y, long ldy, int m0, int m1, int n0,
                    int n1, Epilogue ep, Int8Isa isa) {
  constexpr int P = PackedInt8Panels::kPanel;
  if (m1 <= m0 || n1 <= n0) return;
  if (n0 % P != 0 || n1 > w.n || m0 < 0 || m1 > x.rows || x.k != w.k || x.group != w.group || !int8_isa_supported(isa))
    throw Error(ErrorCode::InvalidArgument, "int8_gemm_tile: bad ranges, mismatched K or group, or unsupported ISA");
  static constexpr auto portable = tile_table<Portable>(std::make_integer_sequence<int, kRowsPortable>{});
  const Int8TileFn* table = portable.data();
  int max_rows = kRowsPortable;
#if VITVK_X86_INT8
  static constexpr auto avx512 = tile_table<Avx512Vnni>(std::make_integer_sequence<int, kRowsAvx512>{});
  static constexpr auto avx_vnni = tile_table<AvxVnni>(std::make_integer_sequence<int, kRowsAvxVnni>{});
  static constexpr auto avx2 = tile_table<Avx2>(std::make_integer_sequence<int, kRowsAvx2>{});
  if (isa == Int8Isa::Avx512Vnni) table = avx512.data(), max_rows = kRowsAvx512;
  if (isa == Int8Isa::AvxVnni) table = avx_vnni.data(), max_rows = kRowsAvxVnni;
  if (isa == Int8Isa::Avx2) table = avx2.data(), max_rows = kRowsAvx2;
#endif
  const int rows = m1 - m0, k4 = w.k4(), groups = x.groups(), glen4 = (x.group_len() + 3) / 4;
  const long wcols = w.cols();
  // Row tiles of nearly equal height, as in the fp32 kernel; panel by panel so the weights stream once.
  const int tiles = (rows + max_rows - 1) / max_rows, base = rows / tiles, extra = rows % tiles;
  for (int n = n0; n < n1; n += P) {
    const int cols = std::min(P, n1 - n);
    const int8_t* panel = w.panel(n / P);
    for (int t = 0, m = m0; t < tiles; ++t) {
      const int h = base + (t < extra ? 1 : 0);
      float* yt = y + m * ldy + n;
      // One call per group of K: the first stores (or adds to the residual) with the bias, the others add their
      // share; GELU after the last. (Taking the groups inside the AVX2 tile, with fp32 partial sums in memory,
      // measured 2x slower: GCC then spilled its accumulators.) One group: the tile's own epilogue.
      for (int g = 0; g < groups; ++g) {
        const std::size_t at = static_cast<std::size_t>(g) * x.rows + m;
        const Epilogue eg = groups == 1                             ? ep
                            : g > 0 || ep == Epilogue::Residual ? Epilogue::Residual
                                                                : Epilogue::None;
        const TileEpi e{x.scale.data() + at, x.zero.data() + at, w.colsum + g * wcols + n, w.scale + g * wcols + n,
                        (g == 0 ? w.bias : w.zeros) + n, eg};
        const int s0 = g * glen4;
        table[h - 1](x.row(m) + 4 * s0, x.ld, panel + 4L * P * s0, std::min(glen4, k4 - s0), yt, ldy, cols, e);
      }
      if (ep == Epilogue::Gelu && groups > 1)
        for (int r = 0; r < h; ++r) gelu_row(yt + r * ldy, cols, isa);
      m += h;
    }
  }
}

}  // namespace vitvk::ops
