#include "pipeline/append_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "vitvk/error.hpp"

namespace fs = std::filesystem;

namespace vitvk::pipeline {
namespace {

std::string errno_text() { return std::error_code(errno, std::generic_category()).message(); }

// Feeds the file to `on_byte` in 1 MiB pieces: a file of a million rows with logits can be gigabytes, so it is
// never held whole.
template <class F>
std::uint64_t for_each_byte(const fs::path& path, F&& on_byte) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::Io, "--resume: cannot read " + path.string());
  std::vector<char> buf(1 << 20);
  std::uint64_t offset = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    for (std::size_t i = 0; i < got; ++i)
      if (!on_byte(buf[i], offset + i)) return offset + i;
    offset += got;
  }
  if (in.bad()) throw Error(ErrorCode::Io, "--resume: read error in " + path.string());
  return offset;
}

void scan_jsonl(const fs::path& path, ExistingRows& r) {
  std::string line;
  std::uint64_t line_no = 0;
  bool torn = false;
  for_each_byte(path, [&](char c, std::uint64_t at) {
    if (c != '\n') {
      if (c == '\0') torn = true;  // a crash without fsync can leave zero-filled blocks: the tail starts here
      line += c;
      return !torn;
    }
    ++line_no;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    const auto p = j.is_object() ? j.find("path") : j.end();
    if (j.is_discarded() || !j.is_object() || p == j.end() || !p->is_string())
      throw Error(ErrorCode::Io, "--resume: " + path.string() + " line " + std::to_string(line_no) +
                                     " is not a vitvk JSONL row (no \"path\"); not appending to it");
    r.paths.insert(p->get<std::string>());
    ++r.rows;
    r.valid_bytes = at + 1;
    line.clear();
    return true;
  });
}

void scan_csv(const fs::path& path, const std::string& header, ExistingRows& r) {
  const std::size_t fields = static_cast<std::size_t>(std::count(header.begin(), header.end(), ',')) + 1;
  std::string first_record;  // the raw first record, to compare with the header
  std::string field0;        // the current record's path field, unquoted
  std::size_t field = 0;
  bool quoted = false, after_quote = false, torn = false;
  std::uint64_t record = 0;
  for_each_byte(path, [&](char c, std::uint64_t at) {
    if (c == '\0') {
      torn = true;
      return false;
    }
    if (record == 0 && c != '\n') first_record += c;
    if (quoted) {
      if (c == '"') quoted = false, after_quote = true;
      else if (field == 0) field0 += c;
      return true;
    }
    if (c == '"') {
      if (after_quote && field == 0) field0 += '"';  // "" inside a quoted field
      quoted = true;
      after_quote = false;
      return true;
    }
    after_quote = false;
    if (c == ',') {
      ++field;
      return true;
    }
    if (c != '\n') {
      if (field == 0 && c != '\r') field0 += c;
      return true;
    }
    // A complete record.
    if (record == 0) {
      if (!first_record.empty() && first_record.back() == '\r') first_record.pop_back();
      if (first_record != header)
        throw Error(ErrorCode::Io, "--resume: the header row of " + path.string() +
                                       " differs from the one this run writes (another --top-k, --logits or model?)");
      r.has_header = true;
    } else {
      if (field + 1 != fields)
        throw Error(ErrorCode::Io, "--resume: " + path.string() + " row " + std::to_string(record) + " has " +
                                       std::to_string(field + 1) + " fields, expected " + std::to_string(fields));
      r.paths.insert(field0);
      ++r.rows;
    }
    r.valid_bytes = at + 1;
    ++record;
    field0.clear();
    field = 0;
    return true;
  });
  (void)torn;
}

}  // namespace

std::string row_path_key(const fs::path& path, OutputFormat format) {
  if (format != OutputFormat::Jsonl) return path.string();
  const std::string dumped =
      nlohmann::json(path.string()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return nlohmann::json::parse(dumped).get<std::string>();
}

ExistingRows scan_output_rows(const fs::path& path, OutputFormat format, const std::string& csv_header) {
  ExistingRows r;
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (!fs::exists(st)) return r;
  if (!fs::is_regular_file(st)) throw Error(ErrorCode::Io, "--resume: " + path.string() + " is not a regular file");
  r.file_bytes = fs::file_size(path, ec);
  if (format == OutputFormat::Jsonl) scan_jsonl(path, r);
  else if (format == OutputFormat::Csv) scan_csv(path, csv_header, r);
  else throw Error(ErrorCode::InvalidArgument, "--resume needs --format csv or jsonl");
  return r;
}

AppendOutputFile::AppendOutputFile(const fs::path& path, std::uint64_t keep_bytes, std::chrono::milliseconds sync_interval)
    : path_(path), interval_(sync_interval), last_sync_(std::chrono::steady_clock::now()) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0) throw Error(ErrorCode::Io, "cannot write output " + path.string() + ": " + errno_text());
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw Error(ErrorCode::Io, "--resume: " + path.string() + " is not a regular file");
  }
  // The torn tail goes before anything is appended, and is made durable first: a crash right after must not
  // bring it back between two complete rows.
  if (static_cast<std::uint64_t>(st.st_size) > keep_bytes) {
    if (::ftruncate(fd_, static_cast<off_t>(keep_bytes)) != 0 || ::fdatasync(fd_) != 0) {
      const std::string why = errno_text();
      ::close(fd_);
      throw Error(ErrorCode::Io, "cannot cut the torn last row of " + path.string() + ": " + why);
    }
  }
  if (::lseek(fd_, static_cast<off_t>(keep_bytes), SEEK_SET) < 0) {
    const std::string why = errno_text();
    ::close(fd_);
    throw Error(ErrorCode::Io, "cannot write output " + path.string() + ": " + why);
  }
}

AppendOutputFile::~AppendOutputFile() {
  if (fd_ < 0) return;
  if (dirty_) ::fdatasync(fd_);
  ::close(fd_);
}

void AppendOutputFile::append(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::Io, "cannot write output " + path_.string() + ": " + errno_text());
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  dirty_ = true;
  if (std::chrono::steady_clock::now() - last_sync_ >= interval_) sync();
}

void AppendOutputFile::sync() {
  if (::fdatasync(fd_) != 0) throw Error(ErrorCode::Io, "cannot sync output " + path_.string() + ": " + errno_text());
  last_sync_ = std::chrono::steady_clock::now();
  dirty_ = false;
  ++syncs_;
}

}  // namespace vitvk::pipeline
