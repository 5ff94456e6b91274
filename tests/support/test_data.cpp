#include "support/test_data.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>

namespace vitvk::test {

std::optional<std::filesystem::path> shared_data_dir() {
  std::filesystem::path p;
  if (const char* env = std::getenv("VITVK_TEST_DATA"); env && *env)
    p = env;
  else
    p = std::filesystem::path(VITVK_SOURCE_DIR) / ".." / "shared";
  std::error_code ec;
  if (!std::filesystem::is_directory(p, ec)) return std::nullopt;
  return std::filesystem::canonical(p, ec);
}

void skip(const std::string& reason) {
  if (const char* e = std::getenv("VITVK_TEST_SKIP_EXIT"); e && std::string(e) == "1") {
    std::printf("SKIPPED: %s\n", reason.c_str());
    std::fflush(stdout);
    std::_Exit(77);
  }
  WARN("SKIPPED: " << reason);
}

std::vector<float> read_f32(const std::filesystem::path& path, std::size_t count) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  const auto bytes = static_cast<std::size_t>(in.tellg());
  if (bytes % 4 || (count && bytes != count * 4))
    throw std::runtime_error(path.string() + ": unexpected size " + std::to_string(bytes));
  std::vector<float> v(bytes / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(bytes));
  return v;
}

TempDir::TempDir() {
  std::random_device rd;
  for (int i = 0; i < 100 && path_.empty(); ++i) {
    auto p = std::filesystem::temp_directory_path() / ("vitvk-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) path_ = p;
  }
  if (path_.empty()) throw std::runtime_error("cannot create a temp dir");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace vitvk::test
