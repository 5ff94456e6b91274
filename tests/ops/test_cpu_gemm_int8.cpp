// The int8 linear-layer kernels (ops/cpu_gemm_int8.hpp): the int32 sums against an exact integer reference on
// odd shapes for every kernel this machine runs, the dequantized epilogues against a double reference, the
// quantizers' round trips and saturation at the ends of the int8 / u8 ranges.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ops/cpu_gemm_int8.hpp"
#include "ops/cpu_math.hpp"
#include "support/random.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
using test::random_floats;

namespace {

std::vector<ops::Int8Isa> runnable_isas() {
  std::vector<ops::Int8Isa> out;
  for (auto isa : {ops::Int8Isa::Portable, ops::Int8Isa::Avx2, ops::Int8Isa::AvxVnni, ops::Int8Isa::Avx512Vnni})
    if (ops::int8_isa_supported(isa)) out.push_back(isa);
  return out;
}

std::vector<int8_t> random_weights(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-127, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

// Activations already quantized: random bytes, zero points and unit scales, so that the kernel's float output
// is the integer sum_g (S_g - z_g colsum_g) exactly (its partial sums stay below 2^24 on these shapes).
ops::QuantizedRows random_rows(int M, int K, uint32_t seed, int group = 0, int lo = 0, int hi = 255) {
  ops::QuantizedRows q;
  q.reset(M, K, group);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi), z(0, 255);
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k) q.row(m)[k] = static_cast<uint8_t>(d(rng));
  for (std::size_t i = 0; i < std::size_t(M) * q.groups(); ++i) {
    q.scale[i] = 1.0f;
    q.zero[i] = z(rng);
  }
  return q;
}

// Group g's sum_k q_x q_w - z_g colsum_g of row m and column n, in int64.
int64_t exact_group(const ops::QuantizedRows& x, const std::vector<int8_t>& w, int K, int m, int n, int g) {
  int64_t s = 0, cs = 0;
  const int k0 = g * x.group_len(), k1 = std::min(K, k0 + x.group_len());
  for (int k = k0; k < k1; ++k) {
    s += int64_t(x.row(m)[k]) * w[std::size_t(n) * K + k];
    cs += w[std::size_t(n) * K + k];
  }
  return s - int64_t(x.zero_of(m, g)) * cs;
}

// Summed over the groups (the output with unit scales).
int64_t exact(const ops::QuantizedRows& x, const std::vector<int8_t>& w, int K, int m, int n) {
  int64_t s = 0;
  for (int g = 0; g < x.groups(); ++g) s += exact_group(x, w, K, m, n, g);
  return s;
}

}  // namespace

TEST_CASE("int8 GEMM: int32 sums equal the exact integer reference on odd shapes, every kernel and group size",
          "[ops][cpu][int8]") {
  for (auto isa : runnable_isas())
    for (int group : {64, 0, 8}) {
      INFO("isa " << ops::int8_isa_name(isa) << " group " << group);
      for (int K : {1, 3, 4, 5, 17, 64, 191, 768})
        for (int N : {1, 7, 16, 31, 33, 70}) {
          const auto w = random_weights(std::size_t(N) * K, 11 + K * 3 + N);
          const std::vector<float> ones(N, 1.0f);
          const ops::PackedLinearInt8 pw(w, ones, {}, N, K, group);
          for (int M : {1, 5, 13, 26}) {
            const auto x = random_rows(M, K, 5 + M + K, group);
            const long ldy = N + 3;
            std::vector<float> y(std::size_t(M) * ldy, -7.0f);
            // Two column tiles where N allows, as the backend splits.
            const int split = N > 32 ? 32 : N;
            ops::int8_gemm_tile(pw.view(), x, y.data(), ldy, 0, M, 0, split, ops::Epilogue::None, isa);
            ops::int8_gemm_tile(pw.view(), x, y.data(), ldy, 0, M, split, N, ops::Epilogue::None, isa);
            int bad = 0;
            for (int m = 0; m < M; ++m) {
              for (int n = 0; n < N; ++n)
                if (y[m * ldy + n] != static_cast<float>(exact(x, w, K, m, n))) ++bad;
              for (int n = N; n < ldy; ++n) bad += y[m * ldy + n] != -7.0f;  // the padding stays untouched
            }
            INFO("M " << M << " K " << K << " N " << N);
            REQUIRE(bad == 0);
          }
        }
    }
}

TEST_CASE("int8 GEMM: extreme inputs (u8 255 / 0 against +-127 weights) neither saturate nor overflow",
          "[ops][cpu][int8]") {
  // 255 * 127 * 4096 = 132.6 M: past int16 (where vpmaddubsw would saturate) and near what int32 must hold.
  const int K = 4096, N = 40, M = 7;
  std::vector<int8_t> w(std::size_t(N) * K);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) w[std::size_t(n) * K + k] = n % 2 ? int8_t(-127) : int8_t(127);
  const std::vector<float> ones(N, 1.0f);
  // Whole rows: one int32 sum over all of K. Groups: each group's sum is exact and so is their float total here
  // (multiples of 255 * 127 * 64 below 2^27 are multiples of 16).
  for (int group : {0, 64}) {
    const ops::PackedLinearInt8 pw(w, ones, {}, N, K, group);
    ops::QuantizedRows x = random_rows(M, K, 3, group);
    for (int m = 0; m < M; ++m) {
      std::fill(x.row(m), x.row(m) + K, uint8_t(m % 2 ? 0 : 255));
      for (int g = 0; g < x.groups(); ++g) x.zero[std::size_t(g) * M + m] = m == 2 ? 255 : 0;
    }
    for (auto isa : runnable_isas()) {
      INFO("isa " << ops::int8_isa_name(isa) << " group " << group);
      std::vector<float> y(std::size_t(M) * N);
      ops::int8_gemm_tile(pw.view(), x, y.data(), N, 0, M, 0, N, ops::Epilogue::None, isa);
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) REQUIRE(y[m * N + n] == static_cast<float>(exact(x, w, K, m, n)));
      CHECK(y[0] == static_cast<float>(255LL * 127 * K));
    }
  }
}

TEST_CASE("int8 GEMM: dequantized epilogues (bias, GELU, residual) match a double reference", "[ops][cpu][int8]") {
  const int M = 19, K = 77, N = 45;
  const auto wf = random_floats(std::size_t(N) * K, 41);
  const auto xf = random_floats(std::size_t(M) * K, 42);
  const auto b = random_floats(N, 43);
  const auto y0 = random_floats(std::size_t(M) * N, 44);
  for (auto isa : runnable_isas())
    for (int group : {64, 0, 12})
      for (bool weight_groups : {false, true}) {
        // Weight scales per row (as an int8 file stores them) or per row and group, as the activations'.
        const ops::QuantizedMatrix qw = ops::quantize_per_row(wf, N, K, weight_groups ? group : 0);
        const int wg = qw.groups();
        const ops::PackedLinearInt8 pw(qw.q, qw.scale, b, N, K, group);
        ops::QuantizedRows x;
        x.reset(M, K, group);
        ops::quantize_rows(xf.data(), K, 0, M, x, ops::ActQuant::Asymmetric, isa);
        for (auto ep : {ops::Epilogue::None, ops::Epilogue::Gelu, ops::Epilogue::Residual}) {
          INFO("isa " << ops::int8_isa_name(isa) << " group " << group << " weight groups " << wg << " epilogue "
                      << int(ep));
          auto y = y0;
          ops::int8_gemm_tile(pw.view(), x, y.data(), N, 0, M, 0, N, ep, isa);
          double worst = 0;
          for (int m = 0; m < M; ++m)
            for (int n = 0; n < N; ++n) {
              double sum = 0;  // sum_g s_w,g s_x,g (S_g - z_g colsum_g)
              for (int g = 0; g < x.groups(); ++g)
                sum += double(qw.scale[std::size_t(n) * wg + (wg > 1 ? g : 0)]) * double(x.scale_of(m, g)) *
                       double(exact_group(x, qw.q, K, m, n, g));
              const double v = sum + b[n];
              const double ref = ep == ops::Epilogue::Gelu ? 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)))
                                 : ep == ops::Epilogue::Residual ? y0[m * N + n] + v
                                                                 : v;
              worst = std::max(worst, std::abs(y[m * N + n] - ref) / (1.0 + std::abs(ref)));
            }
          CHECK(worst < 2e-6);  // float rounding of the epilogue (and gelu_approx's 1.5e-7 erf error)
        }
      }
}

TEST_CASE("int8 GEMM: activation groups shrink the error that outlier channels cause", "[ops][cpu][int8]") {
  // Rows of N(0, 1) with two outlier channels (30x, as LayerNorm outputs of ViTs have): one scale per row is set by
  // them, and the other channels get few steps; 64-channel groups keep the outliers to their own group.
  const int M = 16, K = 768, N = 64;
  auto xf = random_floats(std::size_t(M) * K, 51);
  for (int m = 0; m < M; ++m) xf[std::size_t(m) * K + 100] = 30.0f, xf[std::size_t(m) * K + 700] = -30.0f;
  const auto wf = random_floats(std::size_t(N) * K, 52, 0.05f);
  const ops::QuantizedMatrix qw = ops::quantize_per_row(wf, N, K);
  const auto wd = ops::dequantize(qw);
  auto error = [&](int group, ops::Int8Isa isa) {  // RMS of int8 - fp32 on the dequantized weights
    const ops::PackedLinearInt8 pw(qw.q, qw.scale, {}, N, K, group);
    ops::QuantizedRows x;
    x.reset(M, K, group);
    ops::quantize_rows(xf.data(), K, 0, M, x, ops::ActQuant::Asymmetric, isa);
    std::vector<float> y(std::size_t(M) * N);
    ops::int8_gemm_tile(pw.view(), x, y.data(), N, 0, M, 0, N, ops::Epilogue::None, isa);
    double e = 0;
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double ref = 0;
        for (int k = 0; k < K; ++k) ref += double(xf[std::size_t(m) * K + k]) * wd[std::size_t(n) * K + k];
        e += (y[m * N + n] - ref) * (y[m * N + n] - ref);
      }
    return std::sqrt(e / (M * N));
  };
  for (auto isa : runnable_isas()) {
    const double rows = error(0, isa), groups = error(64, isa);
    INFO("isa " << ops::int8_isa_name(isa) << ": RMS error, one scale per row " << rows << ", 64-channel groups "
                << groups);
    CHECK(groups < 0.25 * rows);  // 2 of 12 groups keep the coarse step
  }
}

TEST_CASE("int8 weights: per-row quantization round trip, saturation at +-127, zero rows", "[ops][cpu][int8]") {
  const int N = 9, K = 50;
  auto w = random_floats(std::size_t(N) * K, 7, 0.05f);
  for (int k = 0; k < K; ++k) w[std::size_t(3) * K + k] = 0.0f;  // an all-zero row
  w[std::size_t(5) * K + 4] = -0.9f;                             // a row whose extreme is negative
  const ops::QuantizedMatrix q = ops::quantize_per_row(w, N, K);
  const auto back = ops::dequantize(q);
  for (int n = 0; n < N; ++n) {
    float amax = 0;
    for (int k = 0; k < K; ++k) amax = std::max(amax, std::abs(w[std::size_t(n) * K + k]));
    CHECK(q.scale[n] == Approx(amax / 127.0f));
    int8_t qmin = 127, qmax = -127;
    for (int k = 0; k < K; ++k) {
      const std::size_t i = std::size_t(n) * K + k;
      qmin = std::min(qmin, q.q[i]);
      qmax = std::max(qmax, q.q[i]);
      // Round to nearest: within half a step.
      REQUIRE(std::abs(back[i] - w[i]) <= 0.5f * q.scale[n] * (1 + 1e-6f));
    }
    CHECK(qmin >= -127);
    if (n == 3) CHECK((q.scale[n] == 0.0f && qmax == 0 && qmin == 0));
    if (n == 5) CHECK(qmin == -127);  // the extreme maps to the end of the range, never -128
  }
  // Quantizing the dequantized weights again gives the same integers (the scale is recovered from the max).
  const ops::QuantizedMatrix again = ops::quantize_per_row(back, N, K);
  CHECK(again.q == q.q);
  // -128 cannot be packed (its negation is not an int8), nor can sizes that disagree.
  std::vector<int8_t> bad(std::size_t(N) * K, 0);
  bad[3] = -128;
  CHECK_THROWS_AS(ops::PackedLinearInt8(bad, q.scale, {}, N, K), Error);
  CHECK_THROWS_AS(ops::PackedLinearInt8(q.q, std::vector<float>(N - 1, 1.0f), {}, N, K), Error);
}

TEST_CASE("int8 weights: per-group scales, round trip, the outlier kept to its group, the sizes the packer takes",
          "[ops][cpu][int8]") {
  const int N = 5, K = 70, group = 16;  // groups of 16, 16, 16, 16, 6
  auto w = random_floats(std::size_t(N) * K, 17, 0.05f);
  w[std::size_t(2) * K + 20] = 2.0f;                               // an outlier in row 2, group 1
  for (int k = 32; k < 48; ++k) w[std::size_t(4) * K + k] = 0.0f;  // an all-zero group
  const ops::QuantizedMatrix q = ops::quantize_per_row(w, N, K, group);
  REQUIRE(q.groups() == 5);
  REQUIRE(q.scale.size() == std::size_t(N) * 5);
  const auto back = ops::dequantize(q);
  double err_groups = 0, err_row = 0;
  const auto row_back = ops::dequantize(ops::quantize_per_row(w, N, K));
  for (int n = 0; n < N; ++n)
    for (int g = 0; g < 5; ++g) {
      const int k0 = g * group, k1 = std::min(K, k0 + group);
      float amax = 0;
      for (int k = k0; k < k1; ++k) amax = std::max(amax, std::abs(w[std::size_t(n) * K + k]));
      const float s = q.scale[std::size_t(n) * 5 + g];
      INFO("row " << n << " group " << g);
      CHECK(s == Approx(amax / 127.0f));
      for (int k = k0; k < k1; ++k) {
        const std::size_t i = std::size_t(n) * K + k;
        REQUIRE(std::abs(back[i] - w[i]) <= 0.5f * s * (1 + 1e-6f));
        if (n == 2) err_groups += std::pow(back[i] - w[i], 2), err_row += std::pow(row_back[i] - w[i], 2);
      }
    }
  CHECK(q.scale[std::size_t(4) * 5 + 2] == 0.0f);
  // Row 2's outlier sets one group's step, not the row's: the other 54 of its 70 weights keep fine steps, so the
  // squared error is about 16 / 70 of the per-row one (measured 0.23).
  CHECK(err_groups < 0.35 * err_row);
  // The packer takes N scales (one per row) or N x groups of its own group, nothing else.
  CHECK_NOTHROW(ops::PackedLinearInt8(q.q, q.scale, {}, N, K, group));
  CHECK_NOTHROW(ops::PackedLinearInt8(q.q, std::vector<float>(N, 1.0f), {}, N, K, group));
  CHECK_THROWS_AS(ops::PackedLinearInt8(q.q, q.scale, {}, N, K, 0), Error);
  CHECK_THROWS_AS(ops::PackedLinearInt8(q.q, q.scale, {}, N, K, 32), Error);
  CHECK_THROWS_AS(ops::quantize_per_row(w, N, K, 6), Error);  // not a multiple of 4
}

TEST_CASE("int8 activations: per-group round trips, both modes, the same bytes from every kernel",
          "[ops][cpu][int8]") {
  const int M = 6, K = 203, ld = K + 5;
  auto x = random_floats(std::size_t(M) * ld, 9, 3.0f);
  for (int k = 0; k < K; ++k) x[std::size_t(1) * ld + k] = 0.0f;                   // all zeros
  for (int k = 0; k < K; ++k) x[std::size_t(2) * ld + k] = std::abs(x[2 * ld + k]);  // all >= 0 (after GELU)
  x[std::size_t(3) * ld + 7] = 1e4f;                                                // an outlier
  for (int group : {64, 0, 12})
    for (auto mode : {ops::ActQuant::Asymmetric, ops::ActQuant::Symmetric}) {
      ops::QuantizedRows ref;
      ref.reset(M, K, group);
      ops::quantize_rows(x.data(), ld, 0, M, ref, mode, ops::Int8Isa::Portable);
      CHECK(ref.groups() == (group ? (K + group - 1) / group : 1));
      for (int m = 0; m < M; ++m)
        for (int g = 0; g < ref.groups(); ++g) {
          INFO("row " << m << " group " << g << " of " << group << " mode " << int(mode));
          const int k0 = g * ref.group_len(), k1 = std::min(K, k0 + ref.group_len());
          const float* xr = x.data() + std::size_t(m) * ld;
          const float scale = ref.scale_of(m, g);
          const int zero = ref.zero_of(m, g);
          if (m == 1) {
            CHECK(scale == 0.0f);
            continue;
          }
          float lo = 0, hi = 0;
          for (int k = k0; k < k1; ++k) lo = std::min(lo, xr[k]), hi = std::max(hi, xr[k]);
          if (mode == ops::ActQuant::Symmetric) {
            CHECK(zero == 128);
            CHECK(scale == Approx(std::max(-lo, hi) / 127.0f));
          } else {
            CHECK(scale == Approx((hi - lo) / 255.0f));
            if (m == 2) CHECK(zero == 0);  // non-negative rows need no zero point
          }
          // The outlier widens its own group's step only.
          if (m == 3 && group > 0 && g > 0) CHECK(scale < 0.1f);
          int qmax = 0, qmin = 255;
          for (int k = k0; k < k1; ++k) {
            const int q = ref.row(m)[k];
            qmax = std::max(qmax, q);
            qmin = std::min(qmin, q);
            REQUIRE(std::abs(scale * float(q - zero) - xr[k]) <= 0.5f * scale * 1.0001f);
          }
          // The ends of the range are reached: asymmetric both (0 where the group goes below 0); symmetric the
          // end of the larger side (128 +- 127).
          if (mode == ops::ActQuant::Asymmetric) CHECK((qmax == 255 && (qmin == 0 || lo == 0.0f)));
          else CHECK((qmin >= 1 && (qmax == 255 || qmin == 1)));
        }
      for (int m = 0; m < M; ++m)
        for (long k = K; k < ref.ld; ++k) REQUIRE(ref.row(m)[k] == 0);
      const std::size_t params = std::size_t(M) * ref.groups();
      for (auto isa : runnable_isas()) {
        ops::QuantizedRows q;
        q.reset(M, K, group);
        ops::quantize_rows(x.data(), ld, 0, M, q, mode, isa);
        INFO("isa " << ops::int8_isa_name(isa) << " group " << group);
        CHECK(std::equal(q.data.begin(), q.data.begin() + M * q.ld, ref.data.begin()));
        CHECK(std::equal(q.scale.begin(), q.scale.begin() + params, ref.scale.begin()));
        CHECK(std::equal(q.zero.begin(), q.zero.begin() + params, ref.zero.begin()));
      }
    }
  // Groups must be whole steps of 4 (the kernels' K step), and the weights' group must be the activations'.
  ops::QuantizedRows bad;
  CHECK_THROWS_AS(bad.reset(2, 16, 6), Error);
  const std::vector<int8_t> w(32, 1);
  const std::vector<float> one(2, 1.0f);
  CHECK_THROWS_AS(ops::PackedLinearInt8(w, one, {}, 2, 16, 6), Error);
  const ops::PackedLinearInt8 pw(w, one, {}, 2, 16, 8);
  ops::QuantizedRows q4;
  q4.reset(1, 16, 4);
  std::vector<float> y(2);
  CHECK_THROWS_AS(ops::int8_gemm_tile(pw.view(), q4, y.data(), 2, 0, 1, 0, 2, ops::Epilogue::None), Error);
}
