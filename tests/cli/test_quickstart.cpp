// The first minute of a new user: only the repository, no ../shared, no network, no flags. The README's quick
// start is `build/vitvk classify samples/images`; these run the built CLI exactly so.
#include <catch2/catch.hpp>

#include "cli/cli_support.hpp"
#include "support/test_data.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

// A shell prefix with nothing that could point at a model: no VITVK_*, a fresh HOME and cache.
std::string clean_env(const fs::path& home) {
  return "env -u VITVK_MODEL_PATH -u XDG_CACHE_HOME VITVK_TEST_DATA=" + test::shell_quote((home / "no-shared").string()) +
         " HOME=" + test::shell_quote(home.string()) + " ";
}

std::string top1_of(const std::string& csv, const std::string& file) {
  for (const auto& row : test::parse_csv(csv))
    if (row.size() > 3 && row[0].ends_with(file)) return row[3];
  return "(no row for " + file + ")";
}

}  // namespace

TEST_CASE("quick start: build/vitvk classify samples/images names chelsea.jpg an Egyptian cat with no extra files",
          "[cli][quickstart]") {
  test::TempDir tmp;
  // As the README says it, from the checkout.
  const auto r = test::run_command("cd " + test::shell_quote(VITVK_SOURCE_DIR) + " && " + clean_env(tmp.path()) +
                                       test::shell_quote(VITVK_CLI_PATH) + " classify samples/images -f csv",
                                   tmp.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(top1_of(r.out, "chelsea.jpg") == "Egyptian cat");
  CHECK_THAT(r.err, Catch::Contains("vit_tiny_patch16_224.augreg_in21k_ft_in1k"));

  // From anywhere else (no ./models): the build tree's CLI finds the repository's model by itself.
  fs::create_directories(tmp.path() / "elsewhere");
  const auto e = test::run_command("cd " + test::shell_quote((tmp.path() / "elsewhere").string()) + " && " +
                                       clean_env(tmp.path()) + test::shell_quote(VITVK_CLI_PATH) + " classify " +
                                       test::shell_quote(std::string(VITVK_SOURCE_DIR) + "/samples/images") + " -f csv",
                                   tmp.path());
  INFO(e.err);
  REQUIRE(e.exit_code == 0);
  CHECK(top1_of(e.out, "chelsea.jpg") == "Egyptian cat");

  // `vitvk info` on the default model names its labels' source.
  const auto i = test::run_command("cd " + test::shell_quote((tmp.path() / "elsewhere").string()) + " && " +
                                       clean_env(tmp.path()) + test::shell_quote(VITVK_CLI_PATH) + " info",
                                   tmp.path());
  INFO(i.err);
  REQUIRE(i.exit_code == 0);
  CHECK_THAT(i.out, Catch::Contains("labels        config.json label_names"));
}
