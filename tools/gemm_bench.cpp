// GEMM microbenchmark: GFLOP/s of linear_vk (y = x W^T + b) per shape and kernel configuration.
// Each trial records `reps` dispatches into one command buffer and times submit-to-fence on the host;
// the best trial is reported (the machine is shared, so the best is the least disturbed). Also reported: GFLOP
// per CPU-second of this process (all driver threads), which other load on the machine disturbs less.
//   vitvk_gemm_bench [--variant regs|texel|tiled] [--rows 8] [--cols 8] [--fp16] [--shape 1576x576x192 ...]
//   vitvk_gemm_bench --patch-batch 8     (patch embedding of 8 224x224 images, patch 16, dim 192, instead)
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include <sys/resource.h>
#include <vector>

#include "ops/gemm.hpp"
#include "ops/patch_embed.hpp"
#include "vitvk/error.hpp"
#include "vk/context.hpp"
#include "vk/kernel.hpp"
#include "vk/op_context.hpp"
#include "vk/recorder.hpp"
#include "vk/transfer.hpp"

using namespace vitvk;

namespace {

struct Shape {
  int M, N, K;
};

Shape parse_shape(const std::string& s) {
  Shape sh{};
  if (std::sscanf(s.c_str(), "%dx%dx%d", &sh.M, &sh.N, &sh.K) != 3 || sh.M <= 0 || sh.N <= 0 || sh.K <= 0)
    throw Error(ErrorCode::InvalidArgument, "--shape '" + s + "': expected MxNxK");
  return sh;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

std::vector<float> random_floats(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"linear_vk GFLOP/s per shape"};
  std::string variant = "auto";
  int rows = 0, cols = 0, invocations = 0, reps = 4, trials = 3;
  bool fp16 = false, check = false;
  int patch_batch = 0;
  std::vector<std::string> shapes{"1576x576x192", "1576x192x192", "1576x768x192", "1576x192x768"};
  app.add_option("--variant", variant, "regs | texel | tiled | auto")
      ->check(CLI::IsMember({"regs", "texel", "tiled", "auto"}));
  app.add_option("--rows", rows, "regs/texel: rows per invocation (0 = default)");
  app.add_option("--cols", cols, "regs/texel: output columns per invocation (0 = default)");
  app.add_option("--invocations", invocations, "regs/texel: invocations per workgroup (0 = default)");
  app.add_option("--reps", reps, "dispatches per submit");
  app.add_option("--trials", trials, "submits; the best is reported");
  app.add_option("--shape", shapes, "MxNxK (repeatable)");
  app.add_flag("--fp16", fp16, "fp16 storage");
  app.add_flag("--check", check, "compare one result with linear_cpu");
  app.add_option("--patch-batch", patch_batch, "time patch_embed_vk on this many 224x224 images instead");
  CLI11_PARSE(app, argc, argv);

  try {
    gpu::Context ctx;
    gpu::KernelCache kernels(ctx);
    gpu::Recorder rec(ctx);
    if (fp16 && !ctx.fp16_enabled()) throw Error(ErrorCode::Unsupported, "this device has no fp16 storage");
    gpu::OpContext oc{kernels, rec, fp16};
    const auto v = variant == "regs"    ? ops::GemmVariant::Regs
                   : variant == "texel" ? ops::GemmVariant::Texel
                   : variant == "tiled" ? ops::GemmVariant::Tiled
                                        : ops::GemmVariant::Auto;
    ops::GemmConfig cfg = ops::gemm_config(ctx.info(), v);
    if (rows) cfg.rows = rows;
    if (cols) cfg.cols = cols;
    if (invocations) cfg.invocations = invocations;
    const bool tiled = cfg.variant == ops::GemmVariant::Tiled;
    fmt::print("device: {} ({}), {}, variant {}, invocations {} block {}x{} -> tile {}x{}\n", ctx.info().name,
               ctx.info().driver_name, fp16 ? "fp16" : "fp32",
               tiled ? "tiled" : cfg.variant == ops::GemmVariant::Texel ? "texel" : "regs", cfg.invocations, cfg.rows,
               cfg.cols, cfg.tile_rows(), cfg.tile_cols());

    // Times `record` (one op per call) like the GEMMs below: best of `trials` submits of `reps` ops.
    auto time_op = [&](auto record) {
      auto run = [&](int n) {
        rec.begin();
        for (int i = 0; i < n; ++i) record();
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_seconds();
        rec.submit_and_wait();
        const double cpu = cpu_seconds() - c0;
        return std::pair{std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), cpu};
      };
      const double first = run(1).first;  // includes lavapipe's shader compile (done at first dispatch)
      double best = 1e30, best_cpu = 1e30;
      for (int t = 0; t < trials; ++t) {
        const auto [wall, cpu] = run(reps);
        best = std::min(best, wall);
        best_cpu = std::min(best_cpu, cpu);
      }
      return std::tuple{best, best_cpu, first};
    };

    if (patch_batch > 0) {
      ops::PatchEmbedShape ps{.batch = patch_batch, .channels = 3, .height = 224, .width = 224, .patch = 16, .dim = 192};
      const int K = 3 * 16 * 16, tokens = ps.num_patches() + 1;
      auto bi = gpu::upload_floats(ctx, random_floats(std::size_t(patch_batch) * 3 * 224 * 224, 1), fp16);
      auto bw = gpu::upload_floats(ctx, ops::linear_vk_pack(cfg, random_floats(std::size_t(192) * K, 2), 192, K), fp16);
      auto bb = gpu::upload_floats(ctx, random_floats(192, 3), fp16);
      auto bt = gpu::upload_floats(ctx, std::vector<float>(std::size_t(patch_batch) * tokens * 192, 0.f), fp16);
      const auto [best, best_cpu, first] = time_op([&] {
        ops::patch_embed_vk(oc, gpu::whole(bi), ps, gpu::whole(bw), gpu::whole(bb), gpu::whole(bt), tokens, 1, cfg);
      });
      const double flop = 2.0 * patch_batch * ps.num_patches() * 192 * K * reps;
      fmt::print("patch embed x{}: {:8.2f} ms  {:7.2f} GFLOP/s  {:7.2f} GFLOP/cpu-s  (first run {:.0f} ms)\n",
                 patch_batch, best / reps * 1e3, flop / best * 1e-9, flop / best_cpu * 1e-9, first * 1e3);
      return 0;
    }

    for (const auto& s : shapes) {
      const Shape sh = parse_shape(s);
      const auto x = random_floats(std::size_t(sh.M) * sh.K, 1), w = random_floats(std::size_t(sh.N) * sh.K, 2),
                 b = random_floats(sh.N, 3);
      auto bx = gpu::upload_floats(ctx, x, fp16), bb = gpu::upload_floats(ctx, b, fp16);
      auto bw = gpu::upload_floats(ctx, ops::linear_vk_pack(cfg, w, sh.N, sh.K), fp16);
      auto by = gpu::upload_floats(ctx, std::vector<float>(std::size_t(sh.M) * sh.N, 0.f), fp16);
      const auto [best, best_cpu, first] = time_op([&] {
        ops::linear_vk(oc, gpu::whole(bx), sh.M, sh.K, sh.K, gpu::whole(bw), gpu::whole(bb), sh.N, gpu::whole(by), sh.N,
                       ops::Epilogue::None, cfg);
      });
      const double flop = 2.0 * sh.M * sh.N * sh.K * reps;
      std::string diff;
      if (check) {
        std::vector<float> want(std::size_t(sh.M) * sh.N);
        ops::linear_cpu(x.data(), sh.M, sh.K, w.data(), b.data(), sh.N, want.data(), ops::Epilogue::None);
        const auto got = gpu::download_floats(ctx, gpu::whole(by), want.size(), fp16);
        float m = 0.f;
        for (std::size_t i = 0; i < want.size(); ++i) m = std::max(m, std::abs(got[i] - want[i]));
        diff = fmt::format("  max|diff| {:.3g}", m);
      }
      fmt::print("{:>5} x {:>5} x {:>5}: {:8.2f} ms  {:7.2f} GFLOP/s  {:7.2f} GFLOP/cpu-s  (first run {:.0f} ms){}\n",
                 sh.M, sh.N, sh.K, best / reps * 1e3, flop / best * 1e-9, flop / best_cpu * 1e-9, first * 1e3, diff);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "vitvk_gemm_bench: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
