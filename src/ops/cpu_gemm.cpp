#include "ops/cpu_gemm.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#include <unistd.h>

#include "ops/cpu_math.hpp"
#include "vitvk/error.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include "ops/cpu_simd_math.hpp"  // exp / GELU in vectors, the VITVK_AVX512 / VITVK_AVX2 target attributes
#define VITVK_X86_KERNELS 1
#else
#define VITVK_X86_KERNELS 0
#endif

namespace vitvk::ops {

void PackedLinear::Free::operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }

namespace {

void pack_rows_portable(const float* w, long ldw, int N, int K, float scale, float* dst) {
  constexpr int P = PackedPanels::kPanel;
  for (int p = 0; p < (N + P - 1) / P; ++p, dst += static_cast<std::size_t>(K) * P) {
    const int cols = std::min(P, N - p * P);
    for (int j = 0; j < cols; ++j) {
      const float* src = w + static_cast<long>(p * P + j) * ldw;
      for (int k = 0; k < K; ++k) dst[static_cast<std::size_t>(k) * P + j] = scale * src[k];
    }
    for (int j = cols; j < P; ++j)
      for (int k = 0; k < K; ++k) dst[static_cast<std::size_t>(k) * P + j] = 0.0f;
  }
}

}  // namespace

void pack_transposed(const float* wt, long ld, int N, int K, float* dst) {
  constexpr int P = PackedPanels::kPanel;
  for (int p = 0; p < (N + P - 1) / P; ++p) {
    const int cols = std::min(P, N - p * P);
    for (int k = 0; k < K; ++k, dst += P) {
      const float* src = wt + static_cast<long>(k) * ld + p * P;
      if (cols == P) {  // a constant-size copy, inlined: a memmove call per 128 bytes cost more than the bytes
        std::copy_n(src, P, dst);
        continue;
      }
      std::copy_n(src, cols, dst);
      std::fill(dst + cols, dst + P, 0.0f);
    }
  }
}

PackedLinear::PackedLinear(std::span<const float> w, std::span<const float> b, int N, int K)
    : n_(N), k_(K), has_bias_(!b.empty()) {
  if (N < 1 || K < 1 || w.size() != static_cast<std::size_t>(N) * K || (!b.empty() && b.size() != std::size_t(N)))
    throw Error(ErrorCode::InvalidArgument, "PackedLinear: weight / bias sizes do not match " + std::to_string(N) +
                                                " x " + std::to_string(K));
  const std::size_t count = bytes() / sizeof(float);
  data_.reset(new (std::align_val_t(64)) float[count]);
  pack_rows(w.data(), K, N, K, 1.0f, data_.get(), cpu_gemm_isa());
  float* bias = data_.get() + packed_floats(N, K);
  std::fill(bias, data_.get() + count, 0.0f);
  if (has_bias_) std::copy(b.begin(), b.end(), bias);
}

namespace {

// Kernel flags: start from what y holds (a later K block, or the residual stream), and on the last K block add
// the bias and apply GELU before the store.
enum : int { kLoadC = 1, kFinish = 2, kGelu = 4 };

// One register tile: rows [0, MR) of a (row stride lda, already at the K block) times `kc` rows of a packed
// panel b (stride 32), into c (stride ldc), `cols` <= 32 of the panel's columns stored.
using TileFn = void (*)(const float* a, long lda, const float* b, int kc, float* c, long ldc, int cols,
                        const float* bias, int flags);

// ---------------------------------------------------------------------------------------------- portable
template <int MR>
void tile_portable(const float* a, long lda, const float* b, int kc, float* c, long ldc, int cols, const float* bias,
                   int flags) {
  constexpr int W = PackedLinear::kPanel;
  float acc[MR][W];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < W; ++j) acc[r][j] = (flags & kLoadC) && j < cols ? c[r * ldc + j] : 0.0f;
  for (int k = 0; k < kc; ++k) {
    const float* bk = b + static_cast<long>(k) * W;
    for (int r = 0; r < MR; ++r) {
      const float av = a[r * lda + k];
      for (int j = 0; j < W; ++j) acc[r][j] += av * bk[j];
    }
  }
  for (int r = 0; r < MR; ++r) {
    if (flags & kFinish) {
      if (bias)
        for (int j = 0; j < W; ++j) acc[r][j] += bias[j];
      if (flags & kGelu)
        for (int j = 0; j < W; ++j) acc[r][j] = gelu_approx(acc[r][j]);
    }
    std::copy_n(acc[r], cols, c + r * ldc);
  }
}

#if VITVK_X86_KERNELS
// ---------------------------------------------------------------------------------------------- AVX-512
// MR x 32: 2 MR accumulators (up to 28 of the 32 zmm registers), two panel loads per k, x broadcast from memory.
template <int MR>
VITVK_AVX512 void tile_avx512(const float* a, long lda, const float* b, int kc, float* c, long ldc, int cols,
                              const float* bias, int flags) {
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32 ? __mmask16(0xFFFF) : cols > 16 ? __mmask16((1u << (cols - 16)) - 1) : 0;
  __m512 acc0[MR], acc1[MR];
  if (flags & kLoadC) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      acc0[r] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
      acc1[r] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
    }
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  }
  for (int k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(b + 32L * k), b1 = _mm512_load_ps(b + 32L * k + 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r * lda + k]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
  if (flags & kFinish) {
    if (bias) {
      const __m512 bias0 = _mm512_load_ps(bias), bias1 = _mm512_load_ps(bias + 16);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        acc0[r] = _mm512_add_ps(acc0[r], bias0);
        acc1[r] = _mm512_add_ps(acc1[r], bias1);
      }
    }
    if (flags & kGelu) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, gelu_avx512(acc0[r]));
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, gelu_avx512(acc1[r]));
      }
      return;
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc, m0, acc0[r]);
    _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc1[r]);
  }
}

// pack_rows in 16 x 16 blocks transposed in registers (the scalar form scatters every float to its own cache
// line: 2.8 % of a ViT-Ti batch-16 pass, for packing each head's K). Same products, so the same bits.
VITVK_AVX512 void pack_rows_avx512(const float* w, long ldw, int N, int K, float scale, float* dst) {
  constexpr int P = PackedPanels::kPanel;
  const __m512 sc = _mm512_set1_ps(scale);
  const __mmask16 all = 0xFFFF;  // maskz forms: see exp_avx512
  for (int p = 0; p < (N + P - 1) / P; ++p, dst += static_cast<std::size_t>(K) * P)
    for (int half = 0; half < 2; ++half) {
      const int j0 = p * P + half * 16, keys = std::clamp(N - j0, 0, 16);  // rows past N stay zero
      for (int k0 = 0; k0 < K; k0 += 16) {
        const int dims = std::min(16, K - k0);
        const __mmask16 m = static_cast<__mmask16>((1u << dims) - 1);
        __m512 r[16], t[16];
        for (int i = 0; i < 16; ++i)
          r[i] = i < keys ? _mm512_mul_ps(sc, _mm512_maskz_loadu_ps(m, w + (j0 + i) * ldw + k0)) : _mm512_setzero_ps();
        // Within 128-bit lanes: pairs of rows interleaved, then groups of four.
        for (int i = 0; i < 8; ++i) {
          t[2 * i] = _mm512_maskz_unpacklo_ps(all, r[2 * i], r[2 * i + 1]);
          t[2 * i + 1] = _mm512_maskz_unpackhi_ps(all, r[2 * i], r[2 * i + 1]);
        }
        for (int i = 0; i < 4; ++i) {
          r[4 * i] = _mm512_maskz_shuffle_ps(all, t[4 * i], t[4 * i + 2], 0x44);
          r[4 * i + 1] = _mm512_maskz_shuffle_ps(all, t[4 * i], t[4 * i + 2], 0xEE);
          r[4 * i + 2] = _mm512_maskz_shuffle_ps(all, t[4 * i + 1], t[4 * i + 3], 0x44);
          r[4 * i + 3] = _mm512_maskz_shuffle_ps(all, t[4 * i + 1], t[4 * i + 3], 0xEE);
        }
        // r[4i + c], lane L: rows 4i..4i+3 of column 4L + c. Gather the four lanes of each column.
        for (int c = 0; c < 4; ++c) {
          const __m512 e0 = _mm512_maskz_shuffle_f32x4(all, r[c], r[4 + c], 0x88);
          const __m512 e1 = _mm512_maskz_shuffle_f32x4(all, r[c], r[4 + c], 0xDD);
          const __m512 e2 = _mm512_maskz_shuffle_f32x4(all, r[8 + c], r[12 + c], 0x88);
          const __m512 e3 = _mm512_maskz_shuffle_f32x4(all, r[8 + c], r[12 + c], 0xDD);
          t[c] = _mm512_maskz_shuffle_f32x4(all, e0, e2, 0x88);
          t[8 + c] = _mm512_maskz_shuffle_f32x4(all, e0, e2, 0xDD);
          t[4 + c] = _mm512_maskz_shuffle_f32x4(all, e1, e3, 0x88);
          t[12 + c] = _mm512_maskz_shuffle_f32x4(all, e1, e3, 0xDD);
        }
        for (int c = 0; c < dims; ++c) _mm512_storeu_ps(dst + static_cast<std::size_t>(k0 + c) * P + half * 16, t[c]);
      }
    }
}

// ---------------------------------------------------------------------------------------------- AVX2 + FMA
// MR x 16 over one half of a 32-wide panel (b at the half, stride 32): 2 MR accumulators of the 16 ymm registers.
template <int MR>
VITVK_AVX2 void half_avx2(const float* a, long lda, const float* b, int kc, float* c, long ldc, int cols,
                          const float* bias, int flags) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lane);
  const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), lane);
  __m256 acc0[MR], acc1[MR];
  if (flags & kLoadC) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      acc0[r] = _mm256_maskload_ps(c + r * ldc, m0);
      acc1[r] = _mm256_maskload_ps(c + r * ldc + 8, m1);
    }
  } else {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
  }
  for (int k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b + 32L * k), b1 = _mm256_load_ps(b + 32L * k + 8);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r * lda + k);
      acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
    }
  }
  if (flags & kFinish) {
    if (bias) {
      const __m256 bias0 = _mm256_load_ps(bias), bias1 = _mm256_load_ps(bias + 8);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        acc0[r] = _mm256_add_ps(acc0[r], bias0);
        acc1[r] = _mm256_add_ps(acc1[r], bias1);
      }
    }
    if (flags & kGelu)
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        acc0[r] = gelu_avx2(acc0[r]);
        acc1[r] = gelu_avx2(acc1[r]);
      }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm256_maskstore_ps(c + r * ldc, m0, acc0[r]);
    _mm256_maskstore_ps(c + r * ldc + 8, m1, acc1[r]);
  }
}

template <int MR>
VITVK_AVX2 void tile_avx2(const float* a, long lda, const float* b, int kc, float* c, long ldc, int cols,
                          const float* bias, int flags) {
  half_avx2<MR>(a, lda, b, kc, c, ldc, std::min(cols, 16), bias, flags);
  if (cols > 16) half_avx2<MR>(a, lda, b + 16, kc, c + 16, ldc, cols - 16, bias ? bias + 16 : nullptr, flags);
}
#endif  // VITVK_X86_KERNELS

// Row-tile heights per ISA and the kernel of each height.
template <template <int> class K, int... I>
constexpr auto tile_table(std::integer_sequence<int, I...>) {
  return std::array<TileFn, sizeof...(I)>{K<I + 1>::fn...};
}
template <int MR>
struct Portable {
  static constexpr TileFn fn = tile_portable<MR>;
};
constexpr int kMaxRowsPortable = 4;
#if VITVK_X86_KERNELS
template <int MR>
struct Avx512 {
  static constexpr TileFn fn = tile_avx512<MR>;
};
template <int MR>
struct Avx2 {
  static constexpr TileFn fn = tile_avx2<MR>;
};
constexpr int kMaxRowsAvx512 = 12, kMaxRowsAvx2 = 6;
#endif

// K is split into blocks of at most this many rows so that a block of a panel (kc x 128 bytes) stays in L2,
// at half its size, while every row tile of the task streams through it; within that, unsplit K is best (each
// extra block reloads and re-stores the tile's accumulators): on a 1 MiB L2 that is 4096, i.e. no split for
// any ViT. Measured against the earlier fixed 384, interleaved model-level A/B on Zen 5, 2 threads: ViT-B/16
// b1 117 -> 103 ms, b16 1745 -> 1575 ms, ViT-B/32@384 b1 81 -> 78 ms, ViT-Ti/S unchanged within noise.
// VITVK_GEMM_KC overrides it (for tuning).
int k_block() {
  static const int kc = [] {
    const char* env = std::getenv("VITVK_GEMM_KC");
    const int v = env ? std::atoi(env) : 0;
    if (v > 0) return v;
    long l2 = 1 << 20;
#ifdef _SC_LEVEL2_CACHE_SIZE
    if (const long n = sysconf(_SC_LEVEL2_CACHE_SIZE); n > 0) l2 = n;
#endif
    return static_cast<int>(std::clamp(l2 / 2 / (PackedPanels::kPanel * static_cast<long>(sizeof(float))), 256L, 8192L));
  }();
  return kc;
}

// The activations' share of a 1 MiB L2 (Zen 4/5, recent Intel), the rest left to the weights and the output.
constexpr long kL2Floats = (448 << 10) / sizeof(float);

}  // namespace

int packed_tile_rows(CpuIsa isa) {
#if VITVK_X86_KERNELS
  if (isa == CpuIsa::Avx512) return kMaxRowsAvx512;
  if (isa == CpuIsa::Avx2) return kMaxRowsAvx2;
#else
  (void)isa;
#endif
  return kMaxRowsPortable;
}

bool cpu_isa_supported(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Portable:
      return true;
#if VITVK_X86_KERNELS
    case CpuIsa::Avx2:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuIsa::Avx512:
      __builtin_cpu_init();
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
             cpu_isa_supported(CpuIsa::Avx2);
#endif
    default:
      return false;
  }
}

const char* cpu_isa_name(CpuIsa isa) {
  return isa == CpuIsa::Avx512 ? "avx512" : isa == CpuIsa::Avx2 ? "avx2" : "portable";
}

CpuIsa cpu_gemm_isa() {
  static const CpuIsa best = [] {
    CpuIsa cap = CpuIsa::Avx512;
    if (const char* env = std::getenv("VITVK_CPU_ISA")) {
      const std::string v = env;
      if (v == "portable") cap = CpuIsa::Portable;
      else if (v == "avx2") cap = CpuIsa::Avx2;
      else if (v != "avx512")
        throw Error(ErrorCode::InvalidArgument, "VITVK_CPU_ISA must be portable, avx2 or avx512, got '" + v + "'");
    }
    for (CpuIsa i : {CpuIsa::Avx512, CpuIsa::Avx2})
      if (static_cast<int>(i) <= static_cast<int>(cap) && cpu_isa_supported(i)) return i;
    return CpuIsa::Portable;
  }();
  return best;
}

void pack_rows(const float* w, long ldw, int N, int K, float scale, float* dst, CpuIsa isa) {
#if VITVK_X86_KERNELS
  if (isa == CpuIsa::Avx512 && cpu_isa_supported(isa)) return pack_rows_avx512(w, ldw, N, K, scale, dst);
#else
  (void)isa;
#endif
  pack_rows_portable(w, ldw, N, K, scale, dst);
}

void packed_gemm_tile(const PackedPanels& w, const float* x, long ldx, float* y, long ldy, int m0, int m1, int n0,
                      int n1, Epilogue ep, CpuIsa isa, int kc_limit) {
  constexpr int P = PackedPanels::kPanel;
  if (m1 <= m0 || n1 <= n0) return;
  if (n0 % P != 0 || n1 > w.n || !cpu_isa_supported(isa))
    throw Error(ErrorCode::InvalidArgument, "packed_gemm_tile: bad column range or unsupported ISA");
  static constexpr auto portable = tile_table<Portable>(std::make_integer_sequence<int, kMaxRowsPortable>{});
  const TileFn* table = portable.data();
  int max_rows = kMaxRowsPortable;
#if VITVK_X86_KERNELS
  static constexpr auto avx512 = tile_table<Avx512>(std::make_integer_sequence<int, kMaxRowsAvx512>{});
  static constexpr auto avx2 = tile_table<Avx2>(std::make_integer_sequence<int, kMaxRowsAvx2>{});
  if (isa == CpuIsa::Avx512) table = avx512.data(), max_rows = kMaxRowsAvx512;
  if (isa == CpuIsa::Avx2) table = avx2.data(), max_rows = kMaxRowsAvx2;
#endif
  const int K = w.k, rows = m1 - m0;
  const int kc_limit_used = kc_limit > 0 ? kc_limit : k_block();
  const int kblocks = (K + kc_limit_used - 1) / kc_limit_used, kc_max = (K + kblocks - 1) / kblocks;
  // Row tiles of nearly equal height (73 rows: 7 tiles of 10 or 11, not 6 of 12 and a lone row).
  const int tiles = (rows + max_rows - 1) / max_rows, base = rows / tiles, extra = rows % tiles;
  // Panel by panel, so the packed weights stream through once, in memory order (a panel's K blocks are
  // contiguous and so are consecutive panels): the hardware prefetcher keeps ahead of them. The activations are
  // re-read for every panel from L2; where all of x would not fit there, K is first cut into groups of blocks
  // whose share of x does (the weights are then streamed once per group).
  const int group = std::max(1, static_cast<int>(kL2Floats / (static_cast<long>(rows) * kc_max)));
  for (int g0 = 0; g0 < kblocks; g0 += group) {
    const int g1 = std::min(kblocks, g0 + group);
    for (int n = n0; n < n1; n += P) {
      const float* bias = w.bias ? w.bias + n : nullptr;
      const int cols = std::min(P, n1 - n);
      for (int kb = g0; kb < g1; ++kb) {
        const int k0 = kb * kc_max, kc = std::min(K, k0 + kc_max) - k0;
        int flags = (kb > 0 || ep == Epilogue::Residual ? kLoadC : 0);
        if (kb == kblocks - 1) flags |= kFinish | (ep == Epilogue::Gelu ? kGelu : 0);
        const float* panel = w.panel(n / P) + static_cast<long>(k0) * P;
        for (int t = 0, m = m0; t < tiles; ++t) {
          const int h = base + (t < extra ? 1 : 0);
          table[h - 1](x + m * ldx + k0, ldx, panel, kc, y + m * ldy + n, ldy, cols, bias, flags);
          m += h;
        }
      }
    }
  }
}

}  // namespace vitvk::ops
