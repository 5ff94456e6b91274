// Under ctest (VITVK_TEST_SKIP_EXIT=1), a test registered for a second Vulkan driver (VK_DRIVER_FILES, see
// tests/CMakeLists.txt) is reported skipped, not failed, where that driver's ICD file is not installed.
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // TestEventListenerBase outside the main translation unit
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "support/test_data.hpp"

namespace {

struct DriverFilesCheck : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(const Catch::TestCaseInfo&) override {
    const char* files = std::getenv("VK_DRIVER_FILES");
    if (!files || !*files) return;
    std::stringstream list(files);
    for (std::string f; std::getline(list, f, ':');) {
      std::error_code ec;
      if (!f.empty() && !std::filesystem::exists(f, ec))
        vitvk::test::skip("Vulkan driver file " + f + " (VK_DRIVER_FILES) is not installed");
    }
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(DriverFilesCheck)
