// CPU GEMM microbenchmark: one thread, y = epilogue(x W^T + b) per shape, OpenBLAS (ops::linear_tile, which
// re-packs W on every call) against the packed kernel (ops::packed_linear_tile, W packed once) and, with
// --int8, the int8 kernel (ops::quantize_rows of x, then ops::int8_gemm_tile, as a forward runs them). Reports GFLOP
// per second of this thread's CPU time (RUSAGE_THREAD), which other load on a shared machine disturbs less than
// wall time, and the best wall time. A tool that prints figures; nothing here asserts a speed.
//   vitvk_cpu_gemm_bench [--shape 145x2304x768 ...] [--isa avx512|avx2|portable] [--reps 20]
//                        [--int8 [--int8-isa avx512-vnni|avx-vnni|avx2|portable] [--int8-group 0]]
#include <CLI/CLI.hpp>
#include <cblas.h>
#include <fmt/core.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <vector>

#include "ops/cpu_gemm.hpp"
#include "ops/cpu_gemm_int8.hpp"
#include "ops/cpu_kernels.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

double thread_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct Timing {
  double cpu_ms, best_wall_ms;
};

// At least `reps` runs and at least ~0.4 s of them: the thread CPU clock ticks in milliseconds.
Timing time_it(int reps, const std::function<void()>& fn) {
  const auto w0 = std::chrono::steady_clock::now();
  fn();  // warm-up
  const double once = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  reps = std::max(reps, static_cast<int>(0.4 / std::max(once, 1e-6)));
  double best = 1e30;
  const double c0 = thread_cpu_s();
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return {(thread_cpu_s() - c0) * 1e3 / reps, best};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU GEMM microbenchmark: OpenBLAS vs the packed kernel, one thread"};
  std::vector<std::string> shapes{"145x2304x768", "145x768x768",  "145x3072x768", "145x768x3072",
                                  "73x1152x768",  "73x1536x768",  "73x384x3072",  "197x576x192",
                                  "197x192x768",  "127x576x192",  "127x768x192",  "127x192x768",
                                  "1x1000x768",   "1x1000x192",   "196x192x768"};
  std::string isa_name, int8_isa_name;
  int reps = 20, copies = 1, group = 0;
  bool int8 = false;
  app.add_option("--shape", shapes, "MxNxK shapes");
  app.add_option("--isa", isa_name, "avx512 | avx2 | portable (default: the best this CPU runs)");
  app.add_option("--reps", reps, "timed repetitions per shape");
  app.add_option("--copies", copies, "weight copies cycled through (several: W comes from memory, as in a forward)");
  app.add_flag("--int8", int8, "also time the int8 kernel (activations quantized per row, weights per column)");
  app.add_option("--int8-group", group, "int8: channels per scale along K, activations and weights (0: one scale per row)");
  app.add_option("--int8-isa", int8_isa_name, "avx512-vnni | avx-vnni | avx2 | portable (default: the best)")
      ->check(CLI::IsMember({"avx512-vnni", "avx-vnni", "avx2", "portable"}));
  CLI11_PARSE(app, argc, argv);
  if (!ops::int8_group_valid(group)) {
    fmt::print(stderr, "--int8-group {}: must be 0 or a multiple of 4 (at most {})\n", group, ops::kInt8MaxK);
    return 1;
  }
  openblas_set_num_threads(1);
  ops::CpuIsa isa = ops::cpu_gemm_isa();
  if (isa_name == "avx512") isa = ops::CpuIsa::Avx512;
  if (isa_name == "avx2") isa = ops::CpuIsa::Avx2;
  if (isa_name == "portable") isa = ops::CpuIsa::Portable;
  if (!ops::cpu_isa_supported(isa)) {
    fmt::print(stderr, "this CPU cannot run the {} kernel\n", ops::cpu_isa_name(isa));
    return 1;
  }
  ops::Int8Isa isa8 = ops::cpu_int8_isa();
  for (auto i : {ops::Int8Isa::Avx512Vnni, ops::Int8Isa::AvxVnni, ops::Int8Isa::Avx2, ops::Int8Isa::Portable})
    if (int8_isa_name == ops::int8_isa_name(i)) isa8 = i;
  if (int8 && !ops::int8_isa_supported(isa8)) {
    fmt::print(stderr, "this CPU cannot run the {} int8 kernel\n", ops::int8_isa_name(isa8));
    return 1;
  }
  fmt::print("{:>14} {:>9} {:>22} {:>22} {:>7}", "MxNxK", "epilogue", "OpenBLAS GF/cpu-s (ms)",
             std::string(ops::cpu_isa_name(isa)) + " GF/cpu-s (ms)", "ratio");
  if (int8) fmt::print(" {:>22} {:>9}", std::string(ops::int8_isa_name(isa8)) + " GOP/cpu-s (ms)", "int8/fp32");
  fmt::print("\n");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  for (const auto& s : shapes) {
    int M = 0, N = 0, K = 0;
    if (std::sscanf(s.c_str(), "%dx%dx%d", &M, &N, &K) != 3 || M < 1 || N < 1 || K < 1) {
      fmt::print(stderr, "bad shape '{}'\n", s);
      return 1;
    }
    std::vector<float> x(std::size_t(M) * K), y(std::size_t(M) * N);
    std::generate(x.begin(), x.end(), [&] { return nd(rng); });
    std::vector<std::vector<float>> w(std::max(1, copies)), b(w.size());
    std::vector<ops::PackedLinear> pw;
    std::vector<ops::PackedLinearInt8> pw8;
    for (std::size_t i = 0; i < w.size(); ++i) {
      w[i].resize(std::size_t(N) * K);
      b[i].resize(N);
      std::generate(w[i].begin(), w[i].end(), [&] { return nd(rng); });
      std::generate(b[i].begin(), b[i].end(), [&] { return nd(rng); });
      pw.emplace_back(w[i], b[i], N, K);
      if (int8) {
        const ops::QuantizedMatrix q = ops::quantize_per_row(w[i], N, K, group);
        pw8.emplace_back(q.q, q.scale, b[i], N, K, group);
      }
    }
    ops::QuantizedRows qx;
    qx.reset(M, K, group);
    std::size_t next = 0;
    const double gflop = 2.0 * M * N * K * 1e-9;
    for (auto ep : {ops::Epilogue::None, ops::Epilogue::Gelu, ops::Epilogue::Residual}) {
      std::fill(y.begin(), y.end(), 0.f);
      const Timing blas = time_it(reps, [&] {
        const std::size_t i = next++ % w.size();
        ops::linear_tile(x.data(), K, K, w[i].data(), b[i].data(), y.data(), N, 0, M, 0, N, ep);
      });
      const Timing packed = time_it(reps, [&] {
        ops::packed_linear_tile(pw[next++ % pw.size()], x.data(), K, y.data(), N, 0, M, 0, N, ep, isa);
      });
      fmt::print("{:>14} {:>9} {:>13.1f} ({:6.2f}) {:>13.1f} ({:6.2f}) {:>7.2f}", s,
                 ep == ops::Epilogue::None ? "none" : ep == ops::Epilogue::Gelu ? "gelu" : "residual",
                 gflop / (blas.cpu_ms * 1e-3), blas.cpu_ms, gflop / (packed.cpu_ms * 1e-3), packed.cpu_ms,
                 blas.cpu_ms / packed.cpu_ms);
      if (int8) {
        const Timing q8 = time_it(reps, [&] {
          ops::quantize_rows(x.data(), K, 0, M, qx, ops::ActQuant::Asymmetric, isa8);
          ops::int8_gemm_tile(pw8[next++ % pw8.size()].view(), qx, y.data(), N, 0, M, 0, N, ep, isa8);
        });
        fmt::print(" {:>13.1f} ({:6.2f}) {:>9.2f}", gflop / (q8.cpu_ms * 1e-3), q8.cpu_ms, packed.cpu_ms / q8.cpu_ms);
      }
      fmt::print("\n");
    }
  }
  return 0;
}
