// The CPU backend's packed SGEMM (ops/cpu_gemm.hpp) against a plain double-precision reference, on odd shapes,
// for every epilogue and every kernel (ISA level) this machine can run.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ops/cpu_gemm.hpp"
#include "support/random.hpp"

using namespace vitvk;
using test::random_floats;

namespace {

double gelu_ref(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

const char* name(ops::Epilogue ep) {
  return ep == ops::Epilogue::None ? "none" : ep == ops::Epilogue::Gelu ? "gelu" : "residual";
}

// Runs every (M, K, N) of the cross product through packed_linear_tile with `isa`, for each epilogue, with and
// without bias, and returns the worst error relative to the magnitude of what was summed:
// |got - ref| / (sum_k |x w| + |b| + |y0|), the scale fp32 rounding of the sum is proportional to.
double worst_error(ops::CpuIsa isa, const std::vector<int>& Ms, const std::vector<int>& Ks, const std::vector<int>& Ns) {
  double worst = 0;
  for (int K : Ks)
    for (int N : Ns) {
      const auto w = random_floats(std::size_t(N) * K, 100 + K + N);
      const auto b = random_floats(N, 7 + N);
      const ops::PackedLinear with_bias(w, b, N, K), no_bias(w, {}, N, K);
      for (int M : Ms) {
        const long ldx = K + 3, ldy = N + 5;  // strided rows; the padding must stay untouched
        const auto x = random_floats(std::size_t(M) * ldx, 1 + M + K);
        const auto y0 = random_floats(std::size_t(M) * ldy, 2 + M + N);
        // Double-precision x W^T and the scale of its terms, once per shape.
        std::vector<double> dot(std::size_t(M) * N), mag(std::size_t(M) * N);
        for (int m = 0; m < M; ++m)
          for (int n = 0; n < N; ++n) {
            double s = 0, a = 0;
            const float* xr = x.data() + m * ldx;
            const float* wr = w.data() + std::size_t(n) * K;
            for (int k = 0; k < K; ++k) {
              const double p = double(xr[k]) * double(wr[k]);
              s += p;
              a += std::abs(p);
            }
            dot[std::size_t(m) * N + n] = s;
            mag[std::size_t(m) * N + n] = a;
          }
        for (auto ep : {ops::Epilogue::None, ops::Epilogue::Gelu, ops::Epilogue::Residual})
          for (bool bias : {true, false}) {
            const auto& pw = bias ? with_bias : no_bias;
            auto y = y0;
            // Two column tiles where N allows (the second starting at a panel boundary), as the backend splits;
            // the first with the default K blocks (none up to K = 4096 with a 1 MiB L2), the second in K blocks
            // of at most 97 rows, so that carrying the accumulators across blocks is checked on every shape.
            const int split = N > 64 ? 64 : N;
            ops::packed_linear_tile(pw, x.data(), ldx, y.data(), ldy, 0, M, 0, split, ep, isa);
            ops::packed_linear_tile(pw, x.data(), ldx, y.data(), ldy, 0, M, split, N, ep, isa, 97);
            double err = 0;
            bool padding_kept = true;
            for (int m = 0; m < M; ++m) {
              for (int n = 0; n < N; ++n) {
                const std::size_t i = std::size_t(m) * N + n, iy = std::size_t(m) * ldy + n;
                double v = dot[i] + (bias ? b[n] : 0.0), scale = mag[i] + (bias ? std::abs(b[n]) : 0.0);
                if (ep == ops::Epilogue::Gelu) v = gelu_ref(v);
                if (ep == ops::Epilogue::Residual) v += y0[iy], scale += std::abs(y0[iy]);
                err = std::max(err, std::abs(y[iy] - v) / std::max(scale, 1.0));
              }
              for (long n = N; n < ldy; ++n) padding_kept = padding_kept && y[m * ldy + n] == y0[m * ldy + n];
            }
            INFO(ops::cpu_isa_name(isa) << " M=" << M << " K=" << K << " N=" << N << " " << name(ep)
                                        << (bias ? " +bias" : "") << ": error " << err);
            CHECK(err <= 1e-5);
            CHECK(padding_kept);
            worst = std::max(worst, err);
          }
      }
    }
  return worst;
}

void check_isa(ops::CpuIsa isa) {
  if (!ops::cpu_isa_supported(isa)) {
    WARN("this CPU cannot run the " << ops::cpu_isa_name(isa) << " kernel: not tested here");
    return;
  }
  // Small and odd first: every row-tile height and partial panel.
  double worst = worst_error(isa, {1, 2, 3, 5, 7, 13, 25}, {1, 3, 17}, {1, 17, 31, 33, 100});
  // The shapes of the brief: M = 1, 7, 197, 3*197; K = 3, 192, 193, 768; N = 1, 17, 1000, 2304.
  worst = std::max(worst, worst_error(isa, {1, 7, 197, 3 * 197}, {3, 192, 193, 768}, {1, 17, 1000}));
  worst = std::max(worst, worst_error(isa, {1, 7, 197}, {3, 193, 768}, {2304}));
  // K past one K block (several accumulations through y).
  worst = std::max(worst, worst_error(isa, {7, 50}, {3072}, {40}));
  INFO("worst relative error " << worst);
  SUCCEED();
}

}  // namespace

TEST_CASE("Packed CPU GEMM, portable kernel, matches a double-precision reference", "[cpu][gemm]") {
  check_isa(ops::CpuIsa::Portable);
}

TEST_CASE("Packed CPU GEMM, AVX2 kernel, matches a double-precision reference", "[cpu][gemm]") {
  check_isa(ops::CpuIsa::Avx2);
}

TEST_CASE("Packed CPU GEMM, AVX-512 kernel, matches a double-precision reference", "[cpu][gemm]") {
  check_isa(ops::CpuIsa::Avx512);
}

TEST_CASE("Packed CPU GEMM rejects bad packing and tile arguments", "[cpu][gemm]") {
  const std::vector<float> w(6, 1.f);
  CHECK_THROWS(ops::PackedLinear(w, {}, 4, 2));
  CHECK_THROWS(ops::PackedLinear(w, std::vector<float>(2, 0.f), 3, 2));
  const ops::PackedLinear p(w, {}, 3, 2);
  std::vector<float> x(4, 1.f), y(6, 0.f);
  CHECK_THROWS(ops::packed_linear_tile(p, x.data(), 2, y.data(), 3, 0, 2, 1, 3, ops::Epilogue::None));  // n0 % 32
  CHECK_THROWS(ops::packed_linear_tile(p, x.data(), 2, y.data(), 3, 0, 2, 0, 4, ops::Epilogue::None));  // n1 > N
  ops::packed_linear_tile(p, x.data(), 2, y.data(), 3, 0, 2, 0, 3, ops::Epilogue::None);
  CHECK(y == std::vector<float>(6, 2.f));
}

TEST_CASE("pack_rows: the packed layout, and the same bits from every ISA", "[cpu][gemm]") {
  constexpr int P = ops::PackedPanels::kPanel;
  const std::vector<int> Ns{1, 15, 16, 17, 31, 33, 197}, Ks{1, 7, 16, 23, 64, 65};
  for (int N : Ns)
    for (int K : Ks) {
      const long ldw = K + 5;  // strided rows (attention packs K out of the qkv rows)
      const auto w = random_floats(std::size_t(N) * ldw, 40 + N + K);
      const float scale = 0.125f;
      // The layout by definition: panel p, row k, column j holds scale * W[32p + j][k], zero past N.
      std::vector<float> want(ops::packed_floats(N, K));
      for (int p = 0; p < (N + P - 1) / P; ++p)
        for (int k = 0; k < K; ++k)
          for (int j = 0; j < P; ++j)
            want[(std::size_t(p) * K + k) * P + j] = p * P + j < N ? scale * w[std::size_t(p * P + j) * ldw + k] : 0.f;
      for (auto isa : {ops::CpuIsa::Portable, ops::CpuIsa::Avx2, ops::CpuIsa::Avx512}) {
        if (!ops::cpu_isa_supported(isa)) continue;
        INFO("N " << N << " K " << K << " isa " << ops::cpu_isa_name(isa));
        std::vector<float> got(want.size(), -1.f);  // every float must be written
        ops::pack_rows(w.data(), ldw, N, K, scale, got.data(), isa);
        CHECK(got == want);
      }
    }
}
