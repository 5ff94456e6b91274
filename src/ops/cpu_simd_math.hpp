#pragma once
// Vector forms of cpu_math.hpp's exp_approx / gelu_approx (same constants and steps, with FMAs) for the CPU
// kernels' epilogues: the fp32 packed GEMM (cpu_gemm.cpp) and the int8 GEMM (cpu_gemm_int8.cpp) share them, so
// both apply the same GELU, and the AVX2 softmax (cpu_kernels.cpp) its exp. Internal: include only from those
// translation units (x86-64 GCC/clang only).
#include <immintrin.h>

// Explicit ISA levels on internal-linkage functions, picked at run time with __builtin_cpu_supports: no -march
// flags, nothing exported. No arch= here, so the scalar helpers (cpu_math.hpp) may still be inlined into them.
#define VITVK_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define VITVK_AVX2 __attribute__((target("avx2,fma")))

namespace vitvk::ops {
namespace {

// 16 lanes at a time.
VITVK_AVX512 inline __m512 exp_avx512(__m512 x_in) {
  // The maskz forms with a full mask: the plain intrinsics trip GCC 12's -Wmaybe-uninitialized (GCC PR 105593).
  const __mmask16 all = 0xFFFF;
  const __m512 x = _mm512_maskz_min_ps(all, _mm512_maskz_max_ps(all, x_in, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.0f));
  const __m512 shifter = _mm512_set1_ps(12582912.0f);
  const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), shifter), shifter);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.42860682030941723e-6f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512i bits = _mm512_maskz_slli_epi32(all, _mm512_add_epi32(_mm512_maskz_cvttps_epi32(all, n), _mm512_set1_epi32(127)), 23);
  const __m512 y = _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
  return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x_in, _mm512_set1_ps(-87.3f), _CMP_LT_OQ), _mm512_setzero_ps());
}

VITVK_AVX512 inline __m512 gelu_avx512(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 a = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(0.70710678118654752f));
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), a, one));
  __m512 q = _mm512_set1_ps(1.061405429f);
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-1.453152027f));
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(1.421413741f));
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(-0.284496736f));
  q = _mm512_fmadd_ps(q, t, _mm512_set1_ps(0.254829592f));
  q = _mm512_mul_ps(_mm512_mul_ps(q, t), exp_avx512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a)));
  const __m512 s = _mm512_mask_sub_ps(q, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ),
                                      _mm512_set1_ps(2.0f), q);  // x >= 0: 2 - erfc, else erfc
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), s);
}

VITVK_AVX2 inline __m256 exp_avx2(__m256 x_in) {
  const __m256 x = _mm256_min_ps(_mm256_max_ps(x_in, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.0f));
  const __m256 shifter = _mm256_set1_ps(12582912.0f);
  const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), shifter), shifter);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.42860682030941723e-6f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  return _mm256_andnot_ps(_mm256_cmp_ps(x_in, _mm256_set1_ps(-87.3f), _CMP_LT_OQ), y);
}

VITVK_AVX2 inline __m256 gelu_avx2(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 a = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(0.70710678118654752f));
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, one));
  __m256 q = _mm256_set1_ps(1.061405429f);
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-1.453152027f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(1.421413741f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(-0.284496736f));
  q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(0.254829592f));
  q = _mm256_mul_ps(_mm256_mul_ps(q, t), exp_avx2(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), a)));
  const __m256 s = _mm256_blendv_ps(q, _mm256_sub_ps(_mm256_set1_ps(2.0f), q),
                                    _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), s);
}


}  // namespace
}  // namespace vitvk::ops
