// The explain side of the classify pipeline: rollout maps and photos carried by results, output names that
// mirror the input tree, and the overlay/report writer.
#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include <fstream>
#include <iterator>
#include <set>

#include "engine/backend.hpp"
#include "explain/rollout.hpp"
#include "image/preprocess.hpp"
#include "pipeline/classify.hpp"
#include "pipeline/enumerate.hpp"
#include "pipeline/explain_outputs.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

void write_image(const fs::path& p, int w, int h, int seed = 0) {
  fs::create_directories(p.parent_path());
  cv::Mat m(h, w, CV_8UC3);
  cv::setRNGSeed(seed);
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(255));
  REQUIRE(cv::imwrite(p.string(), m));
}

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p).put('x');
}

std::vector<std::string> names(const std::vector<fs::path>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.generic_string());
  return out;
}

// A backend that forgets the attention maps, as an attention-free model family's backend would.
class NoAttentionBackend : public Backend {
 public:
  explicit NoAttentionBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  BackendKind kind() const override { return inner_->kind(); }
  std::string name() const override { return "no-attention"; }
  std::string device_name() const override { return inner_->device_name(); }
  std::string precision() const override { return inner_->precision(); }
  const Model& model() const override { return inner_->model(); }
  ForwardResult forward(std::span<const float> images, int batch, const ForwardOptions& options) override {
    ForwardResult r = inner_->forward(images, batch, options);
    r.attention.clear();
    return r;
  }

 private:
  std::unique_ptr<Backend> inner_;
};

}  // namespace

TEST_CASE("output names mirror the input tree, collisions get deterministic suffixes", "[pipeline][explain]") {
  test::TempDir tmp;
  const fs::path r = tmp.path();
  for (const char* f : {"imgs/a.jpg", "imgs/a.png", "imgs/A.bmp", "imgs/a-2.jpg", "imgs/sub/deep/b.jpg",
                        "imgs/sub/c.tar.jpg", "imgs/q.png/inner.jpg", "imgs/q.jpg", "other/a.jpg", "one/x.jpg",
                        "two/x.jpg"})
    touch(r / f);
  // Folder arguments with and without a trailing slash, files named directly, and a missing path.
  const std::vector<std::string> args{(r / "imgs").string() + "/", (r / "one" / "x.jpg").string(),
                                      (r / "two" / "x.jpg").string(), (r / "missing.jpg").string(),
                                      (r / "other").string()};
  const auto inputs = pipeline::enumerate_inputs(args);
  std::vector<std::string> rel;
  for (const auto& in : inputs) rel.push_back(in.relative.generic_string());
  CHECK(rel == std::vector<std::string>{"A.bmp", "a-2.jpg", "a.jpg", "a.png", "q.jpg", "q.png/inner.jpg",
                                        "sub/c.tar.jpg", "sub/deep/b.jpg", "", "", "", "a.jpg"});

  const std::vector<std::string> ext{".png", ".npy"};
  const auto got = pipeline::plan_output_names(inputs, ext);
  // In input order: A claims "a" (case-insensitively), so a.jpg becomes a-3 (a-2 is a real name, taken first);
  // the folder "q.png" clashes with q.jpg's overlay file "q.png" and becomes "q.png-2"; directly named files
  // use their stem alone; the missing path gets no name.
  CHECK(names(got) == std::vector<std::string>{"A", "a-2", "a-3", "a-4", "q", "q.png-2/inner", "sub/c.tar",
                                               "sub/deep/b", "x", "x-2", "", "a-5"});
  // Deterministic, and every name unique (case-insensitively) with every extension.
  CHECK(names(pipeline::plan_output_names(inputs, ext)) == names(got));
  std::set<std::string> files;
  for (const auto& n : got)
    if (!n.empty())
      for (const auto& e : ext) {
        std::string f = n.generic_string() + e;
        for (char& c : f) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        CHECK(files.insert(f).second);
      }
  // With only ".png", a folder named like an overlay file still cannot clash: q.png-2 again.
  const auto png_only = pipeline::plan_output_names(inputs, std::vector<std::string>{".png"});
  CHECK(png_only[5].generic_string() == "q.png-2/inner");

  // The report's names: the path below the folder where it is unique; imgs/a.jpg and other/a.jpg share "a.jpg",
  // so both show their paths as found, as do the files named directly and the missing one.
  const auto shown = pipeline::report_names(inputs);
  REQUIRE(shown.size() == inputs.size());
  CHECK(shown[0] == "A.bmp");
  CHECK(shown[7] == fs::path("sub/deep/b.jpg").string());
  CHECK(shown[2] == inputs[2].path.string());
  CHECK(shown[11] == inputs[11].path.string());
  CHECK(shown[2] != shown[11]);
  CHECK(shown[8] == (r / "one" / "x.jpg").string());
  CHECK(shown[10] == (r / "missing.jpg").string());
}

TEST_CASE("Classifier in explain mode: results carry the capped photo, crop geometry and rollout map",
          "[pipeline][explain]") {
  test::TempDir tmp;
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(), 11));
  auto backend = make_cpu_backend(model);
  const int sizes[][2] = {{300, 200}, {40, 64}, {33, 33}, {500, 90}, {20, 20}};
  std::vector<pipeline::InputEntry> inputs;
  for (int i = 0; i < 5; ++i) {
    inputs.push_back({tmp.path() / ("i" + std::to_string(i) + ".png"), {}});
    write_image(inputs.back().path, sizes[i][0], sizes[i][1], i);
  }
  std::ofstream(tmp.path() / "bad.png") << "not an image";
  inputs.insert(inputs.begin() + 2, {tmp.path() / "bad.png", {}});

  pipeline::ClassifyOptions o;
  o.batch = 2;
  o.jobs = 2;
  o.explain.enabled = true;
  o.explain.rollout = {HeadFusion::Max, 0.3};
  o.explain.max_photo_side = 64;
  pipeline::Classifier classifier(*backend, o);
  std::vector<pipeline::ClassifyResult> got;
  classifier.run(inputs, [&](const pipeline::ClassifyResult& r) { got.push_back(r); });
  REQUIRE(got.size() == inputs.size());
  for (const auto& r : got) {
    INFO(r.path);
    if (!r.ok()) {
      CHECK(r.path.filename() == "bad.png");
      CHECK(r.photo.empty());
      CHECK(r.rollout.w == 0);
      continue;
    }
    const cv::Mat full = decode_image_file(r.path);
    // The photo: capped at 64 px on its longest side, aspect kept (rounded to nearest).
    const int side = std::max(full.cols, full.rows);
    const cv::Size want = side <= 64 ? full.size()
                                     : cv::Size(std::max(1, static_cast<int>(std::lround(full.cols * 64.0 / side))),
                                                std::max(1, static_cast<int>(std::lround(full.rows * 64.0 / side))));
    CHECK(r.photo.size() == want);
    CHECK(r.photo.type() == CV_8UC3);
    // The geometry refers to the original image.
    CropGeometry g;
    const auto x = preprocess(full, model->config.preprocess, &g);
    CHECK(r.geometry.orig_w == full.cols);
    CHECK(r.geometry.orig_h == full.rows);
    CHECK(r.geometry.crop_x == g.crop_x);
    CHECK(r.geometry.resized_w == g.resized_w);
    // The map: what a lone explain forward of the same image gives, with the requested options.
    const auto ref = backend->forward(x, 1, {.explain = true});
    const auto map = rollout(ref, 0, {HeadFusion::Max, 0.3}, model->dims);
    REQUIRE(r.rollout.w == model->dims.grid_w);
    REQUIRE(r.rollout.h == model->dims.grid_h);
    CHECK(r.rollout.options.head_fusion == HeadFusion::Max);
    for (std::size_t k = 0; k < map.values.size(); ++k) CHECK(r.rollout.values[k] == Approx(map.values[k]).margin(1e-4));
    // Labels come from the same forward pass: identical to a plain run's.
    CHECK(r.top[0].index == pipeline::top_k(pipeline::softmax(ref.logits), 1)[0].index);
  }

  // Without explain, nothing of it is carried (the default path stays as it was).
  pipeline::Classifier plain(*backend, {});
  plain.run(inputs, [&](const pipeline::ClassifyResult& r) {
    CHECK(r.photo.empty());
    CHECK(r.rollout.w == 0);
    CHECK(r.rollout.values.empty());
  });

  // Bad explain options are refused up front.
  pipeline::ClassifyOptions bad = o;
  bad.explain.rollout.discard_ratio = 1.0;
  CHECK_THROWS_WITH(pipeline::Classifier(*backend, bad), Catch::Contains("discard ratio"));
  bad = o;
  bad.explain.max_photo_side = -1;
  CHECK_THROWS_AS(pipeline::Classifier(*backend, bad), Error);
}

TEST_CASE("Classifier in explain mode: a backend without attention maps is a clear error", "[pipeline][explain]") {
  test::TempDir tmp;
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(), 12));
  CHECK(model->has_attention_maps());
  NoAttentionBackend backend(make_cpu_backend(model));
  write_image(tmp.path() / "a.png", 40, 40);
  const std::vector<pipeline::InputEntry> inputs{{tmp.path() / "a.png", {}}};
  pipeline::ClassifyOptions o;
  o.explain.enabled = true;
  pipeline::Classifier classifier(backend, o);
  try {
    classifier.run(inputs, [](const pipeline::ClassifyResult&) { FAIL("a result without a map was delivered"); });
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Unsupported);
    CHECK_THAT(e.what(), Catch::Contains("no attention maps"));
  }
}

TEST_CASE("ExplainWriter: overlays, rollout files and report from a classify run, write errors surface",
          "[pipeline][explain]") {
  test::TempDir tmp;
  const fs::path r = tmp.path();
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(), 13));
  auto backend = make_cpu_backend(model);
  for (int i = 0; i < 9; ++i) write_image(r / "in" / (i % 3 ? "sub" : ".") / ("p" + std::to_string(i) + ".png"), 50 + i, 40, i);
  std::ofstream(r / "in" / "sub" / "broken.jpg") << "nope";
  const auto inputs = pipeline::enumerate_inputs(std::vector<std::string>{(r / "in").string()});
  REQUIRE(inputs.size() == 10);

  pipeline::ClassifyOptions o;
  o.batch = 3;
  o.jobs = 2;
  o.explain.enabled = true;
  pipeline::Classifier classifier(*backend, o);
  pipeline::ExplainOutputOptions xo;
  xo.overlay_dir = r / "out";
  xo.rollout_format = RolloutFormat::Json;
  xo.report_dir = r / "report";
  xo.threads = 3;
  {
    pipeline::ExplainWriter writer(inputs, model->labels, xo);
    classifier.run(inputs, [&](const pipeline::ClassifyResult& res) { writer.write(res); });
    writer.finish();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      INFO(inputs[i].path);
      const bool broken = inputs[i].path.filename() == "broken.jpg";
      CHECK(fs::exists(writer.overlay_path(i)) == !broken);
      CHECK(fs::exists(writer.rollout_path(i)) == !broken);
      CHECK(writer.overlay_path(i).parent_path() == (r / "out" / inputs[i].relative).parent_path());
    }
    REQUIRE(fs::exists(writer.report_index()));
    // Report entries in input order, the broken one as an error.
    std::ifstream html_in(writer.report_index());
    const std::string html((std::istreambuf_iterator<char>(html_in)), {});
    std::size_t pos = 0;
    for (const auto& in : inputs) {
      // A photo found in a folder is shown by its path below that folder.
      const std::string shown = (in.relative.empty() ? in.path : in.relative).string();
      const std::size_t at = html.find("\"name\":\"" + shown + "\"", pos);
      INFO(in.path);
      CHECK(at != std::string::npos);
      if (at != std::string::npos) pos = at;
    }
    CHECK(html.find("\"error\":\"") != std::string::npos);
  }

  // A file where a sub-folder of the overlays must go: the write fails, and the error names the path.
  fs::remove_all(r / "out");
  fs::create_directories(r / "out");
  std::ofstream(r / "out" / "sub") << "in the way";
  xo.report_dir.clear();
  pipeline::ExplainWriter writer(inputs, model->labels, xo);
  const auto run_writing = [&](pipeline::Classifier& c, pipeline::ExplainWriter& w) {
    c.run(inputs, [&](const pipeline::ClassifyResult& res) { w.write(res); });
    w.finish();
  };
  CHECK_THROWS_WITH(run_writing(classifier, writer), Catch::Contains((r / "out" / "sub").string()));

  // Options that make no sense.
  pipeline::ExplainOutputOptions none;
  CHECK_THROWS_AS(pipeline::ExplainWriter(inputs, model->labels, none), Error);
  none.rollout_format = RolloutFormat::Npy;
  none.report_dir = r / "rep2";
  CHECK_THROWS_WITH(pipeline::ExplainWriter(inputs, model->labels, none), Catch::Contains("overlay folder"));
  // A result without explain data cannot be drawn.
  pipeline::ExplainOutputOptions only_overlay;
  only_overlay.overlay_dir = r / "out2";
  pipeline::ExplainWriter w2(inputs, model->labels, only_overlay);
  pipeline::Classifier plain(*backend, {});
  CHECK_THROWS_WITH(run_writing(plain, w2), Catch::Contains("no photo or rollout"));
}
