#include "pipeline/enumerate.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

namespace fs = std::filesystem;

namespace vitvk::pipeline {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Walks one folder argument. Iterative (an explicit stack) so deep trees cannot exhaust the call stack.
class Walker {
 public:
  explicit Walker(std::vector<InputEntry>& out) : out_(out) {}

  void walk(const fs::path& root) {
    root_ = root;
    std::vector<fs::path> stack{root};
    while (!stack.empty()) {
      fs::path dir = std::move(stack.back());
      stack.pop_back();
      visit(dir, stack);
    }
  }

 private:
  void visit(const fs::path& dir, std::vector<fs::path>& stack) {
    // stat() follows symlinks: a link back to an ancestor has the ancestor's identity and is skipped here.
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) {
      out_.push_back({dir, "cannot read folder: " + std::error_code(errno, std::generic_category()).message()});
      return;
    }
    if (!visited_.emplace(st.st_dev, st.st_ino).second) return;

    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) {
      out_.push_back({dir, "cannot read folder: " + ec.message()});
      return;
    }
    for (const fs::directory_iterator end; it != end; it.increment(ec)) {
      if (ec) break;
      const fs::directory_entry& e = *it;
      const std::string name = e.path().filename().native();
      if (name.empty() || name.front() == '.') continue;  // hidden
      std::error_code tec;
      if (e.is_directory(tec)) {  // follows symlinks; d_type makes this free for plain entries
        stack.push_back(e.path());
      } else if (has_image_extension(e.path())) {
        fs::path rel = e.path().lexically_relative(root_);
        if (e.is_regular_file(tec) || (e.is_symlink(tec) && !e.exists(tec)))
          out_.push_back({e.path(), {}, std::move(rel)});  // a dangling link is kept so the user sees why it failed
        else
          out_.push_back({e.path(), "not a regular file", std::move(rel)});
      }
    }
    if (ec) out_.push_back({dir, "cannot read folder: " + ec.message()});
  }

  std::vector<InputEntry>& out_;
  fs::path root_;
  std::set<std::pair<dev_t, ino_t>> visited_;
};

}  // namespace

bool has_image_extension(const fs::path& path) {
  static constexpr std::array<std::string_view, 24> kExt{
      ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".tif",  ".tiff", ".webp", ".ppm", ".pgm",
      ".pbm", ".pnm",  ".pxm", ".pfm",  ".sr",  ".ras", ".jp2", ".heic", ".heif", ".hif",  ".avif", ".gif"};
  const std::string ext = lower(path.extension().native());
  return std::find(kExt.begin(), kExt.end(), ext) != kExt.end();
}

std::vector<InputEntry> enumerate_inputs(std::span<const std::string> args) {
  std::vector<InputEntry> out;
  for (const std::string& arg : args) {
    if (arg.empty()) {
      out.push_back({arg, "empty path"});
      continue;
    }
    const fs::path p(arg);
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (!fs::exists(st)) {
      out.push_back({p, ec && ec != std::errc::no_such_file_or_directory ? ec.message() : "no such file or folder"});
    } else if (fs::is_directory(st)) {
      // Sorting the whole subtree by full path gives byte order of path, as documented.
      const std::size_t first = out.size();
      Walker(out).walk(p);
      std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                [](const InputEntry& a, const InputEntry& b) { return a.path.native() < b.path.native(); });
    } else if (fs::is_regular_file(st)) {
      out.push_back({p, {}});
    } else {
      out.push_back({p, "not a regular file or folder"});
    }
  }
  return out;
}

}  // namespace vitvk::pipeline
