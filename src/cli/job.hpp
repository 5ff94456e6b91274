#pragma once
// What `classify` and `embed` share: where the inputs come from (paths, --files-from, --shard), where the rows
// go (stdout, an atomically replaced file, or a --resume file appended row by row), and stopping on a signal.
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/factory.hpp"
#include "pipeline/append_output.hpp"
#include "pipeline/enumerate.hpp"
#include "pipeline/output_file.hpp"
#include "pipeline/result_writer.hpp"

namespace vitvk::cli {

struct InputArgs {
  std::vector<std::string> paths;
  std::string files_from;
  bool nul = false;
  std::string shard;
};

// Which model runs where: -m, --img-size, --batch, --backend, --device, --precision, --max-pixels, -j.
struct ModelArgs {
  std::string model;
  std::optional<int> img_size;  // run at this input size (pos_embed resampled)
  int batch = 8;
  std::string backend = "auto";
  std::optional<int> device;
  std::string precision = "auto";
  std::string max_pixels = "100M";
  int jobs = 0;
};

// Adds the ModelArgs options to `sub`.
void add_model_options(CLI::App* sub, ModelArgs& args);

// The backend request the options ask for (max_batch = --batch).
BackendRequest backend_request(const ModelArgs& args);

// Adds the positional paths and --files-from, -0/--null, --shard to `sub`.
void add_input_options(CLI::App* sub, InputArgs& args);

// The inputs in order: the paths, then the --files-from entries (each expanded as a path argument: a folder is
// walked); then the --shard part. Throws Error(InvalidArgument) when there are neither paths nor a list.
std::vector<pipeline::InputEntry> gather_inputs(const InputArgs& args);

// While alive, SIGINT and SIGTERM ask the run to stop after the current batch instead of killing the process.
// SA_RESETHAND: a second signal kills at once.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  int signal() const;

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// Thrown from a result callback to unwind out of a run when a stop signal arrived.
struct Stopped {};

// Where result rows go.
//  - no FILE: stdout, flushed after every row;
//  - FILE without --resume: a temporary file renamed over FILE by commit() (a stopped run leaves FILE as it was);
//  - FILE with --resume (csv / jsonl): the rows FILE already holds are kept (a torn last row is cut), their
//    inputs are dropped from the job by skip_done(), and each new row is appended with write() as it completes.
class RowSink {
 public:
  RowSink(const std::string& output, bool resume, pipeline::OutputFormat format, bool quiet);
  // The stream a ResultWriter writes to.
  std::ostream& stream();
  // Call once, right after the writer was made (it has written its header, if any): checks the header against
  // FILE's under --resume and scans FILE. Throws Error(Io) for a FILE that is not ours.
  void begin();
  // Removes the inputs whose rows FILE already holds (--resume); returns how many were removed.
  std::size_t skip_done(std::vector<pipeline::InputEntry>& inputs) const;
  // After each row: stdout is flushed, a --resume row is appended to FILE.
  void row_done();
  void commit();
  bool to_file() const { return !output_.empty(); }
  bool resuming() const { return resume_; }
  const std::string& output() const { return output_; }

 private:
  std::string output_;
  bool resume_;
  pipeline::OutputFormat format_;
  bool quiet_;
  std::optional<pipeline::AtomicOutputFile> atomic_;
  std::ostringstream buffer_;  // --resume: the row being formatted
  pipeline::ExistingRows existing_;
  std::unique_ptr<pipeline::AppendOutputFile> append_;
};

// "100000000", "100M", "100MP", "2.5G", "640k" -> pixels.
uint64_t parse_pixel_count(const std::string& s);

}  // namespace vitvk::cli
