#include "cli/job.hpp"

#include <fmt/core.h>

#include <cmath>
#include <iostream>

#include "model/resolve.hpp"
#include "pipeline/input_list.hpp"
#include "vitvk/error.hpp"

namespace vitvk::cli {

void add_model_options(CLI::App* sub, ModelArgs& a) {
  sub->add_option("-m,--model", a.model,
                  std::string("Model directory, or a name searched in $VITVK_MODEL_PATH, ./models, the install "
                              "share dir and ~/.cache/vitvk/models (default ") +
                      kDefaultModelName + ")");
  sub->add_option("--img-size", a.img_size, "Input size in pixels (a multiple of the patch size; default: the model's)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--batch", a.batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("-b,--backend", a.backend, "auto | vulkan | cpu")->capture_default_str()
      ->check(CLI::IsMember({"auto", "vulkan", "cpu"}));
  sub->add_option("--device", a.device, "Vulkan device index")->check(CLI::NonNegativeNumber);
  sub->add_option("--precision", a.precision, "auto | fp32 | fp16 | int8")->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "fp16", "int8"}));
  sub->add_option("--max-pixels", a.max_pixels, "Refuse images larger than this many pixels (e.g. 100M)")
      ->capture_default_str();
  sub->add_option("-j,--jobs", a.jobs, "Decode worker threads (0: one per core)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

BackendRequest backend_request(const ModelArgs& a) {
  BackendRequest req;
  req.backend = parse_backend_choice(a.backend);
  req.device = a.device;
  req.precision = parse_precision_choice(a.precision);
  req.max_batch = a.batch;
  return req;
}
namespace {

// The signal that asked the run to stop (0: none). A signal handler can reach only static storage, so this is
// the one piece of global state; lock-free atomics are async-signal-safe.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void on_stop_signal(int signo) { g_stop_signal.store(signo, std::memory_order_relaxed); }

}  // namespace

void add_input_options(CLI::App* sub, InputArgs& a) {
  sub->add_option("paths", a.paths, "Image files and folders (folders: recursive, sorted, hidden names skipped)");
  sub->add_option("--files-from", a.files_from,
                  "Also read inputs from FILE, one path per line ('-': standard input); a listed folder is walked");
  sub->add_flag("-0,--null", a.nul, "--files-from entries end with NUL instead of newline (find -print0)");
  sub->add_option("--shard", a.shard,
                  "Take part K of N (K = 0..N-1) of the sorted input list: N machines with K = 0..N-1 together "
                  "cover every input once (e.g. --shard $JOB_COMPLETION_INDEX/N)");
}

std::vector<pipeline::InputEntry> gather_inputs(const InputArgs& a) {
  if (a.paths.empty() && a.files_from.empty())
    throw Error(ErrorCode::InvalidArgument, "no inputs: name image files or folders, or pass --files-from FILE");
  if (a.nul && a.files_from.empty()) throw Error(ErrorCode::InvalidArgument, "-0/--null applies to --files-from");
  std::optional<pipeline::ShardSpec> shard;
  if (!a.shard.empty()) shard = pipeline::parse_shard(a.shard);  // before any work: a typo fails at once
  std::vector<std::string> args = a.paths;
  if (!a.files_from.empty()) {
    auto listed = pipeline::read_input_list(a.files_from, a.nul);
    args.insert(args.end(), std::make_move_iterator(listed.begin()), std::make_move_iterator(listed.end()));
  }
  auto inputs = pipeline::enumerate_inputs(args);
  if (shard) inputs = pipeline::select_shard(std::move(inputs), *shard);
  return inputs;
}

StopSignals::StopSignals() {
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

StopSignals::~StopSignals() {
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
}

int StopSignals::signal() const { return g_stop_signal.load(std::memory_order_relaxed); }

RowSink::RowSink(const std::string& output, bool resume, pipeline::OutputFormat format, bool quiet)
    : output_(output), resume_(resume), format_(format), quiet_(quiet) {
  if (resume_) {
    if (output_.empty()) throw Error(ErrorCode::InvalidArgument, "--resume continues an --output FILE: pass -o FILE");
    if (format_ == pipeline::OutputFormat::Table)
      throw Error(ErrorCode::InvalidArgument, "--resume needs rows a later run can read back: use -f csv or -f jsonl");
  } else if (!output_.empty()) {
    atomic_.emplace(output_);
  }
}

std::ostream& RowSink::stream() {
  if (resume_) return buffer_;
  return atomic_ ? atomic_->stream() : std::cout;
}

void RowSink::begin() {
  if (!resume_) return;
  std::string header = buffer_.str();
  buffer_.str({});
  if (!header.empty() && header.back() == '\n') header.pop_back();
  existing_ = pipeline::scan_output_rows(output_, format_, header);
  append_ = std::make_unique<pipeline::AppendOutputFile>(output_, existing_.valid_bytes);
  if (!header.empty() && !existing_.has_header) append_->append(header + '\n');
  if (!quiet_) {
    fmt::print(stderr, "vitvk: --resume: {} holds {} rows", output_, existing_.rows);
    if (existing_.file_bytes > existing_.valid_bytes)
      fmt::print(stderr, "; dropped a torn last row ({} bytes)", existing_.file_bytes - existing_.valid_bytes);
    fmt::print(stderr, "\n");
  }
}

std::size_t RowSink::skip_done(std::vector<pipeline::InputEntry>& inputs) const {
  if (!resume_ || existing_.paths.empty()) return 0;
  const std::size_t before = inputs.size();
  std::erase_if(inputs, [&](const pipeline::InputEntry& in) {
    return existing_.paths.count(pipeline::row_path_key(in.path, format_)) != 0;
  });
  return before - inputs.size();
}

void RowSink::row_done() {
  if (resume_) {
    const std::string row = buffer_.str();
    buffer_.str({});
    append_->append(row);
    return;
  }
  std::ostream& out = stream();
  if (!atomic_) out.flush();  // stdout streams; a file appears whole at the end
  if (!out) throw Error(ErrorCode::Io, "cannot write output" + (output_.empty() ? std::string() : " " + output_));
}

void RowSink::commit() {
  if (append_) append_->sync();
  if (atomic_) atomic_->commit();
  std::cout.flush();
}

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

}  // namespace vitvk::cli
