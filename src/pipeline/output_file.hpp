#pragma once
// An output file that appears only complete: written to a temporary file beside it, renamed over it on commit().
#include <filesystem>
#include <fstream>

namespace vitvk::pipeline {

class AtomicOutputFile {
 public:
  // Creates the temporary file (".<name>.tmp-XXXXXXXX" in the target's folder, permissions as for a new file).
  // Throws Error(Io) naming the path when it cannot.
  explicit AtomicOutputFile(const std::filesystem::path& path);
  // Without commit(), the temporary file is removed and the target left as it was.
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  std::ostream& stream() { return out_; }
  // Flushes, syncs to disk and renames onto the target. Throws Error(Io) when any step fails.
  void commit();

  const std::filesystem::path& temp_path() const { return temp_; }

 private:
  std::filesystem::path path_, temp_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace vitvk::pipeline
