#pragma once
// An output file that appears only complete: written to a temporary file beside it, renamed over it on commit().
#include <filesystem>
#include <fstream>

namespace vitvk::pipeline {

// A target that exists but is not a regular file (/dev/null, /dev/stdout, a FIFO) is written directly: renaming
// over a device node would replace it. A symbolic link is followed, so the link stays and its target is replaced.
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

  // Empty when writing directly (see above).
  const std::filesystem::path& temp_path() const { return temp_; }

 private:
  std::filesystem::path path_, target_, temp_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace vitvk::pipeline
