#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <fstream>
#include <latch>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_support.hpp"
#include "pipeline/output_file.hpp"
#include "pipeline/result_writer.hpp"
#include "pipeline/topk.hpp"
#include "pipeline/worker_pool.hpp"
#include "support/test_data.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

pipeline::ClassifyResult good(std::string path, std::vector<pipeline::ScoredClass> top, std::vector<float> logits = {}) {
  pipeline::ClassifyResult r;
  r.path = std::move(path);
  r.top = std::move(top);
  r.logits = std::move(logits);
  return r;
}

pipeline::ClassifyResult bad(std::string path, std::string error) {
  pipeline::ClassifyResult r;
  r.path = std::move(path);
  r.error = std::move(error);
  return r;
}

const std::vector<std::string> kLabels{"tench", "goldfish, Carassius auratus", "say \"cheese\""};

}  // namespace

TEST_CASE("top_k orders by probability, breaks ties by index and ranks NaN last", "[pipeline][topk]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> p{0.1f, 0.4f, nan, 0.4f, 0.05f};
  const auto t = pipeline::top_k(p, 5);
  REQUIRE(t.size() == 5);
  CHECK(t[0].index == 1);
  CHECK(t[1].index == 3);
  CHECK(t[2].index == 0);
  CHECK(t[3].index == 4);
  CHECK(t[4].index == 2);
  CHECK(pipeline::top_k(p, 2).size() == 2);
  CHECK(pipeline::top_k(p, 99).size() == 5);
  CHECK(pipeline::top_k(p, 0).empty());
}

TEST_CASE("softmax of logits sums to one and keeps the order", "[pipeline][topk]") {
  const std::vector<float> logits{2.f, -1.f, 0.5f, 30.f};
  const auto p = pipeline::softmax(logits);
  REQUIRE(p.size() == 4);
  double sum = 0;
  for (float v : p) sum += v;
  CHECK(sum == Approx(1.0).epsilon(1e-6));
  CHECK(p[0] / p[2] == Approx(std::exp(1.5)).epsilon(1e-5));
  CHECK(pipeline::top_k(p, 1)[0].index == 3);
}

TEST_CASE("csv_field quotes commas, quotes and line breaks as RFC 4180 says", "[pipeline][writer]") {
  CHECK(pipeline::csv_field("plain.jpg") == "plain.jpg");
  CHECK(pipeline::csv_field("a,b.jpg") == "\"a,b.jpg\"");
  CHECK(pipeline::csv_field("say \"hi\".jpg") == "\"say \"\"hi\"\".jpg\"");
  CHECK(pipeline::csv_field("two\nlines") == "\"two\nlines\"");
  CHECK(pipeline::csv_field("") == "");
}

TEST_CASE("JSON Lines writer: one parseable object per result with the documented fields", "[pipeline][writer]") {
  std::ostringstream out;
  auto w = pipeline::make_result_writer(pipeline::OutputFormat::Jsonl, out, kLabels, {});
  w->write(good("dir/a \"b\".jpg", {{1, 0.91f}, {0, 0.05f}}));
  w->write(bad("x.jpg", "not an image"));
  w->write(good("y.jpg", {{2, 1.f}}, {0.5f, -1.25f, 3.f}));
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 3);
  const auto a = nlohmann::json::parse(lines[0]);
  CHECK(a["path"] == "dir/a \"b\".jpg");
  REQUIRE(a["top"].size() == 2);
  CHECK(a["top"][0]["index"] == 1);
  CHECK(a["top"][0]["label"] == "goldfish, Carassius auratus");
  CHECK(a["top"][0]["prob"].get<double>() == 0.91);  // shortest fp32 decimal, not 0.910000026...
  CHECK_FALSE(a.contains("error"));
  CHECK_FALSE(a.contains("logits"));
  CHECK_THAT(lines[0], Catch::Contains("\"prob\":0.91,") || Catch::Contains("\"prob\":0.91}"));
  const auto b = nlohmann::json::parse(lines[1]);
  CHECK(b == nlohmann::json{{"path", "x.jpg"}, {"error", "not an image"}});
  const auto c = nlohmann::json::parse(lines[2]);
  CHECK(c["logits"] == nlohmann::json::array({0.5, -1.25, 3.0}));
}

TEST_CASE("CSV writer: header, one row per result, quoted fields round-trip", "[pipeline][writer]") {
  std::ostringstream out;
  pipeline::WriterOptions o;
  o.top_k = 2;
  o.logits = true;
  auto w = pipeline::make_result_writer(pipeline::OutputFormat::Csv, out, kLabels, o);
  w->write(good("we,ird \"name\"\n.jpg", {{2, 0.75f}, {1, 0.125f}}, {1.f, 2.f, 3.5f}));
  w->write(bad("b.jpg", "truncated, or \"corrupt\""));
  const auto rows = test::parse_csv(out.str());
  REQUIRE(rows.size() == 3);
  CHECK(rows[0] == std::vector<std::string>{"path", "error", "top1_index", "top1_label", "top1_prob", "top2_index",
                                            "top2_label", "top2_prob", "logit_0", "logit_1", "logit_2"});
  CHECK(rows[1] == std::vector<std::string>{"we,ird \"name\"\n.jpg", "", "2", "say \"cheese\"", "0.75", "1",
                                            "goldfish, Carassius auratus", "0.125", "1", "2", "3.5"});
  CHECK(rows[2] == std::vector<std::string>{"b.jpg", "truncated, or \"corrupt\"", "", "", "", "", "", "", "", "", ""});
}

TEST_CASE("table writer aligns columns and shows errors", "[pipeline][writer]") {
  std::ostringstream out;
  pipeline::WriterOptions o;
  o.path_width = 12;
  auto w = pipeline::make_result_writer(pipeline::OutputFormat::Table, out, kLabels, o);
  w->write(good("short.jpg", {{1, 0.5f}, {0, 0.25f}}));
  w->write(good("twelve__.jpg", {{2, 0.875f}}));
  w->write(bad("bad.jpg", "not an image"));
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 5);
  const auto col = lines[0].find("rank");
  REQUIRE(col != std::string::npos);
  // Rank numbers are right-aligned under the header "rank".
  for (int i : {1, 2, 3}) CHECK(lines[i].substr(col, 4).find_first_not_of(' ') != std::string::npos);
  CHECK(lines[1].rfind("short.jpg", 0) == 0);
  CHECK(lines[2].substr(0, col).find_first_not_of(' ') == std::string::npos);  // rank 2: no path repeated
  CHECK_THAT(lines[1], Catch::EndsWith("0.5000  goldfish, Carassius auratus"));
  CHECK(lines[3].rfind("twelve__.jpg", 0) == 0);
  CHECK_THAT(lines[4], Catch::StartsWith("bad.jpg") && Catch::EndsWith("error: not an image"));
}

TEST_CASE("parse_output_format accepts the three formats only", "[pipeline][writer]") {
  CHECK(pipeline::parse_output_format("csv") == pipeline::OutputFormat::Csv);
  CHECK(pipeline::parse_output_format("jsonl") == pipeline::OutputFormat::Jsonl);
  CHECK(pipeline::parse_output_format("table") == pipeline::OutputFormat::Table);
  CHECK_THROWS_AS(pipeline::parse_output_format("json"), Error);
}

TEST_CASE("AtomicOutputFile shows the target only complete, and leaves it untouched without commit", "[pipeline][output]") {
  test::TempDir tmp;
  const fs::path target = tmp.path() / "out.csv";
  std::ofstream(target) << "old";
  {
    pipeline::AtomicOutputFile f(target);
    f.stream() << "new content\n";
    f.stream().flush();
    CHECK(fs::exists(f.temp_path()));
    CHECK(f.temp_path().parent_path() == tmp.path());
    CHECK(slurp(target) == "old");
    // destroyed without commit: a failed run
  }
  CHECK(slurp(target) == "old");
  CHECK(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()) == 1);
  {
    pipeline::AtomicOutputFile f(target);
    f.stream() << "new content\n";
    f.commit();
  }
  CHECK(slurp(target) == "new content\n");
  CHECK(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()) == 1);
  CHECK_THROWS_AS(pipeline::AtomicOutputFile(tmp.path() / "no" / "such" / "dir.csv"), Error);
}

TEST_CASE("WorkerPool runs every task, and its destructor drops queued work without hanging", "[pipeline][pool]") {
  std::atomic<int> ran{0};
  {
    pipeline::WorkerPool pool(3);
    CHECK(pool.size() == 3);
    std::latch all(100);
    for (int i = 0; i < 100; ++i) pool.submit([&] { ++ran; all.count_down(); });
    all.wait();
    CHECK(ran == 100);
  }
  std::atomic<int> started{0};
  {
    pipeline::WorkerPool pool(1);
    std::latch gate(1);
    pool.submit([&] { ++started; gate.wait(); });
    for (int i = 0; i < 50; ++i) pool.submit([&] { ++started; });
    while (started == 0) std::this_thread::yield();
    gate.count_down();
  }  // must return: the queued tasks may or may not run, but the pool joins
  CHECK(started >= 1);
}

TEST_CASE("AtomicOutputFile writes devices directly, follows symlinks and refuses folders", "[pipeline][output]") {
  test::TempDir tmp;
  {
    pipeline::AtomicOutputFile f("/dev/null");  // renaming over a device node would replace it
    CHECK(f.temp_path().empty());
    f.stream() << "discarded\n";
    f.commit();
  }
  CHECK(fs::is_character_file("/dev/null"));

  const fs::path real = tmp.path() / "real.jsonl", link = tmp.path() / "link.jsonl";
  std::ofstream(real) << "old";
  fs::create_symlink(real, link);
  {
    pipeline::AtomicOutputFile f(link);
    CHECK(f.temp_path().parent_path() == tmp.path());
    f.stream() << "new";
    f.commit();
  }
  CHECK(fs::is_symlink(link));
  CHECK(slurp(real) == "new");

  CHECK_THROWS_WITH(pipeline::AtomicOutputFile(tmp.path()), Catch::Contains("is a folder"));
}
