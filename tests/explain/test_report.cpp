// The report page, checked in headless Chromium: the self-test in tests/explain/report_selftest.js, injected
// into a copy of the page (every card and image loaded on every page, toggle/slider/large view work), plus a
// screenshot kept under <build>/test-artifacts/. The published page carries no test code.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <regex>
#include <sstream>

#include "engine/backend.hpp"
#include "explain/report.hpp"
#include "image/preprocess.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

fs::path artifacts_dir() {
  // The CLI binary sits in the build directory's root.
  const fs::path dir = fs::path(VITVK_CLI_PATH).parent_path() / "test-artifacts";
  fs::create_directories(dir);
  return dir;
}

std::optional<fs::path> find_chromium() {
  if (const char* env = std::getenv("VITVK_CHROMIUM"); env && *env) {
    std::error_code ec;
    return fs::is_regular_file(env, ec) ? std::optional<fs::path>(env) : std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}) {
      const fs::path p = fs::path(dir) / name;
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) return p;
    }
  return std::nullopt;
}

std::string quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

// Runs headless Chromium on a page with a fresh profile; returns stdout (stderr goes to log).
std::string run_chromium(const fs::path& chrome, const std::string& url, const std::string& extra, const fs::path& log) {
  test::TempDir profile;
  const std::string cmd = fmt::format(
      "timeout 120 {} --headless --no-sandbox --disable-gpu --disable-background-networking "
      "--disable-component-update --disable-sync --no-first-run --user-data-dir={} --virtual-time-budget=30000 {} {} "
      "2>{}",
      quote(chrome.string()), quote(profile.path().string()), extra, quote(url), quote(log.string()));
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    const int status = ::pclose(p);
    INFO("chromium command: " << cmd);
    CHECK(status == 0);
  }
  return out;
}

std::string file_url(const fs::path& p) { return "file://" + fs::absolute(p).string(); }

// Opens the finished report in Chromium: self-test verdict (returned), plus a screenshot.
std::string check_in_chromium(const fs::path& index, const fs::path& screenshot, std::size_t cards, std::size_t errors) {
  const auto chrome = find_chromium();
  if (!chrome) {
    test::skip("chromium not found on PATH or at VITVK_CHROMIUM (apt-get install chromium): the report page is "
               "not checked in a browser");
    return {};
  }
  const fs::path log = screenshot.parent_path() / (screenshot.stem().string() + ".chromium.log");
  // The page as written, plus the test's script after the page's own, beside it (so img/ resolves the same).
  std::string page;
  {
    std::ifstream in(index, std::ios::binary);
    page.assign(std::istreambuf_iterator<char>(in), {});
  }
  CHECK(page.find("selftest()") == std::string::npos);
  std::ifstream st(fs::path(VITVK_SOURCE_DIR) / "tests/explain/report_selftest.js", std::ios::binary);
  const std::string selftest{std::istreambuf_iterator<char>(st), {}};
  REQUIRE(!selftest.empty());
  const auto body_end = page.rfind("</body>");
  REQUIRE(body_end != std::string::npos);
  page.insert(body_end, "<script>\n" + selftest + "</script>\n");
  const fs::path tested = index.parent_path() / "index.selftest.html";
  std::ofstream(tested, std::ios::binary) << page;
  const std::string dom = run_chromium(*chrome, file_url(tested) + "#selftest", "--dump-dom", log);
  std::smatch m;
  REQUIRE(std::regex_search(dom, m, std::regex("<title>(vitvk-selftest: [^<]*)</title>")));
  const std::string verdict = m[1];
  INFO("self-test: " << verdict << " (chromium log: " << log.string() << ")");
  CHECK(verdict.rfind("vitvk-selftest: PASS", 0) == 0);
  CHECK(verdict.find(fmt::format(" cards={} ", cards)) != std::string::npos);
  CHECK(verdict.find(fmt::format(" errors={} ", errors)) != std::string::npos);
  std::printf("report self-test in %s: %s\n", chrome->string().c_str(), verdict.c_str());

  fs::remove(screenshot);
  run_chromium(*chrome, file_url(index), fmt::format("--window-size=1280,900 --screenshot={}", quote(screenshot.string())), log);
  CHECK(fs::exists(screenshot));
  CHECK((fs::exists(screenshot) && fs::file_size(screenshot) > 10000));
  std::printf("report screenshot: %s\n", screenshot.string().c_str());
  return verdict;
}

std::vector<ReportPrediction> top_k(std::span<const float> logits, const std::vector<std::string>& labels, int k) {
  std::vector<float> p(logits.begin(), logits.end());
  const float mx = *std::max_element(p.begin(), p.end());
  double sum = 0;
  for (float& v : p) sum += (v = std::exp(v - mx));
  std::vector<int> idx(p.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int a, int b) { return p[a] > p[b]; });
  std::vector<ReportPrediction> out;
  for (int i = 0; i < k; ++i) out.push_back({labels[idx[i]], idx[i], static_cast<float>(p[idx[i]] / sum)});
  return out;
}

// Synthetic photos: a gradient with a few discs, in assorted shapes.
cv::Mat synthetic_photo(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  cv::Mat img(h, w, CV_8UC3);
  const int hue = static_cast<int>(rng() % 180);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      img.at<cv::Vec3b>(y, x) = {static_cast<uint8_t>(hue), static_cast<uint8_t>(90 + 80 * x / w), static_cast<uint8_t>(120 + 100 * y / h)};
  cv::cvtColor(img, img, cv::COLOR_HSV2RGB);
  for (int i = 0; i < 4; ++i)
    cv::circle(img, {static_cast<int>(rng() % w), static_cast<int>(rng() % h)}, 10 + static_cast<int>(rng() % (std::min(w, h) / 3)),
               cv::Scalar(rng() % 256, rng() % 256, rng() % 256), cv::FILLED, cv::LINE_AA);
  return img;
}

}  // namespace

TEST_CASE("report page of synthetic photos passes its self-test in headless Chromium", "[explain][report][chromium]") {
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(), 5));
  auto cpu = make_cpu_backend(model);
  const PreprocessConfig& pc = model->config.preprocess;
  const cv::Size sizes[] = {{320, 200}, {200, 320}, {256, 256}, {600, 150}, {90, 70}};
  std::vector<cv::Mat> photos;
  std::vector<CropGeometry> geoms;
  std::vector<float> batch;
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    photos.push_back(synthetic_photo(sizes[i].width, sizes[i].height, static_cast<uint32_t>(i) + 1));
    CropGeometry g;
    const auto x = preprocess(photos.back(), pc, &g);
    geoms.push_back(g);
    batch.insert(batch.end(), x.begin(), x.end());
  }
  const auto r = cpu->forward(batch, static_cast<int>(photos.size()), {.explain = true});

  const fs::path dir = artifacts_dir() / "report-synthetic";
  fs::remove_all(dir);
  ReportOptions opt;
  opt.title = "Synthetic <report> & \"test\"";
  opt.info = {{"model", "random tiny ViT"}, {"backend", "cpu"}};
  opt.page_size = 2;  // 5 images -> 3 pages: the self-test walks them all
  ReportWriter report(dir, opt);
  for (std::size_t i = 0; i < photos.size(); ++i) {
    const auto map = rollout(r, static_cast<int>(i), {}, model->dims);
    const auto top = top_k(r.logits_of(static_cast<int>(i)), model->labels, 3);
    // The last photo has no map: the page must cope (card without overlay controls).
    if (i + 1 < photos.size())
      report.add(fmt::format("synthetic/{}x{}.png", sizes[i].width, sizes[i].height), photos[i], top, &map, &geoms[i]);
    else
      report.add("synthetic/no-map.png", photos[i], top);
  }
  report.add_error("broken/</script><script>alert(1)</script>.jpg", "cannot decode: not an image");
  report.add_error("missing.png", "No such file or directory");
  CHECK(report.images() == 5);
  CHECK(report.errors() == 2);
  const fs::path index = report.finish();
  REQUIRE(fs::exists(index));
  // Assets beside the page: 2 photo sizes per image, 2 heat layers per image with a map.
  CHECK(std::distance(fs::directory_iterator(dir / "img"), {}) == 5 * 2 + 4 * 2);
  std::ifstream in(index);
  const std::string html((std::istreambuf_iterator<char>(in)), {});
  CHECK(html.find("alert(1)</script>") == std::string::npos);  // user text cannot close the data element
  CHECK(html.find("<title>Synthetic &lt;report&gt; &amp; &quot;test&quot;</title>") != std::string::npos);
  CHECK(html.find("http://") == std::string::npos);   // nothing fetched from the network
  CHECK(html.find("https://") == std::string::npos);
  check_in_chromium(index, artifacts_dir() / "report-synthetic.png", 5, 2);
}

TEST_CASE("report page of real photos passes its self-test in headless Chromium", "[explain][report][chromium][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  auto model = std::make_shared<const Model>(Model::load(shared / "models/vit_tiny_patch16_224.augreg_in21k_ft_in1k"));
  auto cpu = make_cpu_backend(model);
  const char* names[] = {"n01443537_goldfish", "n07745940_strawberry", "n02123045_tabby",  "n04254680_soccer_ball",
                         "n02096051_Airedale", "n03063599_coffee_mug", "n01530575_brambling", "n02504458_African_elephant",
                         "n03792782_mountain_bike", "n07747607_orange"};
  std::vector<cv::Mat> photos;
  std::vector<CropGeometry> geoms;
  std::vector<float> batch;
  for (const char* n : names) {
    photos.push_back(decode_image_file(shared / "data/imagenet-sample-images" / (std::string(n) + ".JPEG")));
    CropGeometry g;
    const auto x = preprocess(photos.back(), model->config.preprocess, &g);
    geoms.push_back(g);
    batch.insert(batch.end(), x.begin(), x.end());
  }
  const auto r = cpu->forward(batch, static_cast<int>(photos.size()), {.explain = true});

  const fs::path dir = artifacts_dir() / "report-shared";
  fs::remove_all(dir);
  ReportOptions opt;
  opt.title = "vitvk report: ImageNet samples";
  opt.info = {{"model", "vit_tiny_patch16_224.augreg_in21k_ft_in1k"}, {"backend", "cpu fp32"}, {"rollout", "max, discard 0.9"}};
  opt.page_size = 8;
  ReportWriter report(dir, opt);
  for (std::size_t i = 0; i < photos.size(); ++i) {
    const auto map = rollout(r, static_cast<int>(i), {HeadFusion::Max, 0.9}, model->dims);
    report.add(std::string(names[i]) + ".JPEG", photos[i], top_k(r.logits_of(static_cast<int>(i)), model->labels, 5), &map, &geoms[i]);
  }
  // A real failure, reported the way the CLI would: the decoder's own message.
  test::TempDir tmp;
  const fs::path broken = tmp.path() / "broken.jpg";
  std::ofstream(broken) << "this is not a JPEG";
  try {
    decode_image_file(broken);
    FAIL("a text file decoded as an image");
  } catch (const Error& e) {
    report.add_error("broken.jpg", e.what());
  }
  const fs::path index = report.finish();
  check_in_chromium(index, artifacts_dir() / "report-shared.png", std::size(names), 1);
}

TEST_CASE("report writer rejects bad arguments", "[explain][report]") {
  test::TempDir tmp;
  ReportOptions bad;
  bad.page_size = 0;
  CHECK_THROWS_AS(ReportWriter(tmp.path() / "a", bad), Error);
  const fs::path file = tmp.path() / "file";
  std::ofstream(file) << "x";
  CHECK_THROWS_WITH(ReportWriter(file / "sub"), Catch::Contains("file"));
  ReportWriter w(tmp.path() / "ok");
  const RolloutMap map{2, 2, {1, 0, 0, 0}, {}};
  CHECK_THROWS_WITH(w.add("x.jpg", cv::Mat(), {}), Catch::Contains("x.jpg"));
  CHECK_THROWS_WITH(w.add("y.jpg", cv::Mat(10, 10, CV_8UC3), {}, &map, nullptr), Catch::Contains("geometry"));
  // An empty report is still a valid page.
  CHECK(fs::exists(w.finish()));
}
