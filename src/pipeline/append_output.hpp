#pragma once
// `--resume`: an output file that grows row by row and survives being killed at any moment (SIGKILL included).
//
// Each completed row is handed to the kernel with write() as soon as it is formatted, so a process killed at
// any point leaves the file holding every completed row followed by at most one torn (incomplete) row. A later
// --resume run scans the file, drops that torn tail, keeps the complete rows and skips their inputs.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>

#include "pipeline/result_writer.hpp"

namespace vitvk::pipeline {

// What an existing CSV / JSONL output file holds.
struct ExistingRows {
  std::unordered_set<std::string> paths;  // the path field of each complete row, as written (see row_path_key)
  std::uint64_t rows = 0;                 // complete data rows (a repeated path counts each time)
  std::uint64_t valid_bytes = 0;          // end of the last complete row (or header)
  std::uint64_t file_bytes = 0;
  bool has_header = false;                // csv: the file starts with a complete header row
};

// Reads `path` (missing or empty: nothing) as written by the csv or jsonl writer. `csv_header` is the header
// row this run would write, without its '\n'; an existing header must equal it (same top-k, --logits, classes).
// Everything after the last complete row is the torn tail. Throws Error(Io) naming the file and row for a
// complete row that is not one of ours (bad JSON, no "path", wrong field count, another header).
ExistingRows scan_output_rows(const std::filesystem::path& path, OutputFormat format, const std::string& csv_header);

// The key scan_output_rows stores for a row about `path`: csv keeps the bytes; jsonl the UTF-8 string the writer
// puts in the file (invalid sequences replaced by U+FFFD).
std::string row_path_key(const std::filesystem::path& path, OutputFormat format);

class AppendOutputFile {
 public:
  // Opens (creating when missing) `path`, cuts it to `keep_bytes` (dropping a torn tail) and appends from there.
  // Durability against power loss: fdatasync at most every `sync_interval` (and on close); a killed process
  // loses nothing that write() accepted, whatever the interval (the page cache outlives the process). Measured
  // on ext4 (virtio disk), 150-byte rows: write() alone 31 us/row, fdatasync after every row 2.5 ms/row (a cap
  // of 400 rows/s, below a GPU's rate), fdatasync once a second 7 us/row: hence once a second.
  // Throws Error(Io) naming the path.
  AppendOutputFile(const std::filesystem::path& path, std::uint64_t keep_bytes,
                   std::chrono::milliseconds sync_interval = std::chrono::milliseconds(1000));
  ~AppendOutputFile();
  AppendOutputFile(const AppendOutputFile&) = delete;
  AppendOutputFile& operator=(const AppendOutputFile&) = delete;

  // Writes all of `bytes` (retrying short writes) at the end of the file; throws Error(Io).
  void append(std::string_view bytes);
  // fdatasync now; throws Error(Io).
  void sync();
  std::uint64_t syncs() const { return syncs_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_sync_;
  std::uint64_t syncs_ = 0;
  bool dirty_ = false;
};

}  // namespace vitvk::pipeline
