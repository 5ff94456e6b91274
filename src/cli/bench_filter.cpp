// The global filter sweep of `vitvk bench`: a tool that prints figures; nothing here asserts a speed.
#include "cli/bench_filter.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "ops/spectral_filter.hpp"
#include "vitvk/error.hpp"
#include "vk/context.hpp"
#include "vk/kernel.hpp"
#include "vk/op_context.hpp"
#include "vk/recorder.hpp"
#include "vk/transfer.hpp"

namespace vitvk::cli {
namespace {

std::vector<float> random_vector(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

struct Timing {
  double first_ms = 0;  // the first record + submit: plan building (VkFFT compiles its kernels) and pipelines
  double ms = 0;        // median per filter application afterwards
  double min_ms = 0;    // fastest run (the steadiest figure on a machine shared with other work)
  float max_diff = 0;   // against the CPU oracle
};

}  // namespace

int run_filter_sweep(const FilterSweepOptions& o) {
  if (o.grids.empty() || o.channels < 1 || o.batch < 1 || o.iterations < 1 || o.warmup < 0 || o.reps < 1)
    throw Error(ErrorCode::InvalidArgument, "--filter-sweep: grids, channels, batch, iterations and reps must be >= 1");
  gpu::Context ctx(gpu::ContextOptions{.device = o.device, .enable_fp16 = o.fp16});
  if (o.fp16 && !ctx.fp16_enabled()) throw Error(ErrorCode::Unsupported, "fp16 requested but the device lacks 16-bit storage");
  gpu::KernelCache kernels(ctx);
  gpu::Recorder rec(ctx);
  ops::SpectralFilterVk filter(ctx);
  gpu::OpContext oc{kernels, rec, o.fp16};
  using clock = std::chrono::steady_clock;
  auto since = [](clock::time_point t0) { return std::chrono::duration<double, std::milli>(clock::now() - t0).count(); };

  nlohmann::json rows = nlohmann::json::array();
  if (o.format == "table") {
    fmt::print("global filter, {} channels, batch {}, {} on {} ({})\n", o.channels, o.batch, o.fp16 ? "fp16" : "fp32",
               ctx.info().name, ctx.info().driver_name);
    fmt::print("{:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>7} {:>5}\n", "grid", "px@p16", "fft ms",
               "dft ms", "fft min", "dft min", "fft 1st", "dft 1st", "faster", "auto");
  }
  for (int g : o.grids) {
    if (g < 1) throw Error(ErrorCode::InvalidArgument, "--grids: sizes must be >= 1");
    const ops::SpectralShape s{o.batch, g, g, o.channels};
    const auto x = random_vector(std::size_t(o.batch) * s.tokens() * o.channels, 1);
    const auto w = random_vector(s.filter_floats(), 2);
    std::vector<float> want(x.size());
    ops::spectral_filter_cpu(x.data(), s, w.data(), want.data());
    const gpu::Buffer bx = gpu::upload_floats(ctx, x, o.fp16);
    const gpu::Buffer bw = gpu::upload_floats(ctx, ops::spectral_filter_vk_pack(w, g, g, o.channels), false);
    const gpu::Buffer by(ctx, gpu::storage_bytes(x.size(), o.fp16), gpu::MemoryUse::Device);
    Timing t[2];
    const ops::SpectralImpl impls[2] = {ops::SpectralImpl::Fft, ops::SpectralImpl::Dft};
    for (int i = 0; i < 2; ++i) {
      const gpu::Buffer scratch(ctx, ops::SpectralFilterVk::scratch_bytes(impls[i], s), gpu::MemoryUse::Device);
      auto run = [&](int reps) {
        rec.begin();
        for (int r = 0; r < reps; ++r)
          filter.record(oc, impls[i], gpu::whole(bx), s, gpu::whole(bw), gpu::whole(scratch), gpu::whole(by));
        rec.submit_and_wait();
      };
      auto t0 = clock::now();
      run(1);
      t[i].first_ms = since(t0);
      const auto got = gpu::download_floats(ctx, gpu::whole(by), x.size(), o.fp16);
      for (std::size_t k = 0; k < got.size(); ++k) t[i].max_diff = std::max(t[i].max_diff, std::abs(got[k] - want[k]));
      for (int k = 0; k < o.warmup; ++k) run(o.reps);
      std::vector<double> ms;
      for (int k = 0; k < o.iterations; ++k) {
        t0 = clock::now();
        run(o.reps);
        ms.push_back(since(t0) / o.reps);
      }
      std::sort(ms.begin(), ms.end());
      t[i].ms = ms[ms.size() / 2];
      t[i].min_ms = ms.front();
    }
    const char* faster = t[0].min_ms <= t[1].min_ms ? "fft" : "dft";
    const char* chosen = ops::to_string(filter.resolve(ops::SpectralImpl::Auto, s));
    if (o.format == "json") {
      rows.push_back({{"grid", g}, {"fft_ms", t[0].ms}, {"dft_ms", t[1].ms}, {"fft_min_ms", t[0].min_ms},
                      {"dft_min_ms", t[1].min_ms}, {"fft_first_ms", t[0].first_ms},
                      {"dft_first_ms", t[1].first_ms}, {"fft_max_diff", t[0].max_diff}, {"dft_max_diff", t[1].max_diff},
                      {"faster", faster}, {"auto", chosen}});
    } else {
      fmt::print("{:>7} {:>7} {:>9.3f} {:>9.3f} {:>9.3f} {:>9.3f} {:>10.1f} {:>10.1f} {:>7} {:>5}\n",
                 fmt::format("{}x{}", g, g), 16 * g, t[0].ms, t[1].ms, t[0].min_ms, t[1].min_ms, t[0].first_ms,
                 t[1].first_ms, faster, chosen);
    }
    // Both must compute the filter, or the timings mean nothing.
    const float tol = o.fp16 ? 5e-2f : 1e-3f;
    if (t[0].max_diff > tol || t[1].max_diff > tol)
      throw Error(ErrorCode::Internal, fmt::format("filter sweep: GPU result off the CPU oracle at {}x{} (fft {:.3g}, dft {:.3g})",
                                                   g, g, t[0].max_diff, t[1].max_diff));
  }
  if (o.format == "json")
    fmt::print("{}\n", nlohmann::json{{"device", ctx.info().name},
                                      {"driver", ctx.info().driver_name},
                                      {"channels", o.channels},
                                      {"batch", o.batch},
                                      {"precision", o.fp16 ? "fp16" : "fp32"},
                                      {"rows", rows}}
                           .dump());
  return 0;
}

}  // namespace vitvk::cli
