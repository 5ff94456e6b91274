#pragma once
// What `classify --overlay/--report` writes from explain results: an overlay PNG per input (optionally the raw
// rollout map beside it) in a tree that mirrors the inputs, and the report page. Rendering and encoding run on
// a worker pool, a bounded number of results at a time, so memory stays flat however many inputs there are.
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "explain/overlay.hpp"
#include "explain/report.hpp"
#include "explain/rollout.hpp"
#include "pipeline/enumerate.hpp"
#include "pipeline/result.hpp"
#include "pipeline/worker_pool.hpp"

namespace vitvk::pipeline {

// Output names (relative, without extension) mirroring the inputs: an input named directly becomes <stem>, one
// found under a folder argument keeps its path below that folder (<sub>/<stem>). Names are compared
// case-insensitively (so the tree also works on case-insensitive file systems) and claimed in input order: a
// later input whose name is taken, or whose file would clash with a folder (or the reverse), gets "-2", "-3", ...
// appended to that component. `extensions` lists every file written per input (e.g. ".png", ".npy"): each
// must be free. Inputs already known bad get an empty name.
std::vector<std::filesystem::path> plan_output_names(std::span<const InputEntry> inputs,
                                                     std::span<const std::string> extensions);

// The names the report shows: an image found under a folder argument shows its path below that folder, unless
// another input has the same such path (two folders holding a/x.jpg): then, as for a file named directly, the
// path as given. Inputs already known bad show their path as given.
std::vector<std::string> report_names(std::span<const InputEntry> inputs);

struct ExplainOutputOptions {
  std::filesystem::path overlay_dir;           // empty: no overlays
  std::optional<RolloutFormat> rollout_format;  // raw maps beside the overlays (needs overlay_dir)
  std::filesystem::path report_dir;            // empty: no report
  OverlayOptions overlay;                      // also the report's heat layers and its slider start value
  ReportOptions report;                        // title, info, sizes (its overlay field is replaced by `overlay`)
  int threads = 0;                             // <= 0: one per hardware thread
};

class ExplainWriter {
 public:
  // Plans the output names for `inputs` (which must outlive the writer) and creates the output folders.
  // `labels` (one per class) must outlive the writer. Throws Error(InvalidArgument) for options that make no
  // sense (rollout files without an overlay folder, nothing to write), Error(Io) naming a folder it cannot create.
  ExplainWriter(std::span<const InputEntry> inputs, const std::vector<std::string>& labels, ExplainOutputOptions options);
  // Waits for the writes in flight (queued ones are skipped); does not write index.html.
  ~ExplainWriter();
  ExplainWriter(const ExplainWriter&) = delete;
  ExplainWriter& operator=(const ExplainWriter&) = delete;

  // Queues one result's outputs; call in input order (report entries keep the order of these calls). Results
  // must carry photo, geometry and rollout (ClassifyOptions::explain) unless they failed. Blocks while too many
  // are in flight. Rethrows the first error a previous write hit (Error(Io) naming the file).
  void write(const ClassifyResult& result);
  // Waits for every queued write, then writes the report's index.html. Rethrows the first write error.
  void finish();

  // Where the overlay of input i goes (empty when none is written for it).
  std::filesystem::path overlay_path(std::size_t input) const;
  std::filesystem::path rollout_path(std::size_t input) const;
  // index.html (empty without a report).
  std::filesystem::path report_index() const;

 private:
  void run_task(std::size_t seq, const ClassifyResult& r);
  void wait_idle();
  void rethrow_failure();

  std::span<const InputEntry> inputs_;
  const std::vector<std::string>& labels_;
  ExplainOutputOptions options_;
  std::vector<std::filesystem::path> names_;
  std::vector<std::string> report_names_;
  std::unique_ptr<ReportWriter> report_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t in_flight_ = 0, max_in_flight_ = 0;
  std::size_t submitted_ = 0;   // sequence number of the next write()
  std::size_t report_turn_ = 0;  // sequence number whose report entry is added next
  bool stop_ = false;            // skip queued work (an error, or the writer is going away)
  std::exception_ptr failure_;
  WorkerPool pool_;  // last member: its threads stop before the state above goes away
};

}  // namespace vitvk::pipeline
