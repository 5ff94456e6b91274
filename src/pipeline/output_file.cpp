#include "pipeline/output_file.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <random>
#include <system_error>

#include "vitvk/error.hpp"

namespace fs = std::filesystem;

namespace vitvk::pipeline {
namespace {

std::string errno_text() { return std::error_code(errno, std::generic_category()).message(); }

}  // namespace

AtomicOutputFile::AtomicOutputFile(const fs::path& path) : path_(path), target_(path) {
  if (path.filename().empty()) throw Error(ErrorCode::Io, "cannot write output " + path.string() + ": not a file name");
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(path, ec))) {
    target_ = fs::canonical(path, ec);  // replace what the link points to, keep the link
    if (ec) target_ = path;             // dangling: the rename below replaces the link itself
  }
  const fs::file_status st = fs::status(target_, ec);
  if (fs::exists(st) && !fs::is_regular_file(st)) {
    if (fs::is_directory(st)) throw Error(ErrorCode::Io, "cannot write output " + path.string() + ": is a folder");
    out_.open(target_, std::ios::binary);
    if (!out_) throw Error(ErrorCode::Io, "cannot write output " + path.string() + ": cannot open it");
    return;
  }
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path temp = target_;
    temp.replace_filename(fmt::format(".{}.tmp-{:08x}", target_.filename().string(), rd()));
    // O_EXCL: never reuse someone else's file; mode 0666 lets the umask decide, as for any new file.
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
      if (errno == EEXIST) continue;
      throw Error(ErrorCode::Io, "cannot write output " + path.string() + ": " + errno_text());
    }
    ::close(fd);
    temp_ = temp;
    break;
  }
  if (temp_.empty()) throw Error(ErrorCode::Io, "cannot write output " + path.string() + ": no free temporary name");
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  if (!out_) {
    std::error_code ec;
    fs::remove(temp_, ec);
    throw Error(ErrorCode::Io, "cannot write output " + path.string() + ": cannot open " + temp_.string());
  }
}

AtomicOutputFile::~AtomicOutputFile() {
  if (committed_ || temp_.empty()) return;
  out_.close();
  std::error_code ec;
  fs::remove(temp_, ec);
}

void AtomicOutputFile::commit() {
  out_.flush();
  const bool ok = static_cast<bool>(out_);
  out_.close();
  if (!ok || out_.fail()) throw Error(ErrorCode::Io, "cannot write output " + path_.string() + ": write failed");
  if (temp_.empty()) {  // written directly
    committed_ = true;
    return;
  }
  // The data must be on disk before the rename makes it visible, or a crash could leave an empty file.
  const int fd = ::open(temp_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const std::string why = errno_text();
    if (fd >= 0) ::close(fd);
    throw Error(ErrorCode::Io, "cannot write output " + path_.string() + ": " + why);
  }
  ::close(fd);
  if (::rename(temp_.c_str(), target_.c_str()) != 0)
    throw Error(ErrorCode::Io, "cannot write output " + path_.string() + ": " + errno_text());
  committed_ = true;
}

}  // namespace vitvk::pipeline
