// End-to-end: `vitvk classify --overlay/--rollout-format/--report` (VITVK_CLI_PATH) on trees the tests make, and
// on shared photos with the real model.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <regex>
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

std::string quote_all(const std::vector<fs::path>& paths) {
  std::string s;
  for (const auto& p : paths) s += " " + test::shell_quote(p.string());
  return s;
}

struct Npy {
  std::vector<std::size_t> shape;
  std::vector<float> values;
};

// A strict reader for what the CLI writes: NPY v1.0, '<f4', C order.
Npy read_npy(const fs::path& p) {
  const std::string b = test::read_file(p);
  INFO(p);
  REQUIRE(b.size() >= 10);
  REQUIRE(b.compare(0, 6, "\x93NUMPY") == 0);
  REQUIRE(b[6] == 1);
  const std::size_t hlen = static_cast<uint8_t>(b[8]) | static_cast<std::size_t>(static_cast<uint8_t>(b[9])) << 8;
  REQUIRE(b.size() >= 10 + hlen);
  REQUIRE((10 + hlen) % 16 == 0);  // the format aligns the data
  const std::string header = b.substr(10, hlen);
  CHECK_THAT(header, Catch::Contains("'descr': '<f4'") && Catch::Contains("'fortran_order': False"));
  std::smatch m;
  REQUIRE(std::regex_search(header, m, std::regex(R"('shape': \((\d+), (\d+)\))")));
  Npy n;
  n.shape = {std::stoul(m[1]), std::stoul(m[2])};
  const std::size_t count = n.shape[0] * n.shape[1];
  REQUIRE(b.size() == 10 + hlen + 4 * count);
  n.values.resize(count);
  std::memcpy(n.values.data(), b.data() + 10 + hlen, 4 * count);
  return n;
}

// The report's inline data (the JSON array of entries).
json report_data(const fs::path& index) {
  const std::string html = test::read_file(index);
  const std::string open = "<script type=\"application/json\" id=\"report-data\">";
  const auto a = html.find(open);
  REQUIRE(a != std::string::npos);
  const auto b = html.find("</script>", a);
  REQUIRE(b != std::string::npos);
  return json::parse(html.substr(a + open.size(), b - a - open.size()));
}

// A temp dir holding a random-weight tiny model (32x32 input, patch 8: a 4x4 grid, 10 classes) in model/.
struct Workspace {
  test::TempDir tmp;
  fs::path root = tmp.path();
  Workspace() { Model::random(test::tiny_config(), 31).save(root / "model"); }
  test::CommandResult classify(const std::string& args) const {
    const std::string cmd = "cd " + test::shell_quote(root.string()) + " && env HOME=" +
                            test::shell_quote((root / "home").string()) + " XDG_CACHE_HOME= VITVK_MODEL_PATH= " +
                            test::shell_quote(VITVK_CLI_PATH) + " classify " + args;
    return test::run_command(cmd, root);
  }
};

std::optional<fs::path> find_chromium() {
  if (const char* env = std::getenv("VITVK_CHROMIUM"); env && *env) return fs::path(env);
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}) {
      std::error_code ec;
      if (fs::is_regular_file(fs::path(dir) / name, ec)) return fs::path(dir) / name;
    }
  return std::nullopt;
}

}  // namespace

TEST_CASE("classify CLI: --overlay mirrors the input tree, rollout files parse, the report lists every input",
          "[cli][classify][explain]") {
  Workspace ws;
  const fs::path& r = ws.root;
  write_image(r / "imgs" / "top.png", 60, 40);
  write_image(r / "imgs" / "sub" / "b.jpg", 33, 47);
  write_image(r / "imgs" / "sub" / "deep" / "c.bmp", 40, 40);
  write_image(r / "imgs" / "sub" / "deep" / "c.png", 20, 70);  // same stem as c.bmp
  write_image(r / "imgs" / "sub" / "wide.png", 300, 100);       // over --overlay-size below
  std::ofstream(r / "imgs" / "sub" / "broken.png") << "not an image";
  write_image(r / "loose" / "x.jpg", 45, 45);  // named directly
  const auto res = ws.classify("-m model imgs loose/x.jpg --overlay ov --rollout-format npy --report rep "
                               "--overlay-size 120 -f jsonl --batch 3 -j 2 -q");
  INFO(res.err);
  CHECK(res.exit_code == 2);  // broken.png
  CHECK(res.err.empty());

  // Overlay and map per classified input; photo size capped at 120 px on the longest side.
  const std::map<std::string, cv::Size> expected{{"top", {60, 40}},          {"sub/b", {33, 47}},
                                                 {"sub/deep/c", {40, 40}},   {"sub/deep/c-2", {20, 70}},
                                                 {"sub/wide", {120, 40}},    {"x", {45, 45}}};
  std::size_t pngs = 0, npys = 0;
  for (const auto& e : fs::recursive_directory_iterator(r / "ov")) {
    if (e.path().extension() == ".png") ++pngs;
    if (e.path().extension() == ".npy") ++npys;
  }
  CHECK(pngs == expected.size());
  CHECK(npys == expected.size());
  for (const auto& [name, size] : expected) {
    INFO(name);
    const cv::Mat png = cv::imread((r / "ov" / (name + ".png")).string(), cv::IMREAD_UNCHANGED);
    REQUIRE_FALSE(png.empty());
    CHECK(png.size() == size);
    CHECK(png.type() == CV_8UC3);
    const Npy n = read_npy(r / "ov" / (name + ".npy"));
    CHECK(n.shape == std::vector<std::size_t>{4, 4});
    float mx = 0;
    for (float v : n.values) {
      CHECK(v >= 0.f);
      CHECK(v <= 1.f);
      mx = std::max(mx, v);
    }
    CHECK(mx == 1.f);  // normalised to its maximum
  }
  CHECK_FALSE(fs::exists(r / "ov" / "sub" / "broken.png"));

  // The report: index.html and its images, every input in input order, the broken one as an error.
  const fs::path index = r / "rep" / "index.html";
  REQUIRE(fs::exists(index));
  const json data = report_data(index);
  const std::vector<std::string> order{"imgs/sub/b.jpg",        "imgs/sub/broken.png", "imgs/sub/deep/c.bmp",
                                       "imgs/sub/deep/c.png",   "imgs/sub/wide.png",   "imgs/top.png",
                                       "loose/x.jpg"};
  REQUIRE(data.size() == order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    INFO(data[i].dump());
    // Photos found in a folder are named below it; a file named directly, as given.
    const std::string shown = order[i].starts_with("imgs/") ? order[i].substr(5) : order[i];
    CHECK(data[i]["name"] == shown);
    if (order[i] == "imgs/sub/broken.png") {
      CHECK(data[i].contains("error"));
    } else {
      CHECK(data[i]["heat"] == true);
      CHECK(data[i]["top"].size() == 5);
      for (const char* suffix : {".jpg", "_t.jpg", "_h.jpg", "_th.jpg"})
        CHECK(fs::exists(r / "rep" / "img" / (data[i]["id"].get<std::string>() + suffix)));
    }
  }

  // The labels are those of a plain run: explain mode does not change the forward pass's results.
  const auto plain = ws.classify("-m model imgs loose/x.jpg -f jsonl --batch 3 -j 2 -q");
  CHECK(plain.out == res.out);

  // In a real browser, the self-test (tests/explain/report_selftest.js, injected into a copy beside the page)
  // must pass.
  const auto chrome = find_chromium();
  if (!chrome) return test::skip("chromium not found (apt-get install chromium): the report page is not opened");
  {
    std::string page = test::read_file(index);
    const std::string selftest = test::read_file(fs::path(VITVK_SOURCE_DIR) / "tests/explain/report_selftest.js");
    REQUIRE(!selftest.empty());
    const auto body_end = page.rfind("</body>");
    REQUIRE(body_end != std::string::npos);
    page.insert(body_end, "<script>\n" + selftest + "</script>\n");
    std::ofstream(index.parent_path() / "index.selftest.html", std::ios::binary) << page;
  }
  const std::string cmd = fmt::format(
      "timeout 120 {} --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update "
      "--disable-sync --no-first-run --user-data-dir={} --virtual-time-budget=30000 --dump-dom {}",
      test::shell_quote(chrome->string()), test::shell_quote((r / "chromium-profile").string()),
      test::shell_quote("file://" + (index.parent_path() / "index.selftest.html").string() + "#selftest"));
  const auto dom = test::run_command(cmd, r);
  std::smatch m;
  INFO(dom.err);
  REQUIRE(std::regex_search(dom.out, m, std::regex("<title>(vitvk-selftest: [^<]*)</title>")));
  const std::string verdict = m[1];
  INFO(verdict);
  CHECK(verdict.rfind("vitvk-selftest: PASS", 0) == 0);
  CHECK(verdict.find(" cards=6 ") != std::string::npos);
  CHECK(verdict.find(" errors=1 ") != std::string::npos);
}

TEST_CASE("classify CLI: --rollout-format json with head fusion, discard ratio, colormap and opacity",
          "[cli][classify][explain]") {
  Workspace ws;
  write_image(ws.root / "p" / "a.png", 50, 30);
  write_image(ws.root / "p" / "b" / "c.png", 30, 50);
  const std::string settings = " --head-fusion max --discard-ratio 0.5 -q";
  const auto js = ws.classify("-m model p --overlay ov --rollout-format json --colormap inferno --opacity 0.8" + settings);
  INFO(js.err);
  REQUIRE(js.exit_code == 0);
  const auto np = ws.classify("-m model p --overlay ov2 --rollout-format npy -b cpu" + settings);
  REQUIRE(np.exit_code == 0);
  // The Vulkan forward's attention gives the same maps.
  const auto vk = ws.classify("-m model p --overlay ov3 --rollout-format npy -b vulkan --precision fp32" + settings);
  INFO(vk.err);
  REQUIRE(vk.exit_code == 0);
  for (const char* name : {"a", "b/c"}) {
    INFO(name);
    const json j = json::parse(test::read_file(ws.root / "ov" / (std::string(name) + ".json")));
    CHECK(j["width"] == 4);
    CHECK(j["height"] == 4);
    CHECK(j["head_fusion"] == "max");
    CHECK(j["discard_ratio"].get<double>() == Approx(0.5));
    REQUIRE(j["values"].size() == 4);
    // The same maps in both formats.
    const Npy n = read_npy(ws.root / "ov2" / (std::string(name) + ".npy"));
    for (std::size_t y = 0; y < 4; ++y) {
      REQUIRE(j["values"][y].size() == 4);
      for (std::size_t x = 0; x < 4; ++x) CHECK(j["values"][y][x].get<double>() == Approx(n.values[y * 4 + x]).margin(1e-6));
    }
    const Npy v = read_npy(ws.root / "ov3" / (std::string(name) + ".npy"));
    REQUIRE(v.values.size() == n.values.size());
    for (std::size_t k = 0; k < v.values.size(); ++k) CHECK(v.values[k] == Approx(n.values[k]).margin(1e-4));
    // Opacity and colormap change the picture, not its size.
    const cv::Mat a = cv::imread((ws.root / "ov" / (std::string(name) + ".png")).string());
    const cv::Mat b = cv::imread((ws.root / "ov2" / (std::string(name) + ".png")).string());
    REQUIRE(a.size() == b.size());
    CHECK(cv::norm(a, b, cv::NORM_INF) > 0);
  }
}

TEST_CASE("classify CLI: explain options are checked", "[cli][classify][explain]") {
  Workspace ws;
  write_image(ws.root / "x.png", 32, 32);
  const auto no_overlay = ws.classify("-m model x.png --rollout-format npy");
  CHECK(no_overlay.exit_code == 1);
  CHECK_THAT(no_overlay.err, Catch::Contains("--overlay"));
  const auto colormap = ws.classify("-m model x.png --overlay ov --colormap rainbowish");
  CHECK(colormap.exit_code == 1);
  CHECK_THAT(colormap.err, Catch::Contains("rainbowish") && Catch::Contains("viridis"));
  for (const char* args : {"--overlay ov --opacity 1.5", "--overlay ov --head-fusion avg", "--overlay ov --discard-ratio 1",
                           "--overlay ov --rollout-format png", "--report rep --overlay-size -5"}) {
    INFO(args);
    CHECK(ws.classify(std::string("-m model x.png ") + args).exit_code == 1);
  }
  CHECK_FALSE(fs::exists(ws.root / "ov" / "x.png"));
  // The overlay folder cannot be created: a fatal error naming it.
  std::ofstream(ws.root / "file") << "x";
  const auto blocked = ws.classify("-m model x.png --overlay file/ov -q");
  CHECK(blocked.exit_code == 1);
  CHECK_THAT(blocked.err, Catch::Contains("file/ov"));
}

TEST_CASE("classify CLI: real ViT-Ti overlays and report for shared photos, rollout mass is concentrated",
          "[cli][classify][explain][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  const fs::path photos = shared / "data" / "imagenet-sample-images";
  std::map<std::string, int> labels;
  {
    std::ifstream in(photos / "LABELS.txt");
    std::string file;
    int index = 0;
    while (in >> file >> index) labels[file] = index;
  }
  test::TempDir tmp;
  const fs::path& r = tmp.path();
  // Two photos as they are, and the strawberry shrunk onto grey 256x256 canvases: the model's 224 crop starts at
  // (16, 16) with no resize, so the pasted 80x80 block covers exactly patch cells [cx, cx+5) x [cy, cy+5).
  const std::vector<std::string> files{"n01440764_tench.JPEG", "n07745940_strawberry.JPEG"};
  const cv::Point cells[] = {{1, 2}, {8, 7}};
  {
    cv::Mat straw = cv::imread((photos / files[1]).string(), cv::IMREAD_COLOR);
    REQUIRE_FALSE(straw.empty());
    cv::resize(straw, straw, {80, 80}, 0, 0, cv::INTER_AREA);
    for (int k = 0; k < 2; ++k) {
      cv::Mat canvas(256, 256, CV_8UC3, cv::Scalar(128, 128, 128));
      straw.copyTo(canvas(cv::Rect(16 + 16 * cells[k].x, 16 + 16 * cells[k].y, 80, 80)));
      fs::create_directories(r / "canvas");
      REQUIRE(cv::imwrite((r / "canvas" / fmt::format("paste{}.png", k)).string(), canvas));
    }
  }
  const std::string cmd = "cd " + test::shell_quote(r.string()) + " && " + test::shell_quote(VITVK_CLI_PATH) +
                          " classify -m " +
                          test::shell_quote((shared / "models" / "vit_tiny_patch16_224.augreg_in21k_ft_in1k").string()) +
                          " -b cpu -f jsonl -q --overlay ov --rollout-format npy --report rep --overlay-size 256"
                          " --head-fusion max --discard-ratio 0.9" +
                          quote_all({photos / files[0], photos / files[1]}) + " canvas";
  const auto res = test::run_command(cmd, r);
  INFO(res.err);
  REQUIRE(res.exit_code == 0);
  std::vector<json> rows;
  {
    std::istringstream in(res.out);
    for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  }
  REQUIRE(rows.size() == 4);

  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string stem = fs::path(files[i]).stem().string();
    INFO(stem);
    CHECK(rows[i]["top"][0]["index"] == labels.at(files[i]));
    // Overlay size = the photo's, capped at 256 on the longest side.
    const cv::Mat photo = cv::imread((photos / files[i]).string(), cv::IMREAD_COLOR);
    const double s = std::min(1.0, 256.0 / std::max(photo.cols, photo.rows));
    const cv::Mat png = cv::imread((r / "ov" / (stem + ".png")).string());
    REQUIRE_FALSE(png.empty());
    CHECK(png.cols == static_cast<int>(std::lround(photo.cols * s)));
    CHECK(png.rows == static_cast<int>(std::lround(photo.rows * s)));
    // Concentration: the strongest fifth of the 196 patches holds far more than a fifth of the mass (measured
    // 0.51 for both with max fusion and discard 0.9; mean fusion without discard is flatter: 0.36 and 0.29).
    Npy n = read_npy(r / "ov" / (stem + ".npy"));
    REQUIRE(n.shape == std::vector<std::size_t>{14, 14});
    const double total = std::accumulate(n.values.begin(), n.values.end(), 0.0);
    std::sort(n.values.begin(), n.values.end(), std::greater<>());
    const double top_fifth = std::accumulate(n.values.begin(), n.values.begin() + 39, 0.0) / total;
    std::printf("cli rollout %s: top-1 %s (%.3f), strongest 20%% of patches hold %.3f of the mass\n", stem.c_str(),
                rows[i]["top"][0]["label"].get<std::string>().c_str(), rows[i]["top"][0]["prob"].get<double>(), top_fifth);
    CHECK(top_fifth > 0.4);
  }
  for (int k = 0; k < 2; ++k) {
    INFO("paste " << k);
    const Npy n = read_npy(r / "ov" / fmt::format("paste{}.npy", k));
    REQUIRE(n.shape == std::vector<std::size_t>{14, 14});
    double inside = 0, total = 0;
    for (int y = 0; y < 14; ++y)
      for (int x = 0; x < 14; ++x) {
        const double v = n.values[static_cast<std::size_t>(y) * 14 + x];
        total += v;
        if (x >= cells[k].x && x < cells[k].x + 5 && y >= cells[k].y && y < cells[k].y + 5) inside += v;
      }
    const double ratio = (inside / total) / (25.0 / 196.0);
    std::printf("cli rollout paste at cell (%d,%d): mass inside x%.2f its area share\n", cells[k].x, cells[k].y, ratio);
    CHECK(ratio > 2.0);
    const cv::Mat png = cv::imread((r / "ov" / fmt::format("paste{}.png", k)).string());
    CHECK(png.size() == cv::Size(256, 256));
  }
  // The report references all four.
  const json data = report_data(r / "rep" / "index.html");
  REQUIRE(data.size() == 4);
  CHECK(data[0]["name"] == (photos / files[0]).string());
  CHECK(data[3]["name"] == "paste1.png");  // found in the folder `canvas`: its path below that folder
}
