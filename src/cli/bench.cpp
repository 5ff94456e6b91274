// `vitvk bench`: ms per batch, images/s and achieved GFLOP/s of a backend on a model dir or a named
// architecture with random weights. A tool that prints figures; nothing here asserts a speed.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include <sys/resource.h>

#include "cli/bench_filter.hpp"
#include "cli/commands.hpp"
#include "engine/factory.hpp"
#include "model/quantize.hpp"
#include "vitvk/error.hpp"

namespace vitvk::cli {
namespace {

constexpr double kFp32LogitBound = 1e-3;  // |logit| difference an fp32 backend may have from the CPU oracle

struct BenchOptions {
  std::string model_dir, arch = "vit_tiny_patch16_224", backend = "cpu", precision = "auto", format = "table";
  std::optional<int> device;
  int batch = 1, iterations = 10, warmup = 2;
  bool per_op = false;
  int verify = 0;  // images of the batch to check against the CPU backend (0: none)
  std::string filter_impl = "auto";  // GFNet on Vulkan
  bool filter_sweep = false;
  std::vector<int> grids{7, 14, 24, 32};
};

int run_bench(const BenchOptions& o) {
  if (o.batch < 1 || o.iterations < 1 || o.warmup < 0 || o.verify < 0)
    throw Error(ErrorCode::InvalidArgument, "--batch and --iterations must be >= 1, --warmup and --verify >= 0");
  if (o.filter_sweep) {
    FilterSweepOptions f;
    f.grids = o.grids;
    f.batch = o.batch;
    f.iterations = o.iterations;
    f.warmup = o.warmup;
    f.device = o.device;
    f.fp16 = o.precision == "fp16";
    f.format = o.format;
    // Channels: the named GFNet's width, else GFNet-Ti's.
    const ModelConfig c = o.arch.starts_with("gfnet") ? config_for_architecture(o.arch) : config_for_architecture("gfnet_ti");
    f.channels = *c.embed_dim;
    return run_filter_sweep(f);
  }
  auto model = std::make_shared<const Model>(o.model_dir.empty() ? Model::random(config_for_architecture(o.arch), 1)
                                                                  : Model::load(o.model_dir));
  BackendRequest req;
  req.backend = parse_backend_choice(o.backend);
  req.precision = parse_precision_choice(o.precision);
  req.device = o.device;
  req.max_batch = o.batch;
  req.filter_impl = o.filter_impl;
  auto backend = make_backend(model, req);
  const ModelDims& d = model->dims;

  std::vector<float> images(std::size_t(o.batch) * d.channels * d.img_h * d.img_w);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (auto& v : images) v = nd(rng);

  // CPU time of the whole process (all threads) over the timed runs: on a shared machine, less disturbed by
  // other load than wall time.
  auto cpu_seconds = [] {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  };
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < o.warmup; ++i) backend->forward(images, o.batch, {});
  std::vector<double> ms;
  ForwardResult last;  // the last timed pass, for --verify
  const double cpu0 = cpu_seconds();
  for (int i = 0; i < o.iterations; ++i) {
    const auto t0 = clock::now();
    last = backend->forward(images, o.batch, {});
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
  }
  const double cpu_ms = (cpu_seconds() - cpu0) * 1e3 / o.iterations;
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  const double ips = o.batch * 1000.0 / median;
  const double gflops = d.flops_per_image() * o.batch / (median * 1e-3) / 1e9;

  // Per-op GPU timings of one more, profiled pass, summed by op name.
  std::map<std::string, double> per_op;
  if (o.per_op) {
    backend->set_profiling(true);
    backend->forward(images, o.batch, {});
    for (const auto& [name, t] : backend->last_op_timings_ms()) per_op[name] += t;
    backend->set_profiling(false);
  }

  // --verify: the first images' logits from the timed batch against the CPU backend (the fp32 oracle) on the
  // same inputs, so a throughput figure from a new GPU or driver comes with evidence that it computes the model.
  struct Verify {
    int images = 0, top1_agree = 0;
    double max_abs_diff = 0, max_abs_logit = 0;
    bool bounded = false, ok = true;
  } v;
  if (o.verify > 0) {
    if (backend->kind() == BackendKind::Cpu)
      throw Error(ErrorCode::InvalidArgument,
                  "--verify checks a Vulkan backend against the CPU backend: use -b vulkan");
    v.images = std::min(o.verify, o.batch);
    BackendRequest cpu_req = req;
    cpu_req.backend = BackendChoice::Cpu;
    cpu_req.precision = PrecisionChoice::Fp32;
    // int8 (Vulkan: weight-only): against fp32 on the same int8 weights dequantized (those of quantize_int8, the
    // default VITVK_INT8_LAYERS), so that the difference is the kernels', not the quantization's.
    auto ref_model = model;
    if (backend->precision() == "int8" && !has_int8_weights(*model)) {
      Model q = *model;
      quantize_int8(q);
      ref_model = std::make_shared<const Model>(std::move(q));
    }
    const auto cpu = make_backend(ref_model, cpu_req);
    const std::size_t image_floats = images.size() / o.batch;
    const ForwardResult ref = cpu->forward(std::span<const float>(images).first(v.images * image_floats), v.images, {});
    for (int b = 0; b < v.images; ++b) {
      const auto got = last.logits_of(b), want = ref.logits_of(b);
      for (std::size_t c = 0; c < want.size(); ++c) {
        v.max_abs_diff = std::max(v.max_abs_diff, double(std::abs(got[c] - want[c])));
        v.max_abs_logit = std::max(v.max_abs_logit, double(std::abs(want[c])));
      }
      v.top1_agree += std::max_element(got.begin(), got.end()) - got.begin() ==
                      std::max_element(want.begin(), want.end()) - want.begin();
    }
    // The fp32 bound of the reference tests; fp16 storage is reported, not judged.
    v.bounded = backend->precision() == "fp32";
    v.ok = !v.bounded || v.max_abs_diff <= kFp32LogitBound;
  }

  const std::string arch = o.model_dir.empty() ? o.arch : model->config.architecture;
  if (o.format == "json") {
    nlohmann::json j = {{"arch", arch},
                        {"weights", o.model_dir.empty() ? "random" : o.model_dir},
                        {"backend", backend->name()},
                        {"device", backend->device_name()},
                        {"precision", backend->precision()},
                        {"batch", o.batch},
                        {"iterations", o.iterations},
                        {"ms_per_batch", median},
                        {"ms_min", ms.front()},
                        {"ms_max", ms.back()},
                        {"cpu_ms_per_batch", cpu_ms},
                        {"images_per_s", ips},
                        {"gflops", gflops},
                        {"gflop_per_image", d.flops_per_image() / 1e9}};
    if (backend->kind() == BackendKind::Vulkan) j["device_weight_bytes"] = backend->device_weight_bytes();
    if (o.per_op) j["per_op_ms"] = per_op;
    if (v.images > 0)
      j["verify"] = {{"images", v.images},
                     {"max_abs_diff", v.max_abs_diff},
                     {"max_abs_logit", v.max_abs_logit},
                     {"top1_agree", v.top1_agree},
                     {"bound", v.bounded ? nlohmann::json(kFp32LogitBound) : nlohmann::json()},
                     {"ok", v.ok}};
    fmt::print("{}\n", j.dump());
  } else {
    fmt::print("{} on {} [{}], {}, batch {}\n", arch, backend->name(), backend->device_name(), backend->precision(), o.batch);
    fmt::print("  {:.2f} ms/batch (min {:.2f}, max {:.2f}, {} runs after {} warm-up)\n", median, ms.front(), ms.back(),
               o.iterations, o.warmup);
    fmt::print("  {:.1f} images/s, {:.1f} GFLOP/s ({:.3f} GFLOP/image)\n", ips, gflops, d.flops_per_image() / 1e9);
    fmt::print("  {:.2f} ms of process CPU time per batch (mean over the timed runs, all threads)\n", cpu_ms);
    if (backend->kind() == BackendKind::Vulkan)
      fmt::print("  {:.1f} MiB of device memory for the weights\n", backend->device_weight_bytes() / 1048576.0);
    if (o.per_op) {
      if (per_op.empty()) fmt::print("  (no per-op timings: CPU backend or no GPU timestamps)\n");
      double total = 0;
      for (const auto& [name, t] : per_op) total += t;
      for (const auto& [name, t] : per_op) fmt::print("  {:<24} {:9.3f} ms  {:5.1f}%\n", name, t, 100 * t / total);
    }
    if (v.images > 0)
      fmt::print("  verify: max |logit - CPU| {:.3g} over {} image(s) (|logits| up to {:.3g}), top-1 {}/{} agree{}\n",
                 v.max_abs_diff, v.images, v.max_abs_logit, v.top1_agree, v.images,
                 v.bounded ? fmt::format(": {} (fp32 bound {:g})", v.ok ? "ok" : "FAILED", kFp32LogitBound) : "");
  }
  if (!v.ok) {
    fmt::print(stderr, "vitvk bench: {} logits differ from the CPU backend's by {:.3g} (> {:g})\n", backend->name(),
               v.max_abs_diff, kFp32LogitBound);
    return 2;
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, Registry& reg) {
  auto* sub = app.add_subcommand("bench", "Time the forward pass: ms/batch, images/s, GFLOP/s");
  auto o = std::make_shared<BenchOptions>();
  auto* m = sub->add_option("-m,--model", o->model_dir, "Model directory (default: random weights for --arch)");
  sub->add_option("--arch", o->arch, "Architecture for random weights (vit_tiny_patch16_224, vit_small_patch16_224, "
                                     "vit_base_patch16_224, vit_base_patch32_384, gfnet_ti, gfnet_xs_384, "
                                     "eva02_tiny_patch14_224, eva02_base_patch14_448, beit_base_patch16_224, "
                                     "beitv2_base_patch16_224, swin_tiny_patch4_window7_224, ...)")
      ->excludes(m);
  sub->add_option("-b,--backend", o->backend, "cpu | vulkan | auto")->capture_default_str();
  sub->add_option("--device", o->device, "Vulkan device index (see `vitvk devices`)");
  sub->add_option("--precision", o->precision, "auto | fp32 | fp16 | int8")->capture_default_str();
  sub->add_option("--batch", o->batch, "Images per forward pass")->capture_default_str();
  sub->add_option("-n,--iterations", o->iterations, "Timed runs")->capture_default_str();
  sub->add_option("--warmup", o->warmup, "Untimed runs first")->capture_default_str();
  sub->add_option("-f,--format", o->format, "table | json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  sub->add_flag("--per-op", o->per_op, "Also print GPU time per op (Vulkan timestamps)");
  sub->add_option("--verify", o->verify,
                  "Check the first N images' logits of the timed batch against the CPU backend (fp32: fails above 1e-3)")
      ->capture_default_str();
  sub->add_option("--filter-impl", o->filter_impl, "GFNet global filter on Vulkan: auto | fft (VkFFT) | dft (dense DFT passes)")
      ->check(CLI::IsMember({"auto", "fft", "dft"}))
      ->capture_default_str();
  sub->add_flag("--filter-sweep", o->filter_sweep,
                "Time GFNet's global filter alone on the GPU, VkFFT vs dense DFT, per grid (channels from a gfnet --arch)");
  sub->add_option("--grids", o->grids, "Square token grids for --filter-sweep")->delimiter(',')->capture_default_str();
  reg.add(sub, [o] { return run_bench(*o); });
}

}  // namespace vitvk::cli
