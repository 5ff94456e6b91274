#include "pipeline/explain_outputs.hpp"

#include <algorithm>
#include <cctype>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "vitvk/error.hpp"

namespace fs = std::filesystem;

namespace vitvk::pipeline {
namespace {

std::string fold(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

void create_folder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(ErrorCode::Io, dir.string() + ": cannot create folder: " + ec.message());
}

}  // namespace

std::vector<fs::path> plan_output_names(std::span<const InputEntry> inputs, std::span<const std::string> extensions) {
  std::unordered_set<std::string> taken;                   // folded output paths of files and folders
  std::unordered_map<std::string, std::string> folders;  // source folder below its argument -> output folder
  std::vector<fs::path> out(inputs.size());
  const auto file_free = [&](const std::string& base) {
    return std::none_of(extensions.begin(), extensions.end(),
                        [&](const std::string& ext) { return taken.count(fold(base + ext)) > 0; });
  };
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const InputEntry& in = inputs[i];
    if (!in.ok()) continue;
    // Only plain names: nothing may climb out of the output folder.
    std::vector<std::string> parts;
    for (const fs::path& c : in.relative.empty() ? in.path.filename() : in.relative) {
      const std::string s = c.string();
      if (!s.empty() && s != "." && s != ".." && s != "/") parts.push_back(s);
    }
    if (parts.empty()) parts.emplace_back("image");
    std::string src, dst;
    for (std::size_t k = 0; k + 1 < parts.size(); ++k) {
      src = join(src, parts[k]);
      if (const auto it = folders.find(src); it != folders.end()) {
        dst = it->second;
        continue;
      }
      std::string cand = join(dst, parts[k]);
      for (int n = 2; taken.count(fold(cand)); ++n) cand = join(dst, parts[k] + "-" + std::to_string(n));
      taken.insert(fold(cand));
      folders.emplace(src, cand);
      dst = cand;
    }
    std::string stem = fs::path(parts.back()).stem().string();
    if (stem.empty()) stem = parts.back();
    std::string base = join(dst, stem);
    for (int n = 2; !file_free(base); ++n) base = join(dst, stem + "-" + std::to_string(n));
    for (const std::string& ext : extensions) taken.insert(fold(base + ext));
    out[i] = base;
  }
  return out;
}

std::vector<std::string> report_names(std::span<const InputEntry> inputs) {
  std::unordered_map<std::string, int> uses;
  for (const InputEntry& in : inputs)
    if (in.ok() && !in.relative.empty()) ++uses[in.relative.string()];
  std::vector<std::string> out;
  out.reserve(inputs.size());
  for (const InputEntry& in : inputs) {
    const bool below = in.ok() && !in.relative.empty() && uses[in.relative.string()] == 1;
    out.push_back(below ? in.relative.string() : in.path.string());
  }
  return out;
}

ExplainWriter::ExplainWriter(std::span<const InputEntry> inputs, const std::vector<std::string>& labels,
                             ExplainOutputOptions options)
    : inputs_(inputs), labels_(labels), options_(std::move(options)), pool_(options_.threads) {
  if (options_.overlay_dir.empty() && options_.report_dir.empty())
    throw Error(ErrorCode::InvalidArgument, "explain outputs: neither an overlay folder nor a report folder given");
  if (options_.rollout_format && options_.overlay_dir.empty())
    throw Error(ErrorCode::InvalidArgument, "explain outputs: rollout files are written beside the overlays, which "
                                            "need an overlay folder");
  if (!options_.overlay_dir.empty()) {
    std::vector<std::string> ext{".png"};
    if (options_.rollout_format) ext.emplace_back(file_extension(*options_.rollout_format));
    names_ = plan_output_names(inputs_, ext);
    create_folder(options_.overlay_dir);
  }
  if (!options_.report_dir.empty()) {
    report_names_ = report_names(inputs_);
    ReportOptions ro = options_.report;
    ro.overlay = options_.overlay;
    report_ = std::make_unique<ReportWriter>(options_.report_dir, std::move(ro));
  }
  // Each result in flight holds one capped photo; two per thread keeps every thread busy.
  max_in_flight_ = static_cast<std::size_t>(2 * pool_.size());
}

ExplainWriter::~ExplainWriter() {
  {
    const std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wait_idle();
}

fs::path ExplainWriter::overlay_path(std::size_t input) const {
  if (options_.overlay_dir.empty() || input >= names_.size() || names_[input].empty()) return {};
  return options_.overlay_dir / fs::path(names_[input].string() + ".png");
}

fs::path ExplainWriter::rollout_path(std::size_t input) const {
  if (!options_.rollout_format || input >= names_.size() || names_[input].empty()) return {};
  return options_.overlay_dir / fs::path(names_[input].string() + file_extension(*options_.rollout_format));
}

fs::path ExplainWriter::report_index() const { return report_ ? report_->dir() / "index.html" : fs::path(); }

void ExplainWriter::write(const ClassifyResult& result) {
  std::size_t seq;
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return in_flight_ < max_in_flight_ || failure_; });
    if (failure_) std::rethrow_exception(failure_);
    ++in_flight_;
    seq = submitted_++;
  }
  // The copy shares the photo's pixels (cv::Mat is reference counted); they are freed when the task ends.
  pool_.submit([this, seq, r = result] { run_task(seq, r); });
}

void ExplainWriter::run_task(std::size_t seq, const ClassifyResult& r) {
  std::exception_ptr err;
  bool skip;
  {
    const std::lock_guard lock(mutex_);
    skip = stop_;
  }
  const bool explained = r.ok() && !r.photo.empty() && r.rollout.w > 0;
  if (!skip && r.ok() && !explained)
    err = std::make_exception_ptr(Error(ErrorCode::InvalidArgument, r.path.string() +
                                                                        ": the result carries no photo or rollout map "
                                                                        "(classify without explain options?)"));
  if (!skip && !err && explained && !options_.overlay_dir.empty()) {
    try {
      const fs::path png = overlay_path(r.input);
      if (png.empty()) throw Error(ErrorCode::Internal, r.path.string() + ": no overlay name was planned for this input");
      create_folder(png.parent_path());
      write_overlay_png(png, r.photo, r.rollout, r.geometry, options_.overlay);
      if (options_.rollout_format) write_rollout(rollout_path(r.input), r.rollout, *options_.rollout_format);
    } catch (...) {
      err = std::current_exception();
    }
  }
  if (report_) {
    // Entries are added in submission order; the turn passes on whatever happens.
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return report_turn_ == seq; });
    skip = stop_;
    lock.unlock();
    if (!skip && !err) {
      try {
        const std::string name = r.input < report_names_.size() ? report_names_[r.input] : r.path.string();
        if (!r.ok()) {
          report_->add_error(name, r.error);
        } else {
          std::vector<ReportPrediction> top;
          for (const ScoredClass& c : r.top) {
            const std::size_t i = static_cast<std::size_t>(c.index);
            top.push_back({i < labels_.size() ? labels_[i] : "class " + std::to_string(c.index), c.index, c.prob});
          }
          report_->add(name, r.photo, top, &r.rollout, &r.geometry);
        }
      } catch (...) {
        err = std::current_exception();
      }
    }
    lock.lock();
    ++report_turn_;
  }
  {
    const std::lock_guard lock(mutex_);
    if (err && !failure_) {
      failure_ = err;
      stop_ = true;
    }
    --in_flight_;
  }
  cv_.notify_all();
}

void ExplainWriter::wait_idle() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return in_flight_ == 0; });
}

void ExplainWriter::rethrow_failure() {
  const std::lock_guard lock(mutex_);
  if (failure_) std::rethrow_exception(failure_);
}

void ExplainWriter::finish() {
  wait_idle();
  rethrow_failure();
  if (report_) report_->finish();
}

}  // namespace vitvk::pipeline
