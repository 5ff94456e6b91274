// `vitvk classify PATH...`: classify image files and folders, one output row per input.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "engine/factory.hpp"
#include "explain/overlay.hpp"
#include "explain/rollout.hpp"
#include "model/model.hpp"
#include "model/resolve.hpp"
#include "pipeline/classify.hpp"
#include "pipeline/enumerate.hpp"
#include "pipeline/explain_outputs.hpp"
#include "pipeline/output_file.hpp"
#include "pipeline/result_writer.hpp"
#include "vitvk/error.hpp"

namespace vitvk::cli {
namespace {

struct ClassifyArgs {
  std::vector<std::string> paths;
  std::string model;
  int top_k = 5;
  int batch = 8;
  std::string backend = "auto";
  std::optional<int> device;
  std::optional<int> img_size;  // run at this input size (pos_embed resampled)
  std::string precision = "auto";
  std::string format = "table";
  std::string output;
  bool logits = false;
  bool quiet = false;
  std::string max_pixels = "100M";
  int jobs = 0;
  // Attention-rollout outputs.
  std::string overlay_dir;
  std::string rollout_format;
  std::string report_dir;
  float opacity = 0.5f;
  std::string colormap = "viridis";
  std::string head_fusion = "mean";
  double discard_ratio = 0.0;
  int overlay_size = 1024;

  bool explain() const { return !overlay_dir.empty() || !report_dir.empty(); }
};

// The signal that asked classify to stop (0: none). A signal handler can reach only static storage, so this is
// the one piece of global state; lock-free atomics are async-signal-safe.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop_signal(int signo) { g_stop_signal.store(signo, std::memory_order_relaxed); }

// While alive, SIGINT and SIGTERM ask the run to stop after the current batch instead of killing the process,
// so an --output file is never left half-written nor its temporary file behind. SA_RESETHAND: a second signal
// kills at once (the previous output file still stays as it was: it is only ever replaced by a rename).
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    // A signal the caller ignores (nohup, a shell's background job) stays ignored.
    if (old_int_.sa_handler == SIG_IGN) ::sigaction(SIGINT, &old_int_, nullptr);
    if (old_term_.sa_handler == SIG_IGN) ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int signal() const { return g_stop_signal.load(std::memory_order_relaxed); }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// Thrown from the result callback to unwind out of Classifier::run when a stop signal arrived.
struct Stopped {};

// "100000000", "100M", "100MP", "2.5G", "640k" -> pixels.
uint64_t parse_pixel_count(const std::string& s) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string suffix = s.substr(used);
  if (!suffix.empty() && (suffix.back() == 'P' || suffix.back() == 'p')) suffix.pop_back();
  double scale = 0;
  if (suffix.empty()) scale = 1;
  else if (suffix == "k" || suffix == "K") scale = 1e3;
  else if (suffix == "m" || suffix == "M") scale = 1e6;
  else if (suffix == "g" || suffix == "G") scale = 1e9;
  if (used == 0 || scale == 0 || !(v * scale >= 1) || v * scale > 1e15)
    throw Error(ErrorCode::InvalidArgument, "--max-pixels: expected a pixel count such as 100000000, 100M or 2.5G, got '" + s + "'");
  return static_cast<uint64_t>(std::llround(v * scale));
}

int run_classify(const ClassifyArgs& a) {
  const StopSignals stop;  // first, so a signal during model loading also ends cleanly
  pipeline::ClassifyOptions copts;
  copts.top_k = a.top_k;
  copts.batch = a.batch;
  copts.jobs = a.jobs;
  copts.keep_logits = a.logits;
  copts.limits.max_pixels = parse_pixel_count(a.max_pixels);
  const auto format = pipeline::parse_output_format(a.format);
  if (!a.rollout_format.empty() && a.overlay_dir.empty())
    throw Error(ErrorCode::InvalidArgument, "--rollout-format writes the maps beside the overlays: it needs --overlay DIR");
  pipeline::ExplainOutputOptions xopts;
  if (a.explain()) {
    copts.explain.enabled = true;
    copts.explain.rollout.head_fusion = parse_head_fusion(a.head_fusion);
    copts.explain.rollout.discard_ratio = a.discard_ratio;
    copts.explain.max_photo_side = a.overlay_size;
    xopts.overlay_dir = a.overlay_dir;
    xopts.report_dir = a.report_dir;
    if (!a.rollout_format.empty()) xopts.rollout_format = parse_rollout_format(a.rollout_format);
    xopts.overlay.opacity = a.opacity;
    xopts.overlay.colormap = parse_colormap(a.colormap);
    xopts.threads = a.jobs;
  }
  BackendRequest req;
  req.backend = parse_backend_choice(a.backend);
  req.device = a.device;
  req.precision = parse_precision_choice(a.precision);
  req.max_batch = a.batch;

  const auto model_dir = resolve_model(a.model.empty() ? kDefaultModelName : a.model);
  auto model = std::make_shared<const Model>(Model::load(model_dir, a.img_size));
  if (model->dims.num_classes == 0)
    throw Error(ErrorCode::Unsupported, "model " + model_dir.string() + " (" + model->config.architecture +
                                            ") has no classifier (num_classes 0): it gives embeddings; use `vitvk embed`");
  if (a.explain() && !pipeline::has_attention_maps(*model))
    throw Error(ErrorCode::Unsupported, "--overlay/--report show attention rollout, but model " + model_dir.string() +
                                            " (" + model->config.architecture + ") has no attention maps");
  auto backend = make_backend(model, req);
  if (!a.quiet)
    fmt::print(stderr, "vitvk: model {} on {} ({}, {})\n", model_dir.string(), backend->name(), backend->device_name(),
               backend->precision());

  const auto inputs = pipeline::enumerate_inputs(a.paths);
  if (inputs.empty() && !a.quiet) fmt::print(stderr, "vitvk: no image files found in the given folders\n");

  std::optional<pipeline::AtomicOutputFile> file;
  if (!a.output.empty()) file.emplace(a.output);
  std::ostream& out = file ? file->stream() : std::cout;

  pipeline::WriterOptions wopts;
  wopts.top_k = a.top_k;
  wopts.logits = a.logits;
  for (const auto& in : inputs) wopts.path_width = std::max(wopts.path_width, pipeline::display_width(in.path.string()));
  wopts.path_width = std::min<std::size_t>(wopts.path_width, 80);  // longer paths push their row right
  ProgressBar progress(inputs.size(), !a.quiet);
  const bool shares_terminal = !file && progress.enabled() && ::isatty(STDOUT_FILENO) == 1;
  const auto writer = pipeline::make_result_writer(format, out, model->labels, wopts);

  std::optional<pipeline::ExplainWriter> explain;
  if (a.explain()) {
    xopts.report.info = {{"model", model_dir.filename().string()},
                         {"backend", fmt::format("{} ({}, {})", backend->name(), backend->device_name(), backend->precision())},
                         {"rollout", fmt::format("{} fusion, discard {}", a.head_fusion, a.discard_ratio)}};
    explain.emplace(inputs, model->labels, std::move(xopts));
  }

  pipeline::Classifier classifier(*backend, copts);
  std::size_t done = 0;
  pipeline::ClassifyStats stats;
  try {
    if (stop.signal()) throw Stopped{};
    stats = classifier.run(inputs, [&](const pipeline::ClassifyResult& r) {
      if (stop.signal()) throw Stopped{};
      if (shares_terminal) progress.clear();
      writer->write(r);
      if (explain) explain->write(r);
      if (!file) out.flush();  // stdout streams; a file appears whole at the end
      if (!out) throw Error(ErrorCode::Io, "cannot write output" + (a.output.empty() ? std::string() : " " + a.output));
      progress.update(++done);
    });
  } catch (const Stopped&) {
    progress.clear();  // `file` going out of scope removes its temporary file; the target is left as it was
    fmt::print(stderr, "vitvk: stopped by signal {} after {} of {} inputs{}\n", stop.signal(), done, inputs.size(),
               a.output.empty() ? std::string() : "; " + a.output + " was not written");
    return 128 + stop.signal();
  }
  progress.clear();
  if (explain) explain->finish();
  if (file) file->commit();
  out.flush();  // rows before the summary line when stdout and stderr share a pipe

  if (!a.quiet) {
    fmt::print(stderr, "vitvk: {} classified, {} failed, {} inputs in {:.2f} s: {:.1f} images/s", stats.classified,
               stats.failed, stats.inputs, stats.seconds,
               stats.seconds > 0 ? static_cast<double>(stats.classified) / stats.seconds : 0.0);
    if (stats.forward_seconds > 0)
      fmt::print(stderr, " (inference alone {:.1f} images/s)", static_cast<double>(stats.classified) / stats.forward_seconds);
    fmt::print(stderr, "\n");
    if (!a.overlay_dir.empty()) fmt::print(stderr, "vitvk: overlays in {}\n", a.overlay_dir);
    if (explain && !a.report_dir.empty()) fmt::print(stderr, "vitvk: report at {}\n", explain->report_index().string());
  }
  return stats.failed > 0 ? 2 : 0;
}

}  // namespace

void add_classify_command(CLI::App& app, Registry& reg) {
  auto* sub = app.add_subcommand("classify", "Classify image files and folders (recursively), one row per input");
  auto a = std::make_shared<ClassifyArgs>();
  sub->add_option("paths", a->paths, "Image files and folders (folders: recursive, sorted, hidden names skipped)")
      ->required();
  sub->add_option("-m,--model", a->model,
                  std::string("Model directory, or a name searched in $VITVK_MODEL_PATH, ./models, the install "
                              "share dir and ~/.cache/vitvk/models (default ") +
                      kDefaultModelName + ")");
  sub->add_option("--img-size", a->img_size, "Input size in pixels (a multiple of the patch size; default: the model's)")
      ->check(CLI::PositiveNumber);
  sub->add_option("-k,--top-k", a->top_k, "Classes per image")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--batch", a->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("-b,--backend", a->backend, "auto | vulkan | cpu")->capture_default_str()
      ->check(CLI::IsMember({"auto", "vulkan", "cpu"}));
  sub->add_option("--device", a->device, "Vulkan device index")->check(CLI::NonNegativeNumber);
  sub->add_option("--precision", a->precision, "auto | fp32 | fp16")->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "fp16"}));
  sub->add_option("-f,--format", a->format, "table | csv | jsonl")->capture_default_str()
      ->check(CLI::IsMember({"table", "csv", "jsonl"}));
  sub->add_option("-o,--output", a->output,
                  "Write results to FILE (atomically, when done; Ctrl-C leaves FILE as it was) instead of stdout");
  sub->add_flag("--logits", a->logits, "Also output the raw logits");
  sub->add_flag("-q,--quiet", a->quiet, "No progress bar or summary on stderr");
  sub->add_option("--max-pixels", a->max_pixels, "Refuse images larger than this many pixels (e.g. 100M)")
      ->capture_default_str();
  sub->add_option("-j,--jobs", a->jobs, "Decode worker threads (0: one per core)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--overlay", a->overlay_dir,
                  "Write an attention-rollout overlay PNG per input into DIR, mirroring the input folders");
  sub->add_option("--rollout-format", a->rollout_format, "Also write the raw rollout map beside each overlay: npy | json")
      ->check(CLI::IsMember({"npy", "json"}));
  sub->add_option("--report", a->report_dir,
                  "Write a self-contained HTML report (thumbnails, top-k, overlay toggle and opacity) into DIR");
  sub->add_option("--opacity", a->opacity, "Overlay opacity, 0 (photo only) to 1 (heat map only)")->capture_default_str()
      ->check(CLI::Range(0.0f, 1.0f));
  sub->add_option("--colormap", a->colormap, "Overlay colormap: viridis, inferno, magma, plasma, turbo, jet, ...")
      ->capture_default_str();
  sub->add_option("--head-fusion", a->head_fusion, "How attention heads are combined for rollout: mean | max | min")
      ->capture_default_str()->check(CLI::IsMember({"mean", "max", "min"}));
  sub->add_option("--discard-ratio", a->discard_ratio, "Fraction of the weakest attention weights dropped per layer, [0, 1)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  sub->add_option("--overlay-size", a->overlay_size,
                  "Longest side of overlay and report images in pixels (photos are scaled down; 0: full size)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  reg.add(sub, [a] { return run_classify(*a); });
}

}  // namespace vitvk::cli
