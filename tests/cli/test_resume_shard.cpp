// Big-job machinery, end to end through the built CLI: --resume after SIGKILL at random moments, torn last rows,
// --shard K/N, --files-from (newline, NUL, stdin), and `vitvk embed` (JSONL, .npy + paths file).
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
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cli/cli_support.hpp"
#include "model/model.hpp"
#include "pipeline/input_list.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/error.hpp"

extern char** environ;

using namespace vitvk;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A temp dir with the tiny random model in model/ and `count` photos in imgs/ (8 distinct images, hard-linked).
struct Job {
  test::TempDir tmp;
  fs::path root = tmp.path();
  explicit Job(int count) {
    Model::random(test::tiny_config(), 5).save(root / "model");
    fs::create_directories(root / "imgs");
    for (int i = 0; i < count; ++i) {
      const fs::path p = root / "imgs" / fmt::format("p{:05}.png", i);
      if (i < 8) {
        cv::Mat m(24 + i, 40, CV_8UC3);
        cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(255));
        REQUIRE(cv::imwrite(p.string(), m));
      } else {
        fs::create_hard_link(root / "imgs" / fmt::format("p{:05}.png", i % 8), p);
      }
    }
  }
  std::vector<std::string> argv(const std::string& cmd, const std::vector<std::string>& extra) const {
    std::vector<std::string> a{VITVK_CLI_PATH, cmd, "-m", (root / "model").string(), "--backend", "cpu", "-q"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  test::CommandResult run(const std::string& cmd, const std::vector<std::string>& extra, const std::string& pre = "") const {
    // Appended piece by piece: GCC 12 warns (-Wstringop-overflow, a false positive) on "literal" + std::string&& here.
    std::string line = "cd ";
    line += test::shell_quote(root.string());
    (line += " && ") += pre;
    for (const auto& a : argv(cmd, extra)) (line += ' ') += test::shell_quote(a);
    return test::run_command(line, root);
  }
};

pid_t spawn(const std::vector<std::string>& args, const fs::path& cwd, const fs::path& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  return pid;
}

// Runs to completion; returns the wall time in seconds.
double run_timed(const Job& job, const std::vector<std::string>& args) {
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = spawn(args, job.root, job.root / "err.txt");
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO(test::read_file(job.root / "err.txt"));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// When to SIGKILL a run: after a wall-clock delay, or once `file` has reached `bytes` bytes (whichever is given).
struct KillAt {
  std::chrono::microseconds delay{0};
  fs::path file;
  std::uintmax_t bytes = 0;
};

// Spawns the run and SIGKILLs it at `at`, or lets it end first. Returns true when it was killed.
bool run_and_kill(const Job& job, const std::vector<std::string>& args, const KillAt& at) {
  const pid_t pid = spawn(args, job.root, job.root / "err.txt");
  const auto deadline = std::chrono::steady_clock::now() + at.delay;
  auto due = [&] {
    if (at.file.empty()) return std::chrono::steady_clock::now() >= deadline;
    std::error_code ec;
    const auto size = fs::file_size(at.file, ec);
    return !ec && size >= at.bytes;
  };
  int status = 0;
  while (!due()) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ::kill(pid, SIGKILL);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFSIGNALED(status);
}

}  // namespace

TEST_CASE("resume: SIGKILL at random moments, then --resume, gives the uninterrupted output exactly",
          "[cli][resume]") {
  Job job(400);
  for (const std::string format : {"jsonl", "csv"}) {
    INFO("format " << format);
    const std::string ref = "ref." + format, out = "out." + format;
    // --batch 1: every row comes from a batch of one image, so its numbers cannot depend on where a run resumed.
    const std::vector<std::string> common{"imgs", "-f", format, "--batch", "1", "--logits"};
    auto with = [&](std::vector<std::string> a, std::vector<std::string> more) {
      a.insert(a.end(), more.begin(), more.end());
      return job.argv("classify", a);
    };
    const double t = run_timed(job, with(common, {"-o", ref}));
    const std::string expected = test::read_file(job.root / ref);
    REQUIRE(lines_of(expected).size() == 400 + (format == "csv" ? 1 : 0));

    // Two kinds of moment. Kills by time land early in the run (start-up, model load, the first rows). Kills by
    // progress land while rows are being written: once the output has grown by a random share of what is still
    // missing. The progress kills do not depend on the machine's speed. Kills drawn over the run's time alone once
    // all came after the run had ended: CI timed a 1.95 s run in a slow spell, and the runs then took ~0.3 s.
    std::mt19937 rng(format == "csv" ? 7 : 3);
    std::uniform_real_distribution<double> early(0.0, 0.3 * t), share(0.05, 0.6);
    int kills = 0, progress_kills = 0, torn = 0;
    for (int round = 0; round < 6; ++round) {
      KillAt at;
      const bool by_progress = round % 3 != 0;
      if (by_progress) {
        std::error_code ec;
        const std::uintmax_t size = fs::file_size(job.root / out, ec), have = ec ? 0 : size;
        const double missing = static_cast<double>(expected.size() - std::min<std::uintmax_t>(have, expected.size()));
        at.file = job.root / out;
        at.bytes = have + 1 + static_cast<std::uintmax_t>(share(rng) * missing);
      } else {
        at.delay = std::chrono::microseconds(static_cast<long>(early(rng) * 1e6));
      }
      if (run_and_kill(job, with(common, {"-o", out, "--resume"}), at)) {
        ++kills;
        if (by_progress) ++progress_kills;
      }
      const std::string now = test::read_file(job.root / out);
      if (!now.empty() && now.back() != '\n') ++torn;
      // Whatever the moment, every complete line is a whole row and no path appears twice.
      std::set<std::string> seen;
      for (const auto& l : lines_of(now)) {
        if (&l == &lines_of(now).back() && now.back() != '\n') break;
        if (format == "jsonl") {
          const auto j = json::parse(l, nullptr, false);
          if (j.is_discarded()) continue;  // only the torn last line may fail
          CHECK(seen.insert(j["path"].get<std::string>()).second);
        }
      }
    }
    // Make sure at least one torn tail gets repaired, whatever the kills produced.
    std::ofstream(job.root / out, std::ios::app | std::ios::binary) << (format == "csv" ? "imgs/p0059" : "{\"path\": \"imgs/p00");
    const auto fin = job.run("classify", [&] { auto a = common; a.insert(a.end(), {"-o", out, "--resume"}); return a; }(),
                             "");
    INFO(fin.err);
    REQUIRE(fin.exit_code == 0);
    CHECK(test::read_file(job.root / out) == expected);
    WARN(format << ": " << kills << " of 6 runs killed (" << progress_kills << " of 4 by progress), " << torn
                << " left a torn last row; full run " << t << " s");
    CHECK(progress_kills >= 1);
    // Resuming a complete file does nothing and changes nothing.
    const auto again = job.run("classify", [&] { auto a = common; a.insert(a.end(), {"-o", out, "--resume"}); return a; }());
    CHECK(again.exit_code == 0);
    CHECK(test::read_file(job.root / out) == expected);
  }
}

TEST_CASE("resume: usage and foreign files are refused clearly", "[cli][resume]") {
  Job job(3);
  auto r = job.run("classify", {"imgs", "--resume"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("--resume") && Catch::Contains("-o FILE"));
  r = job.run("classify", {"imgs", "--resume", "-o", "t.txt"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("csv") && Catch::Contains("jsonl"));
  std::ofstream(job.root / "notours.jsonl") << "{\"a\": 1}\n";
  r = job.run("classify", {"imgs", "--resume", "-f", "jsonl", "-o", "notours.jsonl"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("notours.jsonl line 1"));
  CHECK(test::read_file(job.root / "notours.jsonl") == "{\"a\": 1}\n");
  // A CSV written with other columns (another -k) is not appended to.
  REQUIRE(job.run("classify", {"imgs", "-f", "csv", "-k", "2", "-o", "k2.csv"}).exit_code == 0);
  r = job.run("classify", {"imgs", "--resume", "-f", "csv", "-k", "3", "-o", "k2.csv"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("header"));
}

TEST_CASE("shard: parts for N = 1, 3, 7 are disjoint, cover every input once, and concatenate to the full run",
          "[cli][shard]") {
  // The split itself, on a list with duplicates and unsorted order.
  std::vector<pipeline::InputEntry> list;
  for (int i = 0; i < 50; ++i) list.push_back({fmt::format("d/{:03}", (i * 37) % 50), {}});
  for (std::size_t n : {1u, 3u, 7u, 50u, 64u}) {
    std::vector<std::string> all;
    for (std::size_t k = 0; k < n; ++k)
      for (const auto& e : pipeline::select_shard(list, {k, n})) all.push_back(e.path.string());
    REQUIRE(all.size() == 50);
    CHECK(std::is_sorted(all.begin(), all.end()));
    CHECK(std::set<std::string>(all.begin(), all.end()).size() == 50);
  }
  CHECK_THROWS_AS(pipeline::parse_shard("3/3"), Error);
  CHECK_THROWS_AS(pipeline::parse_shard("-1/3"), Error);
  CHECK_THROWS_AS(pipeline::parse_shard("1/0"), Error);
  CHECK_THROWS_AS(pipeline::parse_shard("1"), Error);
  CHECK_THROWS_AS(pipeline::parse_shard("1/3x"), Error);
  CHECK(pipeline::parse_shard("2/7").index == 2);

  Job job(40);
  const auto full = job.run("classify", {"imgs", "-f", "csv", "--batch", "1"});
  REQUIRE(full.exit_code == 0);
  const auto full_rows = lines_of(full.out);
  for (int n : {1, 3, 7}) {
    std::vector<std::string> joined{full_rows.front()};
    for (int k = 0; k < n; ++k) {
      const auto part = job.run("classify", {"imgs", "-f", "csv", "--batch", "1", "--shard", fmt::format("{}/{}", k, n)});
      REQUIRE(part.exit_code == 0);
      auto rows = lines_of(part.out);
      REQUIRE(!rows.empty());
      CHECK(rows.front() == full_rows.front());
      joined.insert(joined.end(), rows.begin() + 1, rows.end());
    }
    CHECK(joined == full_rows);
  }
  const auto bad = job.run("classify", {"imgs", "--shard", "7/7"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("--shard") && Catch::Contains("7/7"));
}

TEST_CASE("files-from: a list file, NUL-separated, and standard input", "[cli][files-from]") {
  Job job(5);
  std::ofstream(job.root / "list.txt") << "imgs/p00003.png\n\nimgs/p00001.png\nmissing.png\n";
  const auto r = job.run("classify", {"--files-from", "list.txt", "-f", "jsonl"});
  CHECK(r.exit_code == 2);  // the missing file is a row with an error
  const auto rows = lines_of(r.out);
  REQUIRE(rows.size() == 3);
  CHECK(json::parse(rows[0])["path"] == "imgs/p00003.png");
  CHECK(json::parse(rows[1])["path"] == "imgs/p00001.png");
  CHECK(json::parse(rows[2])["path"] == "missing.png");
  CHECK(json::parse(rows[2]).contains("error"));

  {
    std::ofstream z(job.root / "list0", std::ios::binary);
    z << std::string("imgs/p00004.png\0imgs\0", 21);
  }
  const auto z = job.run("classify", {"--files-from", "list0", "-0", "-f", "jsonl"});
  CHECK(z.exit_code == 0);
  CHECK(lines_of(z.out).size() == 6);  // one file, then the folder's five

  // Through sh -c: run_command gives the outer command /dev/null as stdin; the pipe inside feeds the CLI.
  std::string inner = "cd ";  // appended piece by piece, as in Job::run
  inner += test::shell_quote(job.root.string());
  inner += " && printf 'imgs/p00002.png\\n' |";
  for (const auto& a : job.argv("classify", {"--files-from", "-", "-f", "jsonl"})) (inner += ' ') += test::shell_quote(a);
  const auto s = test::run_command("sh -c " + test::shell_quote(inner), job.root);
  CHECK(s.exit_code == 0);
  CHECK(lines_of(s.out).size() == 1);

  const auto none = job.run("classify", {"-f", "jsonl"});
  CHECK(none.exit_code == 1);
  CHECK_THAT(none.err, Catch::Contains("--files-from"));
}

TEST_CASE("embed: JSONL and .npy + paths file hold the same vectors, one row per image", "[cli][embed]") {
  Job job(6);
  std::ofstream(job.root / "imgs" / "bad.png") << "not a png";
  const auto j = job.run("embed", {"imgs", "-o", "e.jsonl"});
  CHECK(j.exit_code == 2);
  const auto rows = lines_of(test::read_file(job.root / "e.jsonl"));
  REQUIRE(rows.size() == 7);
  std::map<std::string, std::vector<float>> by_path;
  for (const auto& l : rows) {
    const auto o = json::parse(l);
    if (o["path"] == "imgs/bad.png") {
      CHECK(o.contains("error"));
      continue;
    }
    REQUIRE(o["embedding"].size() == 24);
    by_path[o["path"]] = o["embedding"].get<std::vector<float>>();
  }
  REQUIRE(by_path.size() == 6);

  const auto n = job.run("embed", {"imgs", "-o", "e.npy"});
  CHECK(n.exit_code == 2);
  CHECK_THAT(n.err, Catch::Contains("bad.png"));
  const std::string npy = test::read_file(job.root / "e.npy");
  REQUIRE(npy.size() == 128 + 6 * 24 * 4);
  CHECK(npy.compare(0, 6, "\x93NUMPY") == 0);
  CHECK_THAT(npy.substr(10, 118), Catch::Contains("'descr': '<f4'") && Catch::Contains("'shape': (6, 24)"));
  const auto names = lines_of(test::read_file(job.root / "e.paths.txt"));
  REQUIRE(names.size() == 6);
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::vector<float> v(24);
    std::memcpy(v.data(), npy.data() + 128 + i * 24 * 4, 24 * 4);
    REQUIRE(by_path.count(names[i]));
    for (int d = 0; d < 24; ++d) CHECK(v[d] == Approx(by_path[names[i]][d]).margin(1e-6));
  }
  // Distinct images, distinct embeddings.
  CHECK(by_path["imgs/p00000.png"] != by_path["imgs/p00001.png"]);
  // --resume on JSONL skips what is there.
  fs::remove(job.root / "imgs" / "bad.png");
  const auto res = job.run("embed", {"imgs", "-o", "e.jsonl", "--resume"});
  CHECK(res.exit_code == 0);
  CHECK(lines_of(test::read_file(job.root / "e.jsonl")).size() == 7);
  CHECK(job.run("embed", {"imgs", "-o", "e.npy", "--resume"}).exit_code == 1);
}
