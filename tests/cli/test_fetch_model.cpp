#include <catch2/catch.hpp>

#include "cli/cli_support.hpp"
#include "model/model.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

const std::string kScript = std::string(VITVK_SOURCE_DIR) + "/scripts/fetch-model.sh";

bool have_curl() { return std::system("command -v curl >/dev/null 2>&1") == 0; }

}  // namespace

// No network here: a file:// "hub" stands in for huggingface.co (same URL layout), which exercises everything
// but HTTP itself.
TEST_CASE("fetch-model.sh installs config + weights into the user cache, whole or not at all", "[cli][fetch]") {
  if (!have_curl()) return test::skip("curl is not installed");
  test::TempDir tmp;
  const fs::path hub = tmp.path() / "hub" / "timm" / "tiny_test.v1" / "resolve" / "main";
  Model::random(test::tiny_config(), 3).save(hub);
  const std::string env = "HOME=" + test::shell_quote((tmp.path() / "home").string()) +
                          " XDG_CACHE_HOME= VITVK_HF_BASE=" + test::shell_quote("file://" + (tmp.path() / "hub").string()) + " ";
  const fs::path dest = tmp.path() / "home" / ".cache" / "vitvk" / "models" / "tiny_test.v1";

  auto r = test::run_command(env + test::shell_quote(kScript) + " tiny_test.v1", tmp.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == dest.string() + "\n");
  CHECK(test::read_file(dest / "model.safetensors") == test::read_file(hub / "model.safetensors"));
  CHECK(Model::load(dest).dims.num_classes == 10);

  // Already there: refused without --force, replaced with it; no temporary folders left behind.
  r = test::run_command(env + test::shell_quote(kScript) + " tiny_test.v1", tmp.path());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("already exists"));
  r = test::run_command(env + test::shell_quote(kScript) + " --force tiny_test.v1", tmp.path());
  CHECK(r.exit_code == 0);
  CHECK(std::distance(fs::directory_iterator(dest.parent_path()), fs::directory_iterator()) == 1);

  // A name the hub does not have: an error, and nothing installed.
  r = test::run_command(env + test::shell_quote(kScript) + " missing_model", tmp.path());
  CHECK(r.exit_code == 1);
  CHECK_FALSE(fs::exists(dest.parent_path() / "missing_model"));
  CHECK(std::distance(fs::directory_iterator(dest.parent_path()), fs::directory_iterator()) == 1);

  // Not a name: refused before anything happens.
  r = test::run_command(env + test::shell_quote(kScript) + " ../escape", tmp.path());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("not a model name"));
}

TEST_CASE("fetch-model.sh says clearly when the hub cannot be reached", "[cli][fetch]") {
  if (!have_curl()) return test::skip("curl is not installed");
  test::TempDir tmp;
  // Port 9 (discard) on loopback: connection refused at once, like being offline.
  const std::string env = "HOME=" + test::shell_quote(tmp.path().string()) + " XDG_CACHE_HOME= VITVK_HF_BASE=http://127.0.0.1:9 ";
  const auto r = test::run_command(env + test::shell_quote(kScript) + " vit_tiny_patch16_224.augreg_in21k_ft_in1k", tmp.path());
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot reach") && Catch::Contains("offline"));
  const fs::path cache = tmp.path() / ".cache" / "vitvk" / "models";
  CHECK((!fs::exists(cache) || fs::is_empty(cache)));
}
