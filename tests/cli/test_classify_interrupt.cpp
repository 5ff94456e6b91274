// SIGINT / SIGTERM during `vitvk classify -o FILE`: the run stops after the current batch, exits with 128 + the
// signal number, and leaves FILE exactly as it was before the run (absent, or the previous complete output) with
// no temporary file beside it. The CLI is spawned directly so the test can signal the process itself.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/cli_support.hpp"
#include "model/model.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"

extern char** environ;

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

// Spawns argv with stdout/stderr to files and SIGINT/SIGTERM at their defaults (a test runner may ignore them).
pid_t spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t dflt;
  sigemptyset(&dflt);
  sigaddset(&dflt, SIGINT);
  sigaddset(&dflt, SIGTERM);
  posix_spawnattr_setsigdefault(&attr, &dflt);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  REQUIRE(rc == 0);
  return pid;
}

std::vector<std::string> folder_names(const fs::path& d) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(d)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Starts classify into out/res.csv, waits until it has begun writing (its temporary file exists, then a little
// longer so rows are in it), sends `signo` and returns the exit status and stderr.
std::pair<int, std::string> classify_and_signal(const fs::path& root, int signo) {
  const fs::path out_dir = root / "out";
  const pid_t pid = spawn({VITVK_CLI_PATH, "classify", "-m", (root / "model").string(), (root / "imgs").string(), "-f",
                           "csv", "--logits", "--backend", "cpu", "--batch", "4", "-o", (out_dir / "res.csv").string()},
                          root / "stdout.txt", root / "stderr.txt");
  bool writing = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int status = 0;
  while (!writing && std::chrono::steady_clock::now() < deadline) {
    for (const auto& name : folder_names(out_dir)) writing |= name.starts_with(".res.csv.tmp-");
    if (::waitpid(pid, &status, WNOHANG) == pid) FAIL("classify ended before it was signalled: " << test::read_file(root / "stderr.txt"));
    std::this_thread::sleep_for(std::chrono::milliseconds(writing ? 300 : 10));
  }
  REQUIRE(writing);
  REQUIRE(::kill(pid, signo) == 0);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO("stderr: " << test::read_file(root / "stderr.txt"));
  REQUIRE(WIFEXITED(status));  // not killed by the signal: it stopped on its own
  return {WEXITSTATUS(status), test::read_file(root / "stderr.txt")};
}

}  // namespace

TEST_CASE("classify CLI: SIGINT and SIGTERM stop the run and leave --output as it was", "[cli][classify][signal]") {
  test::TempDir tmp;
  const fs::path root = tmp.path();
  // 224x224 input, dim 192 (ViT-Ti width, 2 blocks): slow enough per batch that 3000 inputs cannot finish
  // before the signal, while the run after the signal ends within one batch.
  Model::random(test::tiny_config(false, 224, 16, 192, 2, 3, 10), 9).save(root / "model");
  fs::create_directories(root / "imgs");
  fs::create_directories(root / "out");
  cv::Mat img(64, 80, CV_8UC3);
  cv::randu(img, cv::Scalar::all(0), cv::Scalar::all(255));
  REQUIRE(cv::imwrite((root / "imgs" / "img0000.png").string(), img));
  for (int i = 1; i < 3000; ++i)
    fs::create_hard_link(root / "imgs" / "img0000.png", root / "imgs" / fmt::format("img{:04}.png", i));

  SECTION("no previous output: none afterwards") {
    const auto [code, err] = classify_and_signal(root, SIGINT);
    CHECK(code == 128 + SIGINT);
    CHECK_THAT(err, Catch::Contains("stopped by signal 2") && Catch::Contains("res.csv was not written"));
    CHECK(folder_names(root / "out").empty());
  }
  SECTION("a previous output stays complete and unchanged") {
    const std::string previous = "path,error\nsome/earlier.png,\n";
    std::ofstream(root / "out" / "res.csv") << previous;
    const auto [code, err] = classify_and_signal(root, SIGINT);
    CHECK(code == 128 + SIGINT);
    CHECK(folder_names(root / "out") == std::vector<std::string>{"res.csv"});
    CHECK(test::read_file(root / "out" / "res.csv") == previous);
  }
  SECTION("SIGTERM is handled the same way") {
    const auto [code, err] = classify_and_signal(root, SIGTERM);
    CHECK(code == 128 + SIGTERM);
    CHECK_THAT(err, Catch::Contains("stopped by signal 15"));
    CHECK(folder_names(root / "out").empty());
  }
}
