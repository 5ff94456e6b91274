// The public C++ API (include/vitvk/*) against the library's internals as oracle.
#include <catch2/catch.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <thread>

#include "api_support.hpp"
#include "engine/backend.hpp"
#include "explain/rollout.hpp"
#include "image/preprocess.hpp"
#include "vitvk/opencv.hpp"
#include "vitvk/vitvk.hpp"

using namespace vitvk;
using vitvk::test::rgb_view;
using vitvk::test::synthetic_rgb;
using vitvk::test::TinyModelDir;

namespace {

LoadOptions cpu_options(int max_batch = 16) {
  LoadOptions o;
  o.backend = BackendType::Cpu;
  o.max_batch = max_batch;
  return o;
}

struct Photos {
  std::vector<std::vector<std::uint8_t>> pixels;
  std::vector<ImageView> views;
  // Different sizes and aspect ratios, so each image is resized and cropped differently.
  explicit Photos(int count) {
    const int sizes[][2] = {{37, 29}, {64, 48}, {20, 50}, {32, 32}, {120, 33}, {45, 61}, {33, 33}};
    for (int i = 0; i < count; ++i) pixels.push_back(synthetic_rgb(sizes[i % 7][0], sizes[i % 7][1], i));
    for (int i = 0; i < count; ++i) views.push_back(rgb_view(pixels[i], sizes[i % 7][0], sizes[i % 7][1]));
  }
};

void require_same(const Inference& a, const Inference& b, float tolerance) {
  REQUIRE(a.top.size() == b.top.size());
  for (std::size_t k = 0; k < a.top.size(); ++k) {
    CHECK(a.top[k].index == b.top[k].index);
    CHECK(a.top[k].label == b.top[k].label);
  }
  REQUIRE(a.probabilities.size() == b.probabilities.size());
  for (std::size_t i = 0; i < a.probabilities.size(); ++i)
    CHECK(a.probabilities[i] == Approx(b.probabilities[i]).margin(tolerance));
  REQUIRE(a.embedding.size() == b.embedding.size());
  for (std::size_t i = 0; i < a.embedding.size(); ++i)
    CHECK(a.embedding[i] == Approx(b.embedding[i]).margin(tolerance * 10));
}

// What the CPU oracle gives for an RGB image: the internal backend, fed the internal preprocessing.
ForwardResult oracle(const std::string& dir, const cv::Mat& rgb, bool explain = false) {
  auto model = std::make_shared<const Model>(Model::load(dir));
  auto backend = make_cpu_backend(model);
  const auto input = preprocess(rgb, model->config.preprocess);
  ForwardOptions o;
  o.explain = explain;
  return backend->forward(input, 1, o);
}

cv::Mat as_rgb_mat(std::vector<std::uint8_t>& px, int w, int h) { return cv::Mat(h, w, CV_8UC3, px.data()); }

template <class F>
ErrorCode code_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    UNSCOPED_INFO(e.what());
    return e.code();
  }
  FAIL("no vitvk::Error thrown");
  return ErrorCode::Internal;
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("api: model info describes the model and the backend in use", "[api]") {
  const TinyModelDir tiny(true);
  auto model = Classifier::load(tiny.path(), cpu_options(3));
  const ModelInfo& i = model.info();
  CHECK(i.architecture == "deit_test_distilled");
  CHECK(i.directory == tiny.path());
  CHECK(i.input_width == 32);
  CHECK(i.input_height == 32);
  CHECK(i.channels == 3);
  CHECK(i.patch_size == 8);
  CHECK(i.grid_width == 4);
  CHECK(i.grid_height == 4);
  CHECK(i.embedding_dim == 24);
  CHECK(i.depth == 2);
  CHECK(i.heads == 2);
  CHECK(i.num_classes == 10);
  CHECK(i.distilled);
  REQUIRE(i.labels.size() == 10);
  CHECK(i.labels[3] == "label 3");
  CHECK(i.backend == "cpu");
  CHECK(i.precision == "fp32");
  CHECK_FALSE(i.device.empty());
  CHECK(i.max_batch == 3);
  CHECK(std::string(version()) == VITVK_EXPECTED_VERSION);
}

TEST_CASE("api: a batch gives the same results as the images one by one", "[api]") {
  const TinyModelDir tiny;
  const Photos photos(7);
  // max_batch 3 splits the batch of 7 into 3 + 3 + 1 passes; 16 runs it in one.
  for (const int max_batch : {3, 16}) {
    auto model = Classifier::load(tiny.path(), cpu_options(max_batch));
    const auto batch = model.infer(photos.views, 4);
    REQUIRE(batch.size() == photos.views.size());
    std::set<int> top1s;
    for (std::size_t i = 0; i < photos.views.size(); ++i) {
      const Inference single = model.infer(photos.views[i], 4);
      require_same(batch[i], single, 1e-6f);
      REQUIRE(batch[i].top.size() == 4);
      top1s.insert(batch[i].top[0].index);
      // classify / embed are infer's parts.
      const auto top = model.classify(photos.views[i], 4);
      CHECK(top[0].index == single.top[0].index);
      CHECK(top[0].probability == Approx(single.top[0].probability).margin(1e-6));
      CHECK(model.embed(photos.views[i]) == single.embedding);
    }
    CHECK(top1s.size() > 1);  // the photos really differ for this model
    const auto classified = model.classify(photos.views, 2);
    const auto embedded = model.embed(photos.views);
    REQUIRE(classified.size() == 7);
    REQUIRE(embedded.size() == 7);
    for (std::size_t i = 0; i < 7; ++i) {
      CHECK(classified[i].size() == 2);
      CHECK(classified[i][0].index == batch[i].top[0].index);
      CHECK(embedded[i] == batch[i].embedding);
    }
  }
  auto model = Classifier::load(tiny.path(), cpu_options());
  CHECK(model.classify(std::span<const ImageView>()).empty());
}

TEST_CASE("api: the embedding is the CPU oracle's pre-head class token", "[api]") {
  for (const bool distilled : {false, true}) {
    const TinyModelDir tiny(distilled);
    auto model = Classifier::load(tiny.path(), cpu_options());
    auto px = synthetic_rgb(53, 41, 3);
    const ForwardResult ref = oracle(tiny.path(), as_rgb_mat(px, 53, 41));
    const Inference got = model.infer(rgb_view(px, 53, 41), 10);
    REQUIRE(got.embedding.size() == static_cast<std::size_t>(ref.dim));
    for (int i = 0; i < ref.dim; ++i) CHECK(got.embedding[i] == Approx(ref.features[i]).margin(1e-6));
    for (int c = 0; c < ref.num_classes; ++c) {
      CHECK(got.logits[c] == Approx(ref.logits[c]).margin(1e-6));
      CHECK(got.probabilities[c] == Approx(ref.probabilities[c]).margin(1e-7));
    }
    // top-k: descending, complete, the oracle's argmax first.
    REQUIRE(got.top.size() == 10);
    const auto argmax = std::max_element(ref.probabilities.begin(), ref.probabilities.end()) - ref.probabilities.begin();
    CHECK(got.top[0].index == argmax);
    for (std::size_t k = 1; k < got.top.size(); ++k) CHECK(got.top[k].probability <= got.top[k - 1].probability);
  }
}

TEST_CASE("api: embedding and predictions on Vulkan match the CPU oracle", "[api][vulkan]") {
  std::vector<DeviceInfo> devices;
  try {
    devices = list_devices();
  } catch (const Error& e) {
    test::skip(std::string("no Vulkan: ") + e.what());
    return;
  }
  if (devices.empty()) {
    test::skip("no Vulkan device");
    return;
  }
  const TinyModelDir tiny;
  LoadOptions o;
  o.backend = BackendType::Vulkan;
  o.precision = Precision::Fp32;
  o.validation = true;
  o.max_batch = 4;
  auto model = Classifier::load(tiny.path(), o);
  CHECK(model.info().backend == "vulkan");
  CHECK(model.info().precision == "fp32");
  auto px = synthetic_rgb(40, 30, 5);
  const ForwardResult ref = oracle(tiny.path(), as_rgb_mat(px, 40, 30));
  const Inference got = model.infer(rgb_view(px, 40, 30), 3);
  for (int i = 0; i < ref.dim; ++i) CHECK(got.embedding[i] == Approx(ref.features[i]).margin(1e-3));
  CHECK(got.top[0].index == std::max_element(ref.probabilities.begin(), ref.probabilities.end()) - ref.probabilities.begin());
  const auto msgs = model.validation_messages();
  for (const auto& m : msgs) UNSCOPED_INFO(m);
  CHECK(msgs.empty());
}

namespace {

// Several threads share one Classifier; every result must equal the serial one exactly (the forward passes are
// serialised, the batches split the same way).
void check_concurrent_use(const std::string& dir, const LoadOptions& options) {
  const Photos photos(6);
  auto model = Classifier::load(dir, options);
  ExplainOptions eo;
  eo.discard_ratio = 0.5;
  // Serial reference: each image alone, a batch, and an explanation.
  std::vector<Inference> serial;
  for (const auto& v : photos.views) serial.push_back(model.infer(v, 3));
  const auto serial_batch = model.infer(photos.views, 3);
  const Explanation serial_explained = model.explain(photos.views[0], eo);

  constexpr int kThreads = 4, kRounds = 6;
  std::vector<std::vector<Inference>> singles(kThreads);
  std::vector<std::vector<std::vector<Inference>>> batches(kThreads);
  std::vector<std::vector<Explanation>> explained(kThreads);
  std::vector<std::string> errors(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        try {
          for (int r = 0; r < kRounds; ++r) {
            // Each thread walks the images from a different start so different calls overlap.
            const std::size_t i = (static_cast<std::size_t>(t) + r) % photos.views.size();
            singles[t].push_back(model.infer(photos.views[i], 3));
            if (r % 2 == 0) batches[t].push_back(model.infer(photos.views, 3));
            if (r % 3 == 0) explained[t].push_back(model.explain(photos.views[0], eo));
          }
        } catch (const std::exception& e) {
          errors[t] = e.what();
        }
      });
  }
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(errors[t].empty());
    REQUIRE(singles[t].size() == kRounds);
    for (int r = 0; r < kRounds; ++r) {
      const std::size_t i = (static_cast<std::size_t>(t) + r) % photos.views.size();
      require_same(singles[t][r], serial[i], 0.f);
    }
    for (const auto& b : batches[t])
      for (std::size_t i = 0; i < b.size(); ++i) require_same(b[i], serial_batch[i], 0.f);
    for (const auto& e : explained[t]) CHECK(e.map.values == serial_explained.map.values);
  }
  const auto msgs = model.validation_messages();
  for (const auto& m : msgs) UNSCOPED_INFO(m);
  CHECK(msgs.empty());
}

bool has_vulkan_device() {
  try {
    return !list_devices().empty();
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

TEST_CASE("api: concurrent calls on one Classifier give the serial results", "[api]") {
  const TinyModelDir tiny;
  check_concurrent_use(tiny.path(), cpu_options(4));
}

TEST_CASE("api: concurrent calls on one Vulkan Classifier give the serial results", "[api][vulkan]") {
  if (!has_vulkan_device()) {
    test::skip("no Vulkan device");
    return;
  }
  const TinyModelDir tiny;
  LoadOptions o;
  o.backend = BackendType::Vulkan;
  o.max_batch = 4;
  o.validation = true;
  check_concurrent_use(tiny.path(), o);
}

TEST_CASE("api: pixel formats, strides and cv::Mat views give the same result", "[api]") {
  const TinyModelDir tiny;
  auto model = Classifier::load(tiny.path(), cpu_options());
  const int w = 45, h = 38;
  auto rgb = synthetic_rgb(w, h, 2);
  const Inference ref = model.infer(rgb_view(rgb, w, h), 10);

  const cv::Mat rgb_mat(h, w, CV_8UC3, rgb.data());
  cv::Mat bgr, rgba, bgra;
  cv::cvtColor(rgb_mat, bgr, cv::COLOR_RGB2BGR);
  cv::cvtColor(rgb_mat, rgba, cv::COLOR_RGB2RGBA);
  cv::cvtColor(rgb_mat, bgra, cv::COLOR_RGB2BGRA);
  cv::randu(rgba.reshape(1, h * w).col(3), 0, 256);  // alpha is ignored, whatever it holds
  cv::randu(bgra.reshape(1, h * w).col(3), 0, 256);
  // A view into a larger buffer: a stride longer than the row.
  cv::Mat big(h + 6, w + 9, CV_8UC3, cv::Scalar(255, 0, 255));
  bgr.copyTo(big(cv::Rect(4, 3, w, h)));
  const cv::Mat bgr_roi = big(cv::Rect(4, 3, w, h));
  REQUIRE_FALSE(bgr_roi.isContinuous());

  const auto same = [&](const ImageView& v, const char* what) {
    INFO(what);
    require_same(model.infer(v, 10), ref, 0.f);
  };
  same(ImageView{bgr.data, w, h, 0, PixelFormat::Bgr8}, "BGR buffer");
  same(ImageView{rgba.data, w, h, 0, PixelFormat::Rgba8}, "RGBA buffer");
  same(ImageView{bgra.data, w, h, static_cast<std::size_t>(bgra.step[0]), PixelFormat::Bgra8}, "BGRA buffer");
  same(view(bgr), "cv::Mat BGR (as cv::imread gives)");
  same(view(bgr_roi), "cv::Mat BGR region (strided)");
  same(view(rgb_mat, true), "cv::Mat RGB");
  same(view(bgra), "cv::Mat BGRA");
  same(Image(view(bgr_roi)), "Image copied from a strided view");

  // Gray: equal to RGB with the same value in every channel.
  cv::Mat gray;
  cv::cvtColor(rgb_mat, gray, cv::COLOR_RGB2GRAY);
  cv::Mat gray3;
  cv::cvtColor(gray, gray3, cv::COLOR_GRAY2RGB);
  require_same(model.infer(view(gray), 10),
               model.infer(ImageView{gray3.data, w, h, 0, PixelFormat::Rgb8}, 10), 0.f);

  CHECK(code_of([&] { (void)view(cv::Mat()); }) == ErrorCode::InvalidArgument);
  CHECK(code_of([&] { (void)view(cv::Mat(4, 4, CV_32FC3)); }) == ErrorCode::InvalidArgument);
  CHECK(code_of([&] { (void)view(cv::Mat(4, 4, CV_8UC2)); }) == ErrorCode::InvalidArgument);
}

TEST_CASE("api: errors carry codes and name the problem", "[api]") {
  const TinyModelDir tiny;
  const test::TempDir temp;
  CHECK(code_of([&] { (void)Classifier::load((temp.path() / "missing").string()); }) == ErrorCode::Io);
  CHECK(message_of([&] { (void)Classifier::load((temp.path() / "missing").string()); })
            .find((temp.path() / "missing").string()) != std::string::npos);
  // A model directory whose config is not JSON.
  std::filesystem::create_directories(temp.path() / "broken");
  std::ofstream(temp.path() / "broken" / "config.json") << "{ not json";
  std::filesystem::copy_file(tiny.dir / "model.safetensors", temp.path() / "broken" / "model.safetensors");
  CHECK(code_of([&] { (void)Classifier::load((temp.path() / "broken").string(), cpu_options()); }) ==
        ErrorCode::ModelFormat);

  LoadOptions o = cpu_options();
  o.max_batch = 0;
  CHECK(code_of([&] { (void)Classifier::load(tiny.path(), o); }) == ErrorCode::InvalidArgument);
  o = cpu_options();
  o.device = -2;
  CHECK(code_of([&] { (void)Classifier::load(tiny.path(), o); }) == ErrorCode::InvalidArgument);
  o = cpu_options();
  o.precision = Precision::Fp16;
  CHECK(code_of([&] { (void)Classifier::load(tiny.path(), o); }) == ErrorCode::Unsupported);

  auto model = Classifier::load(tiny.path(), cpu_options());
  auto px = synthetic_rgb(20, 20, 1);
  const ImageView good = rgb_view(px, 20, 20);
  CHECK(code_of([&] { (void)model.classify(good, 0); }) == ErrorCode::InvalidArgument);
  CHECK(code_of([&] { (void)model.classify(ImageView{nullptr, 20, 20, 0, PixelFormat::Rgb8}); }) ==
        ErrorCode::InvalidArgument);
  CHECK(code_of([&] { (void)model.classify(ImageView{px.data(), 0, 20, 0, PixelFormat::Rgb8}); }) ==
        ErrorCode::InvalidArgument);
  CHECK(code_of([&] { (void)model.classify(ImageView{px.data(), 20, 20, 59, PixelFormat::Rgb8}); }) ==
        ErrorCode::InvalidArgument);
  CHECK(code_of([&] { (void)model.classify(ImageView{px.data(), 20, 20, 0, static_cast<PixelFormat>(9)}); }) ==
        ErrorCode::InvalidArgument);
  // A bad view in a batch fails the whole call and names its position.
  const std::vector<ImageView> batch{good, good, ImageView{nullptr, 20, 20, 0, PixelFormat::Rgb8}};
  CHECK(message_of([&] { (void)model.classify(batch); }).find("image 2") != std::string::npos);
  ExplainOptions eo;
  eo.discard_ratio = 1.0;
  CHECK(code_of([&] { (void)model.explain(good, eo); }) == ErrorCode::InvalidArgument);

  CHECK(code_of([&] { (void)Image::load(temp.path() / "none.jpg"); }) == ErrorCode::Io);
  std::ofstream(temp.path() / "garbage.jpg") << "this is not a JPEG";
  CHECK(code_of([&] { (void)Image::load(temp.path() / "garbage.jpg"); }) == ErrorCode::ImageDecode);
  CHECK(message_of([&] { (void)Image::load(temp.path() / "garbage.jpg"); }).find("garbage.jpg") != std::string::npos);
  CHECK(code_of([&] { Image(good).save(temp.path() / "x.gif"); }) == ErrorCode::InvalidArgument);
  CHECK(code_of([&] { (void)render_overlay(good, AttentionMap{}); }) == ErrorCode::InvalidArgument);

  // Moved-from objects report misuse instead of crashing.
  Classifier moved = std::move(model);
  CHECK(code_of([&] { (void)model.info(); }) == ErrorCode::InvalidArgument);  // NOLINT(bugprone-use-after-move)
  CHECK_FALSE(moved.classify(good).empty());
  CHECK(std::string(to_string(ErrorCode::ImageDecode)) == "image_decode");
}

TEST_CASE("api: quantize_model writes an int8 copy that loads as int8 and answers as int8 at load does", "[api]") {
  const TinyModelDir tiny;
  const test::TempDir temp;
  const std::string out = (temp.path() / "int8").string();
  const QuantizeResult r = quantize_model(tiny.path(), out);
  CHECK(r.source == tiny.path());
  CHECK(r.directory == out);
  CHECK(r.int8_layers == 4 * Classifier::load(tiny.path(), cpu_options()).info().depth);
  CHECK(r.group == 0);
  CHECK(r.bytes < r.source_bytes);
  CHECK(r.bytes == std::filesystem::file_size(temp.path() / "int8" / "model.safetensors"));

  auto copy = Classifier::load(out, cpu_options());  // Precision::Auto: int8 for an int8 model
  CHECK(copy.info().precision == "int8");
  LoadOptions o = cpu_options();
  o.precision = Precision::Int8;
  auto at_load = Classifier::load(tiny.path(), o);
  const Photos photos(3);
  const auto a = copy.infer(photos.views), b = at_load.infer(photos.views);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i].logits == b[i].logits);  // the same int8 weights

  const std::string grouped = (temp.path() / "g8").string();
  CHECK(quantize_model(tiny.path(), grouped, {.group = 8}).group == 8);
  CHECK(Classifier::load(grouped, cpu_options()).info().precision == "int8");

  // Refused: a group a file cannot hold, an int8 source, the source's own directory, a family int8 does not run.
  CHECK(message_of([&] { (void)quantize_model(tiny.path(), grouped, {.group = 12}); }).find("group 12") !=
        std::string::npos);
  CHECK(code_of([&] { (void)quantize_model(out, (temp.path() / "again").string()); }) == ErrorCode::InvalidArgument);
  CHECK(message_of([&] { (void)quantize_model(tiny.path(), tiny.path()); }).find("own directory") != std::string::npos);
  CHECK(code_of([&] { (void)quantize_model((temp.path() / "missing").string(), out); }) == ErrorCode::Io);
  CHECK(code_of([&] {
          (void)quantize_model(VITVK_SOURCE_DIR "/tests/data/gfnet/gfnet_tiny_odd", (temp.path() / "gf").string());
        }) == ErrorCode::Unsupported);
  CHECK_FALSE(std::filesystem::exists(temp.path() / "gf"));
}

TEST_CASE("api: explain returns the library's rollout map and crop", "[api]") {
  const TinyModelDir tiny;
  auto model = Classifier::load(tiny.path(), cpu_options());
  const int w = 70, h = 44;
  auto px = synthetic_rgb(w, h, 4);
  const ForwardResult ref = oracle(tiny.path(), as_rgb_mat(px, w, h), true);
  for (const auto fusion : {AttentionFusion::Mean, AttentionFusion::Max, AttentionFusion::Min})
    for (const double discard : {0.0, 0.6}) {
      ExplainOptions eo;
      eo.fusion = fusion;
      eo.discard_ratio = discard;
      eo.top_k = 2;
      const Explanation e = model.explain(rgb_view(px, w, h), eo);
      RolloutOptions ro;
      ro.head_fusion = static_cast<HeadFusion>(static_cast<int>(fusion));
      ro.discard_ratio = discard;
      const RolloutMap expected = rollout(ref, 0, ro, Model::load(tiny.path()).dims);
      CHECK(e.map.width == 4);
      CHECK(e.map.height == 4);
      REQUIRE(e.map.values.size() == expected.values.size());
      for (std::size_t i = 0; i < expected.values.size(); ++i) CHECK(e.map.values[i] == Approx(expected.values[i]).margin(1e-6));
      CHECK(*std::max_element(e.map.values.begin(), e.map.values.end()) == Approx(1.f));
      REQUIRE(e.top.size() == 2);
      CHECK(e.top[0].index == model.classify(rgb_view(px, w, h), 1)[0].index);
      CHECK(e.map.options.discard_ratio == discard);
    }
  // The crop is timm's: shorter side 44 -> floor(32 / 0.875) = 36, so 70x44 -> 57x36, centre 32x32.
  const Explanation e = model.explain(rgb_view(px, w, h));
  CHECK(e.map.crop.source_width == w);
  CHECK(e.map.crop.source_height == h);
  CHECK(e.map.crop.resized_height == 36);
  CHECK(e.map.crop.resized_width == 57);
  CHECK(e.map.crop.crop_width == 32);
  CHECK(e.map.crop.crop_x == (57 - 32) / 2);

  // The overlay covers the photo, colours the crop and dims the rest.
  OverlayStyle style;
  style.opacity = 1.f;
  const Image overlay = render_overlay(rgb_view(px, w, h), e.map, style);
  CHECK(overlay.width() == w);
  CHECK(overlay.height() == h);
  CHECK(overlay.format() == PixelFormat::Rgb8);
  const std::uint8_t* corner = overlay.data();  // (0, 0) lies outside the crop: the photo, dimmed
  CHECK(std::abs(corner[0] - px[0] * style.outside_brightness) <= 1.5);
  style.colormap = "no-such-map";
  CHECK(code_of([&] { (void)render_overlay(rgb_view(px, w, h), e.map, style); }) == ErrorCode::InvalidArgument);
}

TEST_CASE("api: Image loads, copies and saves", "[api]") {
  const test::TempDir temp;
  auto px = synthetic_rgb(31, 17, 6);
  const Image original(rgb_view(px, 31, 17));
  CHECK(original.width() == 31);
  CHECK(original.height() == 17);
  CHECK(original.stride() == 93);
  CHECK(std::equal(px.begin(), px.end(), original.data()));
  original.save(temp.path() / "copy.png");
  const Image loaded = Image::load(temp.path() / "copy.png");
  REQUIRE(loaded.width() == 31);
  REQUIRE(loaded.height() == 17);
  CHECK(loaded.format() == PixelFormat::Rgb8);
  CHECK(std::equal(px.begin(), px.end(), loaded.data()));  // PNG is lossless: RGB order kept through the file
  // In-memory decode gives the same pixels; a pixel limit is enforced.
  std::ifstream in(temp.path() / "copy.png", std::ios::binary);
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Image decoded = Image::decode(bytes, "copy.png");
  CHECK(std::equal(px.begin(), px.end(), decoded.data()));
  CHECK(code_of([&] { (void)Image::decode(bytes, "copy.png", 100); }) == ErrorCode::ImageDecode);
  // Gray images save as gray.
  std::vector<std::uint8_t> g(8 * 8, 99);
  Image(ImageView{g.data(), 8, 8, 0, PixelFormat::Gray8}).save(temp.path() / "gray.png");
  const Image gray = Image::load(temp.path() / "gray.png");
  CHECK(gray.data()[0] == 99);
  CHECK(gray.data()[1] == 99);
}

TEST_CASE("api: list_devices describes every Vulkan device and prefers one", "[api][vulkan]") {
  std::vector<DeviceInfo> devices;
  try {
    devices = list_devices();
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Vulkan);
    test::skip(std::string("no Vulkan: ") + e.what());
    return;
  }
  int preferred = 0;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    CHECK(devices[i].index == static_cast<int>(i));
    CHECK_FALSE(devices[i].name.empty());
    CHECK_FALSE(devices[i].api_version.empty());
    preferred += devices[i].preferred;
  }
  CHECK(preferred == (devices.empty() ? 0 : 1));
}

TEST_CASE("api: ViT-Ti classifies the sample photos", "[api]") {
  // The default model ships in the repository (models/): no shared data needed.
  const auto dir = (std::filesystem::path(VITVK_SOURCE_DIR) / "models" / "vit_tiny_patch16_224.augreg_in21k_ft_in1k").string();
  auto model = Classifier::load(dir, cpu_options());
  const std::filesystem::path images = std::filesystem::path(VITVK_SOURCE_DIR) / "samples" / "images";
  const Image chelsea = Image::load(images / "chelsea.jpg");
  const auto top = model.classify(chelsea, 5);
  REQUIRE(top.size() == 5);
  INFO(top[0].label << " " << top[0].probability);
  CHECK((top[0].label == "tabby" || top[0].label == "tiger cat" || top[0].label == "Egyptian cat"));
  // The embedding is the oracle's class token for this photo (decoded and preprocessed by the library).
  const ForwardResult ref = oracle(dir, decode_image_file(images / "chelsea.jpg"));
  const auto embedding = model.embed(chelsea);
  REQUIRE(embedding.size() == 192);
  for (int i = 0; i < 192; ++i) CHECK(embedding[i] == Approx(ref.features[i]).margin(1e-5));
  // Retrieval sanity: the photo is closer to itself slightly shifted than to another photo.
  const auto cosine = [](const std::vector<float>& a, const std::vector<float>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i], aa += a[i] * a[i], bb += b[i] * b[i];
    return ab / std::sqrt(aa * bb);
  };
  const ImageView cv = chelsea.view();
  const ImageView shifted{cv.data + 6 * cv.stride + 18, cv.width - 6, cv.height - 6, cv.stride, cv.format};
  const auto coffee = model.embed(Image::load(images / "coffee.jpg"));
  CHECK(cosine(embedding, model.embed(shifted)) > cosine(embedding, coffee));
}
