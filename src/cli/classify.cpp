// `vitvk classify PATH...`: classify image files and folders, one output row per input.
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/progress.hpp"
#include "engine/factory.hpp"
#include "model/model.hpp"
#include "model/resolve.hpp"
#include "pipeline/classify.hpp"
#include "pipeline/enumerate.hpp"
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
  std::string precision = "auto";
  std::string format = "table";
  std::string output;
  bool logits = false;
  bool quiet = false;
  std::string max_pixels = "100M";
  int jobs = 0;
};

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
  pipeline::ClassifyOptions copts;
  copts.top_k = a.top_k;
  copts.batch = a.batch;
  copts.jobs = a.jobs;
  copts.keep_logits = a.logits;
  copts.limits.max_pixels = parse_pixel_count(a.max_pixels);
  const auto format = pipeline::parse_output_format(a.format);
  BackendRequest req;
  req.backend = parse_backend_choice(a.backend);
  req.device = a.device;
  req.precision = parse_precision_choice(a.precision);
  req.max_batch = a.batch;

  const auto model_dir = resolve_model(a.model.empty() ? kDefaultModelName : a.model);
  auto model = std::make_shared<const Model>(Model::load(model_dir));
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

  pipeline::Classifier classifier(*backend, copts);
  std::size_t done = 0;
  const auto stats = classifier.run(inputs, [&](const pipeline::ClassifyResult& r) {
    if (shares_terminal) progress.clear();
    writer->write(r);
    if (!file) out.flush();  // stdout streams; a file appears whole at the end
    if (!out) throw Error(ErrorCode::Io, "cannot write output" + (a.output.empty() ? std::string() : " " + a.output));
    progress.update(++done);
  });
  progress.clear();
  if (file) file->commit();

  if (!a.quiet) {
    fmt::print(stderr, "vitvk: {} classified, {} failed, {} inputs in {:.2f} s: {:.1f} images/s", stats.classified,
               stats.failed, stats.inputs, stats.seconds,
               stats.seconds > 0 ? static_cast<double>(stats.classified) / stats.seconds : 0.0);
    if (stats.forward_seconds > 0)
      fmt::print(stderr, " (inference alone {:.1f} images/s)", static_cast<double>(stats.classified) / stats.forward_seconds);
    fmt::print(stderr, "\n");
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
  sub->add_option("-k,--top-k", a->top_k, "Classes per image")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--batch", a->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("-b,--backend", a->backend, "auto | vulkan | cpu")->capture_default_str()
      ->check(CLI::IsMember({"auto", "vulkan", "cpu"}));
  sub->add_option("--device", a->device, "Vulkan device index")->check(CLI::NonNegativeNumber);
  sub->add_option("--precision", a->precision, "auto | fp32 | fp16")->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "fp16"}));
  sub->add_option("-f,--format", a->format, "table | csv | jsonl")->capture_default_str()
      ->check(CLI::IsMember({"table", "csv", "jsonl"}));
  sub->add_option("-o,--output", a->output, "Write results to FILE (atomically, when done) instead of stdout");
  sub->add_flag("--logits", a->logits, "Also output the raw logits");
  sub->add_flag("-q,--quiet", a->quiet, "No progress bar or summary on stderr");
  sub->add_option("--max-pixels", a->max_pixels, "Refuse images larger than this many pixels (e.g. 100M)")
      ->capture_default_str();
  sub->add_option("-j,--jobs", a->jobs, "Decode worker threads (0: one per core)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  reg.add(sub, [a] { return run_classify(*a); });
}

}  // namespace vitvk::cli
