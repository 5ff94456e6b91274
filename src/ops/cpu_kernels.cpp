#include "ops/cpu_kernels.hpp"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "ops/cpu_math.hpp"

#include "core/simd.hpp"  // VITVK_SIMD_CLONES
#if defined(__x86_64__) && defined(__GNUC__)
#include "ops/cpu_simd_math.hpp"  // exp_avx2
#define VITVK_X86_SOFTMAX 1
#else
#define VITVK_X86_SOFTMAX 0
#endif

namespace vitvk::ops {
namespace {

constexpr int kLanes = 16;  // partial sums kept in independent lanes so reductions vectorize without fast-math
}  // namespace

VITVK_SIMD_CLONES static void gelu_inplace_simd(float* y, long n) {
  for (long i = 0; i < n; ++i) y[i] = gelu_approx(y[i]);
}

VITVK_SIMD_CLONES static void exp_inplace_simd(float* y, long n) {
  for (long i = 0; i < n; ++i) y[i] = exp_approx(y[i]);
}

VITVK_SIMD_CLONES static void softmax_inplace_simd(float* p, int rows, int cols, long ld) {
  for (int r = 0; r < rows; ++r) {
    float* x = p + r * ld;
    float lane_max[kLanes];
    std::fill_n(lane_max, kLanes, -INFINITY);
    int i = 0;
    for (; i + kLanes <= cols; i += kLanes)
      for (int l = 0; l < kLanes; ++l) lane_max[l] = std::max(lane_max[l], x[i + l]);
    float mx = *std::max_element(lane_max, lane_max + kLanes);
    for (; i < cols; ++i) mx = std::max(mx, x[i]);
    float lane_sum[kLanes] = {};
    i = 0;
    for (; i + kLanes <= cols; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float e = exp_approx(x[i + l] - mx);
        x[i + l] = e;
        lane_sum[l] += e;
      }
    float sum = 0.0f;
    for (; i < cols; ++i) {
      x[i] = exp_approx(x[i] - mx);
      sum += x[i];
    }
    for (int l = 0; l < kLanes; ++l) sum += lane_sum[l];
    const float inv = 1.0f / sum;
    for (int j = 0; j < cols; ++j) x[j] *= inv;
  }
}

namespace {

#if VITVK_X86_SOFTMAX
// softmax_inplace_simd's steps written out for AVX2: GCC leaves that function's x86-64-v3 clone scalar (perf
// annotate: vfmadd132ss over one element at a time; 12-14 % of a ViT-Ti fp32 pass on Zen 3, AVX2 only). The
// same exp steps with the same FMAs (exp_avx2 is exp_approx's vector form), the same 16 partial sums (two
// vectors) and the same order of the final additions, so each probability is the clone's to the bit.
VITVK_AVX2 void softmax_avx2(float* p, int rows, int cols, long ld) {
  for (int r = 0; r < rows; ++r) {
    float* x = p + r * ld;
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    int i = 0;
    for (; i + 16 <= cols; i += 16) {
      m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
      m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
    }
    alignas(32) float lanes[16];
    _mm256_store_ps(lanes, _mm256_max_ps(m0, m1));  // max is exact in any order
    float mx = *std::max_element(lanes, lanes + 8);
    for (; i < cols; ++i) mx = std::max(mx, x[i]);
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    i = 0;
    for (; i + 16 <= cols; i += 16) {
      const __m256 e0 = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmx));
      const __m256 e1 = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), vmx));
      _mm256_storeu_ps(x + i, e0);
      _mm256_storeu_ps(x + i + 8, e1);
      s0 = _mm256_add_ps(s0, e0);
      s1 = _mm256_add_ps(s1, e1);
    }
    float sum = 0.0f;
    for (; i < cols; ++i) {
      x[i] = exp_approx(x[i] - mx);
      sum += x[i];
    }
    _mm256_store_ps(lanes, s0);
    _mm256_store_ps(lanes + 8, s1);
    for (int l = 0; l < 16; ++l) sum += lanes[l];
    const float inv = 1.0f / sum;
    const __m256 vinv = _mm256_set1_ps(inv);
    int j = 0;
    for (; j + 8 <= cols; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), vinv));
    for (; j < cols; ++j) x[j] *= inv;
  }
}
#endif

// Rows of scores to probabilities: the AVX2 form where the kernels run AVX2, else the clone set.
void softmax_rows(float* p, int rows, int cols, long ld, CpuIsa isa) {
#if VITVK_X86_SOFTMAX
  if (isa == CpuIsa::Avx2) return softmax_avx2(p, rows, cols, ld);
#else
  (void)isa;
#endif
  softmax_inplace_simd(p, rows, cols, ld);
}

VITVK_SIMD_CLONES static void bias_rows_simd(float* y, long ldy, int rows, int cols, const float* b, bool gelu) {
  for (int r = 0; r < rows; ++r) {
    float* row = y + r * ldy;
    if (b)
      for (int j = 0; j < cols; ++j) row[j] += b[j];
    if (gelu)
      for (int j = 0; j < cols; ++j) row[j] = gelu_approx(row[j]);
  }
}

}  // namespace

void linear_tile(const float* x, int K, long ldx, const float* w, const float* b, float* y, long ldy, int m0, int m1,
                 int n0, int n1, Epilogue ep) {
  if (m1 <= m0 || n1 <= n0) return;
  float* yt = y + m0 * ldy + n0;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m1 - m0, n1 - n0, K, 1.0f, x + m0 * ldx, static_cast<int>(ldx),
              w + static_cast<long>(n0) * K, K, ep == Epilogue::Residual ? 1.0f : 0.0f, yt, static_cast<int>(ldy));
  // The tile was just written: bias and GELU now, while it is still in cache.
  bias_rows_simd(yt, ldy, m1 - m0, n1 - n0, b ? b + n0 : nullptr, ep == Epilogue::Gelu);
}

void attention_head_cpu(const float* qkv, const AttentionShape& s, int image, int head, int row0, int row1, float* out,
                        float* scratch, int block, const float* bias) {
  const int N = s.tokens, hd = s.head_dim, D = s.dim();
  const long row = 3L * D;  // qkv row stride
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float* base = qkv + static_cast<long>(image) * N * row;
  const float* k = base + D + head * hd;
  const float* v = base + 2 * D + head * hd;
  const float* bm = attention_bias_matrix(bias, s, image, head);
  for (int r0 = row0; r0 < row1; r0 += block) {
    const int rows = std::min(block, row1 - r0);
    // With a bias, the score rows start as its rows and the product adds to them (beta 1).
    if (bm) std::copy_n(bm + static_cast<long>(r0) * N, static_cast<long>(rows) * N, scratch);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, N, hd, scale, base + r0 * row + head * hd,
                static_cast<int>(row), k, static_cast<int>(row), bm ? 1.f : 0.f, scratch, N);
    softmax_inplace_simd(scratch, rows, N, N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, N, 1.f, scratch, N, v, static_cast<int>(row), 0.f,
                out + (static_cast<long>(image) * N + r0) * D + head * hd, D);
  }
}

std::size_t attention_packed_scratch_floats(const AttentionShape& s, int block) {
  const std::size_t scores = (static_cast<std::size_t>(block) * s.tokens + 15) / 16 * 16;
  return packed_floats(s.tokens, s.head_dim) + packed_floats(s.head_dim, s.tokens) + scores;
}

void attention_head_packed(const float* qkv, const AttentionShape& s, int image, int head, int row0, int row1,
                           float* out, float* scratch, int block, CpuIsa isa, float* probs, const float* bias) {
  const int N = s.tokens, hd = s.head_dim, D = s.dim();
  const long row = 3L * D;  // qkv row stride
  const float* base = qkv + static_cast<long>(image) * N * row;
  // Scores = Q K^T: K [N, hd] is the "weight" of a linear with hd inputs; the softmax scale rides on it.
  float* pk = scratch;
  pack_rows(base + D + head * hd, row, N, hd, 1.0f / std::sqrt(static_cast<float>(hd)), pk, isa);
  // Out = P V: the weight is V^T [hd, N], given transposed as V itself.
  float* pv = pk + packed_floats(N, hd);
  pack_transposed(base + 2 * D + head * hd, row, hd, N, pv);
  float* scores = pv + packed_floats(hd, N);
  const PackedPanels k_panels{pk, N, hd, nullptr}, v_panels{pv, hd, N, nullptr};
  const float* bm = attention_bias_matrix(bias, s, image, head);
  for (int r0 = row0; r0 < row1; r0 += block) {
    const int rows = std::min(block, row1 - r0);
    if (probs) scores = probs + static_cast<long>(r0) * N;
    // With a bias, the score rows start as its rows and the kernel's residual epilogue adds the product.
    if (bm) std::copy_n(bm + static_cast<long>(r0) * N, static_cast<long>(rows) * N, scores);
    packed_gemm_tile(k_panels, base + r0 * row + head * hd, row, scores, N, 0, rows, 0, N,
                     bm ? Epilogue::Residual : Epilogue::None, isa);
    softmax_rows(scores, rows, N, N, isa);
    packed_gemm_tile(v_panels, scores, N, out + (static_cast<long>(image) * N + r0) * D + head * hd, D, 0, rows, 0, hd,
                     Epilogue::None, isa);
  }
}

void fuse_head_probs(const float* p, long nn, int head, int heads, float* fused) {
  float* mean = fused;
  float* max = fused + nn;
  float* min = fused + 2 * nn;
  if (head == 0) {
    std::copy_n(p, nn, mean);
    std::copy_n(p, nn, max);
    std::copy_n(p, nn, min);
  } else {
    for (long i = 0; i < nn; ++i) {
      mean[i] += p[i];
      max[i] = std::max(max[i], p[i]);
      min[i] = std::min(min[i], p[i]);
    }
  }
  if (head == heads - 1)
    for (long i = 0; i < nn; ++i) mean[i] /= static_cast<float>(heads);
}

// Plain wrappers: a cloned function's ifunc resolver would otherwise be exported from the shared library
// whatever its visibility; internal-linkage clones keep it local.
void gelu_inplace(float* y, long n) { gelu_inplace_simd(y, n); }
void exp_inplace(float* y, long n) { exp_inplace_simd(y, n); }
void softmax_inplace(float* p, int rows, int cols, long ld) { softmax_inplace_simd(p, rows, cols, ld); }
void softmax_inplace(float* p, int rows, int cols, long ld, CpuIsa isa) { softmax_rows(p, rows, cols, ld, isa); }

}  // namespace vitvk::ops
