// `vitvk embed PATH...`: the pre-head embedding of each image, for retrieval and clustering. Same inputs, worker
// pool, --resume and --shard as classify (one pipeline under both).
//   -f jsonl: one object per input, in input order: {"path": "...", "embedding": [...]} or {"path", "error"}
//   -f npy:   FILE is float32 [N, D] (NumPy .npy v1.0, little-endian, C order) over the N images that decoded,
//             and a paths file (default FILE with .npy replaced by .paths.txt) names row i on line i; inputs that
//             fail are reported on stderr (exit status 2), as classify reports them.
#include <fmt/core.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/job.hpp"
#include "cli/progress.hpp"
#include "engine/factory.hpp"
#include "model/model.hpp"
#include "model/resolve.hpp"
#include "pipeline/classify.hpp"
#include "pipeline/output_file.hpp"
#include "vitvk/error.hpp"

namespace vitvk::cli {
namespace {

static_assert(std::endian::native == std::endian::little, "the .npy writer writes the host's floats as '<f4'");

struct EmbedArgs {
  InputArgs input;
  ModelArgs run;
  std::string format;  // "" = from the file name
  std::string output;
  std::string paths_file;
  bool resume = false;
  bool quiet = false;
};

double json_number(float v) { return std::strtod(fmt::format("{}", v).c_str(), nullptr); }

// A .npy v1.0 header for float32 [rows, dim], padded to `size` bytes (a multiple of 64, as NumPy aligns it).
std::string npy_header(std::size_t rows, std::size_t dim, std::size_t size = 128) {
  std::string dict = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, dim);
  std::string h = std::string("\x93NUMPY\x01\x00", 8) + "  " + dict;
  if (h.size() + 1 > size) throw Error(ErrorCode::Internal, "npy header does not fit");
  h.append(size - h.size() - 1, ' ').push_back('\n');
  const std::size_t len = size - 10;  // HEADER_LEN: bytes after the 10-byte preamble
  h[8] = static_cast<char>(len & 0xff);
  h[9] = static_cast<char>(len >> 8);
  return h;
}

int run_embed(const EmbedArgs& a) {
  const StopSignals stop;
  std::string format = a.format;
  if (format.empty()) format = a.output.size() > 4 && a.output.ends_with(".npy") ? "npy" : "jsonl";
  const bool npy = format == "npy";
  if (npy && a.output.empty()) throw Error(ErrorCode::InvalidArgument, "-f npy writes a binary matrix: pass -o FILE.npy");
  if (npy && a.resume)
    throw Error(ErrorCode::InvalidArgument, "--resume appends rows as they complete: use -f jsonl (a .npy is written whole)");
  if (!npy && !a.paths_file.empty()) throw Error(ErrorCode::InvalidArgument, "--paths-file goes with -f npy");

  pipeline::ClassifyOptions copts;
  copts.batch = a.run.batch;
  copts.jobs = a.run.jobs;
  copts.keep_embedding = true;
  copts.limits.max_pixels = parse_pixel_count(a.run.max_pixels);
  const BackendRequest req = backend_request(a.run);

  const auto model_dir = resolve_model(a.run.model.empty() ? kDefaultModelName : a.run.model);
  auto model = std::make_shared<const Model>(Model::load(model_dir, a.run.img_size));
  auto backend = make_backend(model, req);
  const std::size_t dim = static_cast<std::size_t>(model->dims.dim);
  if (!a.quiet)
    fmt::print(stderr, "vitvk: model {} on {} ({}, {}), {}-d embeddings\n", model_dir.string(), backend->name(),
               backend->device_name(), backend->precision(), dim);

  auto inputs = gather_inputs(a.input);
  if (inputs.empty() && !a.quiet) fmt::print(stderr, "vitvk: no image files found in the given folders\n");

  // jsonl goes through the same sink as classify's rows (stdout, atomic file, or --resume appends).
  std::optional<RowSink> sink;
  std::optional<pipeline::AtomicOutputFile> matrix, names;
  if (npy) {
    std::string pf = a.paths_file;
    if (pf.empty()) pf = a.output.substr(0, a.output.size() - (a.output.ends_with(".npy") ? 4 : 0)) + ".paths.txt";
    matrix.emplace(a.output);
    names.emplace(pf);
    matrix->stream() << npy_header(0, dim);  // rewritten with the row count at the end
  } else {
    sink.emplace(a.output, a.resume, pipeline::OutputFormat::Jsonl, a.quiet);
    sink->begin();
    if (const std::size_t skipped = sink->skip_done(inputs); skipped && !a.quiet)
      fmt::print(stderr, "vitvk: --resume: skipping {} inputs already in {}, {} to go\n", skipped, a.output, inputs.size());
  }

  ProgressBar progress(inputs.size(), !a.quiet);
  const bool shares_terminal = a.output.empty() && progress.enabled() && ::isatty(STDOUT_FILENO) == 1;
  pipeline::Classifier classifier(*backend, copts);
  std::size_t done = 0, rows = 0;
  pipeline::ClassifyStats stats;
  try {
    if (stop.signal()) throw Stopped{};
    stats = classifier.run(inputs, [&](const pipeline::ClassifyResult& r) {
      if (stop.signal()) throw Stopped{};
      if (shares_terminal) progress.clear();
      if (npy) {
        if (r.ok()) {
          matrix->stream().write(reinterpret_cast<const char*>(r.embedding.data()),
                                 static_cast<std::streamsize>(r.embedding.size() * sizeof(float)));
          names->stream() << r.path.string() << '\n';
          ++rows;
        } else {
          progress.clear();
          fmt::print(stderr, "vitvk: {}: {}\n", r.path.string(), r.error);
        }
        if (!matrix->stream() || !names->stream()) throw Error(ErrorCode::Io, "cannot write output " + a.output);
      } else {
        nlohmann::ordered_json j;
        j["path"] = r.path.string();
        if (!r.ok()) {
          j["error"] = r.error;
        } else {
          auto v = nlohmann::ordered_json::array();
          for (float x : r.embedding) v.push_back(json_number(x));
          j["embedding"] = std::move(v);
        }
        sink->stream() << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
        sink->row_done();
      }
      progress.update(++done);
    });
  } catch (const Stopped&) {
    progress.clear();
    fmt::print(stderr, "vitvk: stopped by signal {} after {} of {} inputs\n", stop.signal(), done, inputs.size());
    return 128 + stop.signal();
  }
  progress.clear();
  if (npy) {
    matrix->stream().seekp(0);
    matrix->stream() << npy_header(rows, dim);
    matrix->commit();
    names->commit();
  } else {
    sink->commit();
  }
  if (!a.quiet)
    fmt::print(stderr, "vitvk: {} embedded, {} failed, {} inputs in {:.2f} s: {:.1f} images/s\n", stats.classified,
               stats.failed, stats.inputs, stats.seconds,
               stats.seconds > 0 ? static_cast<double>(stats.classified) / stats.seconds : 0.0);
  return stats.failed > 0 ? 2 : 0;
}

}  // namespace

void add_embed_command(CLI::App& app, Registry& reg) {
  auto* sub = app.add_subcommand("embed", "Write each image's embedding (pre-head features): JSONL, or .npy + paths file");
  auto a = std::make_shared<EmbedArgs>();
  add_input_options(sub, a->input);
  add_model_options(sub, a->run);
  sub->add_option("-f,--format", a->format, "jsonl | npy (default: npy when -o ends in .npy, else jsonl)")
      ->check(CLI::IsMember({"jsonl", "npy"}));
  sub->add_option("-o,--output", a->output, "Write to FILE (atomically when done, unless --resume) instead of stdout");
  sub->add_option("--paths-file", a->paths_file, "-f npy: where row i's path goes (default: FILE's .npy -> .paths.txt)");
  sub->add_flag("--resume", a->resume, "-f jsonl with -o FILE: keep FILE's rows, skip their inputs, append the rest");
  sub->add_flag("-q,--quiet", a->quiet, "No progress bar or summary on stderr");
  reg.add(sub, [a] { return run_embed(*a); });
}

}  // namespace vitvk::cli
