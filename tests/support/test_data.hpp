#pragma once
// Finding ../shared (models, photos, reference outputs) through one setting: VITVK_TEST_DATA.
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vitvk::test {

// VITVK_TEST_DATA if set, else <source dir>/../shared. nullopt when that directory does not exist.
std::optional<std::filesystem::path> shared_data_dir();

// Reports a skip: under ctest (VITVK_TEST_SKIP_EXIT=1) exits the process with 77, which ctest shows as
// "Skipped"; when the test binary is run by hand it prints a warning and the caller returns.
void skip(const std::string& reason);

// Reads a little-endian float32 file; throws when the size is not count floats (count 0: any).
std::vector<float> read_f32(const std::filesystem::path& path, std::size_t count = 0);

// A fresh empty directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace vitvk::test

// Declares `const std::filesystem::path shared` for the test, or skips it when ../shared is absent.
#define VITVK_REQUIRE_SHARED_DATA(var)                                                                  \
  const auto var##_opt = ::vitvk::test::shared_data_dir();                                               \
  if (!var##_opt) {                                                                                      \
    ::vitvk::test::skip("shared test data not found (set VITVK_TEST_DATA; default is ../shared beside " \
                        "the source tree)");                                                             \
    return;                                                                                              \
  }                                                                                                      \
  const std::filesystem::path var = *var##_opt
