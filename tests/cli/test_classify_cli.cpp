// End-to-end: runs the built `vitvk classify` binary (VITVK_CLI_PATH) on folders the tests make.
#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_support.hpp"
#include "model/model.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"

using namespace vitvk;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

void write_image(const fs::path& p, int w, int h) {
  fs::create_directories(p.parent_path());
  cv::Mat m(h, w, CV_8UC3);
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(255));
  REQUIRE(cv::imwrite(p.string(), m));
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A temp dir holding a random-weight tiny model (32x32 input, 10 classes) in model/.
struct Workspace {
  test::TempDir tmp;
  fs::path root = tmp.path();
  Workspace() { Model::random(test::tiny_config(), 21).save(root / "model"); }

  // Runs `vitvk <args>` inside the workspace (so paths in the output are relative), with a clean model search
  // environment.
  test::CommandResult classify(const std::string& args, const std::string& env = "") const {
    const std::string cmd = "cd " + test::shell_quote(root.string()) + " && env HOME=" +
                            test::shell_quote((root / "home").string()) + " XDG_CACHE_HOME= VITVK_MODEL_PATH= " + env +
                            " " + test::shell_quote(VITVK_CLI_PATH) + " classify " + args;
    return test::run_command(cmd, root);
  }
};

// Good and bad files side by side; returns nothing, the layout is fixed (see the expected order below).
void make_mixed_folder(const fs::path& d) {
  write_image(d / "a.png", 40, 30);
  write_image(d / "b.jpg", 64, 48);
  write_image(d / "sub" / "c.bmp", 20, 50);
  std::ofstream(d / "empty.jpg");                             // zero bytes
  std::ofstream(d / "text.png") << "this is not an image\n";  // not an image
  write_image(d / "huge.png", 120, 100);                      // 12000 px: over --max-pixels 10000
  write_image(d / "full.jpg", 96, 96);
  {
    const std::string jpg = test::read_file(d / "full.jpg");
    std::ofstream(d / "trunc.jpg", std::ios::binary).write(jpg.data(), static_cast<std::streamsize>(jpg.size() / 2));
  }
  fs::remove(d / "full.jpg");
  write_image(d / ".hidden.png", 32, 32);  // skipped
  std::ofstream(d / "notes.txt") << "x";    // skipped: not an image extension
}

const std::vector<std::string> kMixedOrder{"imgs/a.png",     "imgs/b.jpg",    "imgs/empty.jpg", "imgs/huge.png",
                                           "imgs/sub/c.bmp", "imgs/text.png", "imgs/trunc.jpg", "missing.jpg"};
const std::vector<std::string> kMixedBad{"imgs/empty.jpg", "imgs/huge.png", "imgs/text.png", "imgs/trunc.jpg",
                                         "missing.jpg"};

bool is_bad(const std::string& path) { return std::find(kMixedBad.begin(), kMixedBad.end(), path) != kMixedBad.end(); }

}  // namespace

TEST_CASE("classify CLI: mixed good and bad inputs give one JSON line each, errors named, exit code 2", "[cli][classify]") {
  Workspace ws;
  make_mixed_folder(ws.root / "imgs");
  const auto r = ws.classify("-m model imgs missing.jpg -f jsonl --max-pixels 10000 --batch 3 -j 2 -q");
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.empty());  // --quiet
  const auto lines = split_lines(r.out);
  REQUIRE(lines.size() == kMixedOrder.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i]);
    const json j = json::parse(lines[i]);
    CHECK(j["path"] == kMixedOrder[i]);
    if (is_bad(kMixedOrder[i])) {
      REQUIRE(j.contains("error"));
      CHECK_FALSE(j["error"].get<std::string>().empty());
      CHECK_FALSE(j.contains("top"));
      continue;
    }
    REQUIRE(j["top"].size() == 5);
    double sum = 0;
    for (std::size_t k = 0; k < 5; ++k) {
      const auto& t = j["top"][k];
      CHECK(t["label"] == "label " + std::to_string(t["index"].get<int>()));
      if (k) CHECK(j["top"][k - 1]["prob"].get<double>() >= t["prob"].get<double>());
      sum += t["prob"].get<double>();
    }
    CHECK(sum <= 1.0 + 1e-5);
  }
  CHECK_THAT(json::parse(lines[2])["error"].get<std::string>(), Catch::Contains("empty"));
  CHECK_THAT(json::parse(lines[3])["error"].get<std::string>(), Catch::Contains("pixels"));
  CHECK_THAT(json::parse(lines[6])["error"].get<std::string>(), Catch::Contains("truncated"));
  CHECK_THAT(json::parse(lines[7])["error"].get<std::string>(), Catch::Contains("no such file"));

  // The same run as a table: a line per rank, errors named, and the summary on stderr without --quiet.
  const auto t = ws.classify("-m model imgs missing.jpg --max-pixels 10000");
  CHECK(t.exit_code == 2);
  const auto rows = split_lines(t.out);
  CHECK(rows.size() == 1 + 3 * 5 + kMixedBad.size());
  for (const auto& bad : kMixedBad) {
    const bool found = std::any_of(rows.begin(), rows.end(), [&](const std::string& row) {
      return row.rfind(bad, 0) == 0 && row.find("error: ") != std::string::npos;
    });
    CHECK(found);
  }
  CHECK_THAT(t.err, Catch::Contains("3 classified, 5 failed"));
  CHECK(t.err.find('\r') == std::string::npos);  // no progress bar when stderr is not a terminal
}

TEST_CASE("classify CLI: CSV quotes paths with commas, quotes and newlines", "[cli][classify]") {
  Workspace ws;
  for (const char* name : {"a,b.png", "say \"hi\".png", "line\nbreak.png", "plain.png"}) write_image(ws.root / "q" / name, 32, 32);
  const auto r = ws.classify("-m model q -f csv -k 3 -q");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  const auto rows = test::parse_csv(r.out);
  REQUIRE(rows.size() == 5);
  CHECK(rows[0] == std::vector<std::string>{"path", "error", "top1_index", "top1_label", "top1_prob", "top2_index",
                                            "top2_label", "top2_prob", "top3_index", "top3_label", "top3_prob"});
  const std::vector<std::string> paths{"q/a,b.png", "q/line\nbreak.png", "q/plain.png", "q/say \"hi\".png"};
  for (std::size_t i = 0; i < paths.size(); ++i) {
    REQUIRE(rows[i + 1].size() == 11);
    CHECK(rows[i + 1][0] == paths[i]);
    CHECK(rows[i + 1][1].empty());
    CHECK(rows[i + 1][3] == "label " + rows[i + 1][2]);
    CHECK(std::stod(rows[i + 1][4]) >= std::stod(rows[i + 1][7]));
  }
}

TEST_CASE("classify CLI: --output writes the same rows atomically and nothing to stdout", "[cli][classify]") {
  Workspace ws;
  make_mixed_folder(ws.root / "imgs");
  fs::create_directory(ws.root / "out");
  std::ofstream(ws.root / "out" / "res.csv") << "previous content\n";
  const auto to_stdout = ws.classify("-m model imgs -f csv --logits -q");
  const auto to_file = ws.classify("-m model imgs -f csv --logits -q -o out/res.csv");
  CHECK(to_file.exit_code == 2);
  CHECK(to_file.out.empty());
  CHECK(test::read_file(ws.root / "out" / "res.csv") == to_stdout.out);
  CHECK(test::parse_csv(to_stdout.out).size() == 1 + 7);
  // Only the result is left in the folder: the temporary file was renamed, not copied.
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(ws.root / "out")) left.push_back(e.path().filename().string());
  CHECK(left == std::vector<std::string>{"res.csv"});

  // A folder that does not exist: a fatal error (exit 1) naming the file.
  const auto bad = ws.classify("-m model imgs -q -o no/such/dir/res.csv");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("no/such/dir/res.csv"));
}

TEST_CASE("classify CLI: --logits adds raw logits whose softmax gives the probabilities", "[cli][classify]") {
  Workspace ws;
  write_image(ws.root / "one.png", 50, 40);
  write_image(ws.root / "two.jpg", 31, 33);
  const auto r = ws.classify("-m model one.png two.jpg -f jsonl --logits -k 10 -q");
  CHECK(r.exit_code == 0);
  const auto lines = split_lines(r.out);
  REQUIRE(lines.size() == 2);
  for (const auto& line : lines) {
    const json j = json::parse(line);
    const auto logits = j["logits"].get<std::vector<double>>();
    REQUIRE(logits.size() == 10);
    const double mx = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (double v : logits) z += std::exp(v - mx);
    REQUIRE(j["top"].size() == 10);
    for (const auto& t : j["top"])
      CHECK(t["prob"].get<double>() == Approx(std::exp(logits[t["index"].get<std::size_t>()] - mx) / z).margin(1e-6));
  }
}

TEST_CASE("classify CLI: a missing model is a fatal error (exit 1) that lists where it looked", "[cli][classify]") {
  Workspace ws;
  write_image(ws.root / "x.png", 32, 32);
  const std::string mp = (ws.root / "mp1").string() + ":" + (ws.root / "mp2").string();
  const auto r = ws.classify("-m no_such_model x.png -o res.jsonl", "VITVK_MODEL_PATH=" + test::shell_quote(mp));
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("no_such_model") && Catch::Contains("not found") &&
                        Catch::Contains((ws.root / "mp1").string()) && Catch::Contains((ws.root / "mp2").string()) &&
                        Catch::Contains((ws.root / "home" / ".cache" / "vitvk" / "models").string()));
  CHECK_FALSE(fs::exists(ws.root / "res.jsonl"));
  // The default model ships in the repository: found from the build tree with nothing else set up.
  const auto d = ws.classify("x.png");
  CHECK(d.exit_code == 0);
  CHECK_THAT(d.err, Catch::Contains("vit_tiny_patch16_224.augreg_in21k_ft_in1k"));
  // A name found on VITVK_MODEL_PATH works.
  const auto ok = ws.classify("-m model x.png -q", "VITVK_MODEL_PATH=" + test::shell_quote(ws.root.string()));
  CHECK(ok.exit_code == 0);
}

TEST_CASE("classify CLI: usage errors exit with 1", "[cli][classify]") {
  Workspace ws;
  write_image(ws.root / "x.png", 32, 32);
  for (const char* args : {"-m model", "-m model x.png -k 0", "-m model x.png --batch 0", "-m model x.png -f xml",
                           "-m model x.png --backend metal", "-m model x.png --max-pixels lots", "-m model x.png --nope"}) {
    INFO(args);
    CHECK(ws.classify(args).exit_code == 1);
  }
}

TEST_CASE("classify CLI: progress bar on a terminal's stderr only", "[cli][classify]") {
  if (std::system("command -v script >/dev/null 2>&1") != 0) return test::skip("`script` (util-linux) is not installed");
  Workspace ws;
  for (int i = 0; i < 5; ++i) write_image(ws.root / "p" / ("i" + std::to_string(i) + ".png"), 32, 32);
  // script(1) gives the command a pseudo-terminal; stdout goes to a file so only stderr is on the terminal.
  const std::string inner = test::shell_quote(VITVK_CLI_PATH) + " classify -m model p -o res.csv -f csv";
  const std::string cmd = "cd " + test::shell_quote(ws.root.string()) + " && script -qec " + test::shell_quote(inner) +
                          " /dev/null";
  const auto r = test::run_command(cmd, ws.root);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("5/5") && Catch::Contains("img/s") && Catch::Contains("\r"));
  CHECK(test::parse_csv(test::read_file(ws.root / "res.csv")).size() == 6);
  const std::string quiet = test::shell_quote(VITVK_CLI_PATH) + " classify -m model p -o res.csv -q";
  const auto q = test::run_command("cd " + test::shell_quote(ws.root.string()) + " && script -qec " +
                                       test::shell_quote(quiet) + " /dev/null",
                                   ws.root);
  CHECK(q.exit_code == 0);
  CHECK(q.out.find("img/s") == std::string::npos);
}

TEST_CASE("classify CLI: the real ViT-Ti model names three shared photos correctly", "[cli][classify][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  const fs::path photos = shared / "data" / "imagenet-sample-images";
  std::map<std::string, int> labels;
  {
    std::ifstream in(photos / "LABELS.txt");
    std::string file;
    int index = 0;
    while (in >> file >> index) labels[file] = index;
  }
  const std::vector<std::string> files{"n01440764_tench.JPEG", "n01622779_great_grey_owl.JPEG",
                                       "n02056570_king_penguin.JPEG"};
  test::TempDir tmp;
  std::string args;
  for (const auto& f : files) args += " " + test::shell_quote((photos / f).string());
  // No -m: the default model name, found through VITVK_MODEL_PATH.
  const std::string cmd = "env VITVK_MODEL_PATH=" + test::shell_quote((shared / "models").string()) + " " +
                          test::shell_quote(VITVK_CLI_PATH) + " classify -f jsonl -b cpu -q" + args;
  const auto r = test::run_command(cmd, tmp.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = split_lines(r.out);
  REQUIRE(lines.size() == files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    const json j = json::parse(lines[i]);
    INFO(lines[i]);
    CHECK(j["path"] == (photos / files[i]).string());
    REQUIRE(labels.count(files[i]));
    CHECK(j["top"][0]["index"] == labels[files[i]]);
    CHECK(j["top"][0]["prob"].get<double>() > 0.5);
  }
  CHECK(json::parse(lines[0])["top"][0]["label"] == "tench");
}
