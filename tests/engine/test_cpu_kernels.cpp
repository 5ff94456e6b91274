// The fast CPU path's building blocks against plain double-precision formulas, and the threaded CPU backend
// against the single-threaded one and the unfused reference ops.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <span>
#include <utility>
#include <vector>

#include "engine/backend.hpp"
#include "ops/cpu_kernels.hpp"
#include "support/random.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"

using namespace vitvk;
using test::random_floats;

TEST_CASE("CPU exp kernel stays within 2 ulp of std::exp over the softmax range", "[cpu][kernels]") {
  std::vector<float> x;
  for (float v = -87.0f; v <= 80.0f; v += 0.00731f) x.push_back(v);
  std::vector<float> y = x;
  ops::exp_inplace(y.data(), static_cast<long>(y.size()));
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float ref = std::exp(x[i]);
    const double ulp = std::nextafter(ref, INFINITY) - ref;
    worst = std::max(worst, std::abs(double(y[i]) - double(ref)) / ulp);
  }
  INFO("worst error " << worst << " ulp");
  CHECK(worst <= 2.0);
  float tail[] = {-INFINITY, -100.f, -88.f};
  ops::exp_inplace(tail, 3);
  CHECK(tail[0] == 0.f);  // softmax of -inf scores: exactly zero probability
  CHECK(tail[1] == 0.f);
  CHECK(tail[2] == 0.f);
}

TEST_CASE("CPU GELU kernel matches the exact erf form", "[cpu][kernels]") {
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.000917f) x.push_back(v);
  std::vector<float> y = x;
  ops::gelu_inplace(y.data(), static_cast<long>(y.size()));
  double worst = 0, worst_rel_tail = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double ref = 0.5 * x[i] * (1.0 + std::erf(double(x[i]) / std::sqrt(2.0)));
    worst = std::max(worst, std::abs(y[i] - ref));
    if (x[i] < -1.0f && x[i] > -5.0f) worst_rel_tail = std::max(worst_rel_tail, std::abs(y[i] - ref) / std::abs(ref));
  }
  INFO("worst absolute error " << worst << ", worst relative error on (-5, -1) " << worst_rel_tail);
  CHECK(worst < 1e-6);
  CHECK(worst_rel_tail < 3e-3);  // erfc computed directly: no 1 + erf cancellation in the negative tail
}

TEST_CASE("CPU softmax kernel matches a double-precision softmax on odd widths", "[cpu][kernels]") {
  for (int cols : {1, 7, 16, 17, 197, 1000}) {
    auto x = random_floats(3 * cols, cols, 4.f);
    std::vector<float> y = x;
    ops::softmax_inplace(y.data(), 3, cols, cols);
    // The explicit AVX2 form: within the same bound, and where the clone set runs its x86-64-v3 clone (an AVX2
    // CPU without AVX-512), the same bits.
    if (ops::cpu_isa_supported(ops::CpuIsa::Avx2)) {
      std::vector<float> y2 = x;
      ops::softmax_inplace(y2.data(), 3, cols, cols, ops::CpuIsa::Avx2);
      for (int i = 0; i < 3 * cols; ++i) REQUIRE(std::abs(y2[i] - y[i]) <= 1e-6f * y[i] + 1e-12f);
      if (!ops::cpu_isa_supported(ops::CpuIsa::Avx512)) CHECK(y2 == y);
    }
    for (int r = 0; r < 3; ++r) {
      double mx = -INFINITY, sum = 0;
      for (int c = 0; c < cols; ++c) mx = std::max(mx, double(x[r * cols + c]));
      for (int c = 0; c < cols; ++c) sum += std::exp(x[r * cols + c] - mx);
      for (int c = 0; c < cols; ++c) {
        const double ref = std::exp(x[r * cols + c] - mx) / sum;
        CHECK(std::abs(y[r * cols + c] - ref) <= 1e-6 * ref + 1e-12);
      }
    }
  }
}

TEST_CASE("CPU linear tiles with fused epilogues equal the unfused formula", "[cpu][kernels]") {
  const int M = 37, K = 29, N = 45;
  auto x = random_floats(M * K, 1), w = random_floats(N * K, 2), b = random_floats(N, 3), res = random_floats(M * N, 4);
  for (auto ep : {ops::Epilogue::None, ops::Epilogue::Gelu, ops::Epilogue::Residual}) {
    std::vector<float> y = res;
    // Uneven tiles covering the output, as the backend splits it.
    for (int m0 : {0, 13}) for (int n0 : {0, 16, 32})
      ops::linear_tile(x.data(), K, K, w.data(), b.data(), y.data(), N, m0, m0 == 0 ? 13 : M, n0, std::min(N, n0 + 16), ep);
    for (int m = 0; m < M; ++m)
      for (int n = 0; n < N; ++n) {
        double acc = b[n];
        for (int k = 0; k < K; ++k) acc += double(x[m * K + k]) * w[n * K + k];
        double ref = ep == ops::Epilogue::Gelu ? 0.5 * acc * (1 + std::erf(acc / std::sqrt(2.0)))
                     : ep == ops::Epilogue::Residual ? acc + res[m * N + n] : acc;
        CHECK(std::abs(y[m * N + n] - ref) < 1e-4);
      }
  }
}

namespace {

// out of attention_cpu's contract against softmax(Q K^T / sqrt(hd)) V in double precision.
void check_attention(const std::vector<float>& qkv, const ops::AttentionShape& s, const std::vector<float>& out) {
  const int N = s.tokens, D = s.dim();
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.heads; ++h)
      for (int i = 0; i < N; ++i) {
        const float* q = qkv.data() + (b * N + i) * 3 * D + h * s.head_dim;
        std::vector<double> p(N);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < N; ++j) {
          const float* k = qkv.data() + (b * N + j) * 3 * D + D + h * s.head_dim;
          double dot = 0;
          for (int t = 0; t < s.head_dim; ++t) dot += double(q[t]) * k[t];
          p[j] = dot / std::sqrt(double(s.head_dim));
          mx = std::max(mx, p[j]);
        }
        for (auto& v : p) sum += (v = std::exp(v - mx));
        for (int t = 0; t < s.head_dim; ++t) {
          double o = 0;
          for (int j = 0; j < N; ++j) o += p[j] / sum * qkv[(b * N + j) * 3 * D + 2 * D + h * s.head_dim + t];
          CHECK(std::abs(out[(b * N + i) * D + h * s.head_dim + t] - o) < 1e-5);
        }
      }
}

}  // namespace

TEST_CASE("CPU attention head in row ranges and blocks matches a double-precision attention", "[cpu][kernels]") {
  // Tokens and head widths that are not multiples of the packed kernel's 32-column panels.
  for (const ops::AttentionShape s : {ops::AttentionShape{2, 23, 3, 8}, ops::AttentionShape{1, 45, 2, 40}}) {
    const int N = s.tokens, D = s.dim();
    auto qkv = random_floats(static_cast<std::size_t>(s.batch) * N * 3 * D, 9);
    std::vector<ops::CpuIsa> isas;
    for (ops::CpuIsa isa : {ops::CpuIsa::Portable, ops::CpuIsa::Avx2, ops::CpuIsa::Avx512})
      if (ops::cpu_isa_supported(isa)) isas.push_back(isa);
    for (int variant = -1; variant < static_cast<int>(isas.size()); ++variant) {  // -1: the OpenBLAS form
      INFO("tokens " << N << " head_dim " << s.head_dim << " variant " << variant);
      std::vector<float> out(static_cast<std::size_t>(s.batch) * N * D);
      const int block = 5;
      std::vector<float> store;
      float* scratch = ops::aligned_floats(store, ops::attention_packed_scratch_floats(s, block));
      for (int b = 0; b < s.batch; ++b)
        for (int h = 0; h < s.heads; ++h)
          for (auto [r0, r1] : {std::pair{0, 9}, std::pair{9, N}}) {  // two uneven ranges, blocks of 5 (last partial)
            if (variant < 0)
              ops::attention_head_cpu(qkv.data(), s, b, h, r0, r1, out.data(), scratch, block);
            else
              ops::attention_head_packed(qkv.data(), s, b, h, r0, r1, out.data(), scratch, block, isas[variant]);
          }
      check_attention(qkv, s, out);
    }
  }
}

TEST_CASE("threaded CPU backend gives the single-threaded results", "[engine][cpu]") {
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(true, 48, 8, 32, 2, 4, 10), 17));
  const int B = 5;
  auto images = random_floats(static_cast<std::size_t>(B) * 3 * 48 * 48, 21);
  auto run = [&](const char* threads, int batch, bool explain) {
    setenv("VITVK_CPU_THREADS", threads, 1);
    auto cpu = make_cpu_backend(model);
    unsetenv("VITVK_CPU_THREADS");
    return cpu->forward(std::span(images).first(static_cast<std::size_t>(batch) * 3 * 48 * 48), batch,
                        {.explain = explain});
  };
  const auto one = run("1", B, true), three = run("3", B, true);
  REQUIRE(one.logits.size() == three.logits.size());
  for (std::size_t i = 0; i < one.logits.size(); ++i) CHECK(std::abs(one.logits[i] - three.logits[i]) < 1e-5f);
  for (std::size_t i = 0; i < one.attention.size(); ++i) CHECK(std::abs(one.attention[i] - three.attention[i]) < 1e-6f);
  // Batch 1, no explain: 4 heads for 3 threads go out as query-row ranges, the linears as balanced column blocks.
  const auto one_b1 = run("1", 1, false), three_b1 = run("3", 1, false);
  REQUIRE(one_b1.logits.size() == three_b1.logits.size());
  for (std::size_t i = 0; i < one_b1.logits.size(); ++i) {
    CHECK(std::abs(one_b1.logits[i] - three_b1.logits[i]) < 1e-5f);
    CHECK(std::abs(one_b1.logits[i] - one.logits[i]) < 1e-4f);  // image 0 alone = image 0 of the batch
  }
}

TEST_CASE("fast CPU backend stays within 1e-4 of the PyTorch reference logits", "[engine][cpu][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  auto model = std::make_shared<const Model>(Model::load(shared / "models" / "vit_tiny_patch16_224.augreg_in21k_ft_in1k"));
  auto cpu = make_cpu_backend(model);
  float worst = 0.f;
  for (const char* img : {"n01440764_tench", "n02123045_tabby"}) {
    const auto base = (shared / "reference" / (std::string("vit_tiny_augreg__") + img)).string();
    auto x = test::read_f32(base + ".input_f32_3x224x224.bin", 3 * 224 * 224);
    auto expected = test::read_f32(base + ".logits_f32_1000.bin", 1000);
    auto r = cpu->forward(x, 1, {});
    for (int i = 0; i < 1000; ++i) worst = std::max(worst, std::abs(r.logits[i] - expected[i]));
  }
  WARN("max |logit - reference| = " << worst);
  CHECK(worst < 1e-4f);
}
