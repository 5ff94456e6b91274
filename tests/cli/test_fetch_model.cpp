#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

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

namespace {

// tests/cli/hub_server.py on an ephemeral 127.0.0.1 port, killed by the destructor.
struct LocalHub {
  pid_t pid = -1;
  int port = 0;
  LocalHub(const fs::path& root, const fs::path& scratch, const std::string& cut = "") {
    const fs::path port_file = scratch / "hub.port";
    const std::string cmd = "/usr/bin/python3 " + test::shell_quote(std::string(VITVK_SOURCE_DIR) + "/tests/cli/hub_server.py") +
                            " " + test::shell_quote(root.string()) + " " + test::shell_quote(port_file.string()) +
                            (cut.empty() ? std::string() : " --cut " + cut) + " >/dev/null 2>&1 & echo $!";
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p);
    REQUIRE(std::fscanf(p, "%d", &pid) == 1);
    ::pclose(p);
    for (int i = 0; i < 200 && !fs::exists(port_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    REQUIRE(fs::exists(port_file));
    port = std::stoi(test::read_file(port_file));
  }
  ~LocalHub() {
    if (pid > 0) ::kill(pid, SIGTERM);
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }
};

}  // namespace

TEST_CASE("fetch-model.sh over HTTP from a local hub: the model arrives whole, an interrupted transfer leaves none",
          "[cli][fetch]") {
  if (!have_curl()) return test::skip("curl is not installed");
  if (!fs::exists("/usr/bin/python3")) return test::skip("/usr/bin/python3 is not installed");
  test::TempDir tmp;
  const fs::path root = tmp.path() / "hub";
  // A hub-style checkpoint: 1000 classes and no label_names in config.json, as timm/<name> repositories ship.
  auto cfg = test::tiny_config(false, 32, 8, 24, 1, 2, 1000);
  cfg.labels.clear();
  Model::random(cfg, 4).save(root / "timm" / "tiny_hub.augreg_in21k_ft_in1k" / "resolve" / "main");
  const fs::path cache = tmp.path() / "home" / ".cache" / "vitvk" / "models";
  const auto env = [&](const LocalHub& hub) {
    return "HOME=" + test::shell_quote((tmp.path() / "home").string()) + " XDG_CACHE_HOME= VITVK_HF_BASE=" + hub.base() + " ";
  };
  {
    const LocalHub cut(root, tmp.path(), "model.safetensors");
    const auto r = test::run_command(env(cut) + test::shell_quote(kScript) + " tiny_hub.augreg_in21k_ft_in1k", tmp.path());
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("interrupted"));
    CHECK((!fs::exists(cache) || fs::is_empty(cache)));  // no half model, no temporary folder
  }
  fs::remove(tmp.path() / "hub.port");
  const LocalHub hub(root, tmp.path());
  const auto r = test::run_command(env(hub) + test::shell_quote(kScript) + " tiny_hub.augreg_in21k_ft_in1k", tmp.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const fs::path dest = cache / "tiny_hub.augreg_in21k_ft_in1k";
  CHECK(r.out == dest.string() + "\n");
  // Found by name afterwards, and named with the ImageNet-1k label set although its config has no names.
  const auto c = test::run_command("HOME=" + test::shell_quote((tmp.path() / "home").string()) + " XDG_CACHE_HOME= " +
                                       test::shell_quote(VITVK_CLI_PATH) + " info -m tiny_hub.augreg_in21k_ft_in1k",
                                   tmp.path());
  INFO(c.err);
  CHECK(c.exit_code == 0);
  CHECK_THAT(c.out, Catch::Contains("imagenet-1k (built in; 1000 classes, tag 'augreg_in21k_ft_in1k')"));
  CHECK(Model::load(dest).labels[285] == "Egyptian cat");
}
