// The transform on real photos against the shared PyTorch references: preprocessed inputs, and top-1
// agreement of decode + preprocess + CPU forward with <model>.samples.jsonl.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>

#include "engine/backend.hpp"
#include "image/preprocess.hpp"
#include "model/config.hpp"
#include "support/test_data.hpp"

using namespace vitvk;

namespace {

struct SharedModel {
  const char* prefix;  // reference file prefix
  const char* dir;     // models/<dir>
};
const SharedModel kModels[] = {{"vit_tiny_augreg", "vit_tiny_patch16_224.augreg_in21k_ft_in1k"},
                               {"deit_tiny_pipevit", "deit_tiny_patch16_224.pipevit"}};
const char* kImages[] = {"n01440764_tench", "n01443537_goldfish", "n02096051_Airedale", "n02123045_tabby"};

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  REQUIRE(a.size() == b.size());
  float m = 0.f;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// The geometry the shared reference inputs were made with, found by search (see the test below): the long
// side rounded rather than truncated, and the crop offset floored rather than rounded.
std::vector<float> reference_style_transform(const cv::Mat& rgb, const PreprocessConfig& cfg) {
  const CropGeometry g = plan_crop_geometry(rgb.cols, rgb.rows, cfg);
  const int s = std::min(g.resized_w, g.resized_h);  // floor(size / crop_pct): the same in both
  const bool portrait = rgb.cols <= rgb.rows;
  const double shorter = portrait ? rgb.cols : rgb.rows, longer = portrait ? rgb.rows : rgb.cols;
  const int new_long = static_cast<int>(std::nearbyint(s * longer / shorter));
  const int w = portrait ? s : new_long, h = portrait ? new_long : s;
  const cv::Rect crop((w - cfg.width) / 2, (h - cfg.height) / 2, cfg.width, cfg.height);
  const cv::Mat r = resize_like_pil(rgb, w, h, cfg.interpolation, crop);
  std::vector<float> out(static_cast<std::size_t>(3) * cfg.width * cfg.height);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < cfg.height; ++y)
      for (int x = 0; x < cfg.width; ++x)
        out[(static_cast<std::size_t>(c) * cfg.height + y) * cfg.width + x] =
            (static_cast<float>(r.at<cv::Vec3b>(y, x)[c]) / 255.0f - cfg.mean[c]) / cfg.std[c];
  return out;
}

}  // namespace

TEST_CASE("preprocess on the shared photos vs the reference inputs", "[image][preprocess][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  for (const auto& m : kModels) {
    const PreprocessConfig cfg = load_model_config(shared / "models" / m.dir / "config.json").preprocess;
    for (const char* img : kImages) {
      const cv::Mat rgb = decode_image_file(shared / "data" / "imagenet-sample-images" / (std::string(img) + ".JPEG"));
      const auto ref = test::read_f32(shared / "reference" / (std::string(m.prefix) + "__" + img + ".input_f32_3x224x224.bin"),
                                      3 * 224 * 224);
      CropGeometry g;
      const auto ours = preprocess(rgb, cfg, &g);
      const auto theirs = reference_style_transform(rgb, cfg);
      const float d_ours = max_abs_diff(ours, ref), d_theirs = max_abs_diff(theirs, ref);
      // Decode + resample + normalise are exact: with the reference's geometry the input is reproduced bit for bit.
      INFO(m.prefix << " / " << img << " (" << rgb.cols << "x" << rgb.rows << "): torchvision geometry resized "
                    << g.resized_w << "x" << g.resized_h << " crop (" << g.crop_x << "," << g.crop_y
                    << "), max |diff| " << d_ours << "; reference geometry max |diff| " << d_theirs);
      CHECK(d_theirs == 0.0f);
      // With torchvision's geometry the input is the same whenever both geometries agree (portrait photos here).
      const bool same_geometry = max_abs_diff(ours, theirs) == 0.0f;
      if (same_geometry) CHECK(d_ours == 0.0f);
      WARN(m.prefix << " / " << img << ": preprocess() vs reference input max |diff| = " << d_ours
                    << (same_geometry ? " (same geometry)" : " (reference rounds the long side / floors the crop offset)"));
    }
  }
}

TEST_CASE("decode + preprocess + CPU forward agree on top-1 with the reference run", "[image][engine][cpu][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  const auto photos = shared / "data" / "imagenet-sample-images";
  // A fixed subset spread over the sorted file list; VITVK_FULL_AGREEMENT=1 runs all 1000.
  const char* full_env = std::getenv("VITVK_FULL_AGREEMENT");
  const bool full = full_env && std::string(full_env) == "1";
  const int stride = full ? 1 : 5;
  for (const auto& m : kModels) {
    std::map<std::string, int> expected;
    {
      std::ifstream in(shared / "reference" / (std::string(m.dir) + ".samples.jsonl"));
      REQUIRE(in);
      for (std::string line; std::getline(in, line);) {
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line);
        expected[j["file"].get<std::string>()] = j["top5"][0].get<int>();
      }
    }
    REQUIRE(expected.size() == 1000);
    std::vector<std::string> files;
    int i = 0;
    for (const auto& [file, top1] : expected)
      if (i++ % stride == 0) files.push_back(file);

    auto model = std::make_shared<const Model>(Model::load(shared / "models" / m.dir));
    const PreprocessConfig& cfg = model->config.preprocess;
    auto cpu = make_cpu_backend(model);
    const std::size_t per_image = static_cast<std::size_t>(3) * cfg.height * cfg.width;
    const int batch = 16;
    int agree = 0;
    std::vector<std::string> disagreements;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t start = 0; start < files.size(); start += batch) {
      const int n = static_cast<int>(std::min<std::size_t>(batch, files.size() - start));
      std::vector<float> input(per_image * n);
      for (int b = 0; b < n; ++b)
        preprocess_into(decode_image_file(photos / files[start + b]), cfg,
                        std::span<float>(input).subspan(per_image * b, per_image));
      const auto r = cpu->forward(input, n, {});
      for (int b = 0; b < n; ++b) {
        const auto logits = r.logits_of(b);
        const int top1 = static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        if (top1 == expected[files[start + b]]) ++agree;
        else disagreements.push_back(files[start + b]);
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double pct = 100.0 * agree / static_cast<double>(files.size());
    std::string which;
    for (const auto& f : disagreements) which += " " + f;
    WARN(m.dir << ": top-1 agreement " << agree << "/" << files.size() << " = " << pct << "% in " << secs
               << " s; disagreeing:" << which);
    CHECK(pct >= 99.5);
  }
}
