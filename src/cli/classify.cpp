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
#include "cli/job.hpp"
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
  InputArgs input;
  bool resume = false;
  ModelArgs run;
  int top_k = 5;
  std::string format = "table";
  std::string output;
  bool logits = false;
  bool quiet = false;
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

int run_classify(const ClassifyArgs& a) {
  const StopSignals stop;  // first, so a signal during model loading also ends cleanly
  pipeline::ClassifyOptions copts;
  copts.top_k = a.top_k;
  copts.batch = a.run.batch;
  copts.jobs = a.run.jobs;
  copts.keep_logits = a.logits;
  copts.limits.max_pixels = parse_pixel_count(a.run.max_pixels);
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
    xopts.threads = a.run.jobs;
  }
  const BackendRequest req = backend_request(a.run);

  const auto model_dir = resolve_model(a.run.model.empty() ? kDefaultModelName : a.run.model);
  auto model = std::make_shared<const Model>(Model::load(model_dir, a.run.img_size));
  if (model->dims.num_classes == 0)
    throw Error(ErrorCode::Unsupported, "model " + model_dir.string() + " (" + model->config.architecture +
                                            ") has no classifier (num_classes 0): it gives embeddings; use `vitvk embed`");
  if (a.explain() && !model->has_attention_maps())
    throw Error(ErrorCode::Unsupported, "--overlay/--report show attention rollout, but model " + model_dir.string() +
                                            " has no attention maps: " + model->no_attention_maps_reason());
  auto backend = make_backend(model, req);
  if (!a.quiet)
    fmt::print(stderr, "vitvk: model {} on {} ({}, {})\n", model_dir.string(), backend->name(), backend->device_name(),
               backend->precision());

  auto inputs = gather_inputs(a.input);
  if (inputs.empty() && !a.quiet) fmt::print(stderr, "vitvk: no image files found in the given folders\n");

  RowSink sink(a.output, a.resume, format, a.quiet);
  std::ostream& out = sink.stream();

  pipeline::WriterOptions wopts;
  wopts.top_k = a.top_k;
  wopts.logits = a.logits;
  for (const auto& in : inputs) wopts.path_width = std::max(wopts.path_width, pipeline::display_width(in.path.string()));
  wopts.path_width = std::min<std::size_t>(wopts.path_width, 80);  // longer paths push their row right
  const auto writer = pipeline::make_result_writer(format, out, model->labels, wopts);
  sink.begin();
  if (const std::size_t skipped = sink.skip_done(inputs); skipped && !a.quiet)
    fmt::print(stderr, "vitvk: --resume: skipping {} inputs already in {}, {} to go\n", skipped, a.output, inputs.size());
  ProgressBar progress(inputs.size(), !a.quiet);
  const bool shares_terminal = !sink.to_file() && progress.enabled() && ::isatty(STDOUT_FILENO) == 1;

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
      sink.row_done();
      progress.update(++done);
    });
  } catch (const Stopped&) {
    progress.clear();  // without --resume, `sink` going out of scope removes its temporary file: FILE is as it was
    const std::string what = a.output.empty() ? std::string()
                             : a.resume ? "; " + a.output + " holds every completed row: run again with --resume to go on"
                                        : "; " + a.output + " was not written";
    fmt::print(stderr, "vitvk: stopped by signal {} after {} of {} inputs{}\n", stop.signal(), done, inputs.size(), what);
    return 128 + stop.signal();
  }
  progress.clear();
  if (explain) explain->finish();
  sink.commit();  // also flushes stdout: rows before the summary line when stdout and stderr share a pipe

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
  add_input_options(sub, a->input);
  add_model_options(sub, a->run);
  sub->add_option("-k,--top-k", a->top_k, "Classes per image")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("-f,--format", a->format, "table | csv | jsonl")->capture_default_str()
      ->check(CLI::IsMember({"table", "csv", "jsonl"}));
  sub->add_option("-o,--output", a->output,
                  "Write results to FILE (atomically, when done; Ctrl-C leaves FILE as it was) instead of stdout");
  sub->add_flag("--resume", a->resume,
                "With -o FILE (csv or jsonl): keep the rows FILE holds, skip their inputs, append each new row as it "
                "completes (a run killed at any moment loses no completed row; a torn last row is dropped)");
  sub->add_flag("--logits", a->logits, "Also output the raw logits");
  sub->add_flag("-q,--quiet", a->quiet, "No progress bar or summary on stderr");
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
