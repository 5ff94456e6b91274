// Localization sanity with the real models: a photo pasted on a flat grey canvas should draw the rollout's
// mass to where it was pasted, wherever that is.
#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>

#include "engine/backend.hpp"
#include "explain/rollout.hpp"
#include "support/test_data.hpp"

using namespace vitvk;

namespace {

// The canvas in model-input form (CHW, normalised with the model's mean/std): preprocessing is not under test.
std::vector<float> to_input(const cv::Mat& rgb8, const PreprocessConfig& pc) {
  std::vector<float> x(static_cast<std::size_t>(3) * rgb8.rows * rgb8.cols);
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < rgb8.rows; ++y)
      for (int xx = 0; xx < rgb8.cols; ++xx)
        x[(static_cast<std::size_t>(c) * rgb8.rows + y) * rgb8.cols + xx] =
            (rgb8.at<cv::Vec3b>(y, xx)[c] / 255.f - pc.mean[c]) / pc.std[c];
  return x;
}

}  // namespace

TEST_CASE("rollout mass concentrates on a photo pasted on a grey canvas", "[explain][rollout][shared]") {
  VITVK_REQUIRE_SHARED_DATA(shared);
  const auto photo_path = shared / "data/imagenet-sample-images/n07745940_strawberry.JPEG";
  cv::Mat photo = cv::imread(photo_path.string(), cv::IMREAD_COLOR);
  REQUIRE(!photo.empty());
  cv::cvtColor(photo, photo, cv::COLOR_BGR2RGB);

  // 5x5 patches (80x80 px, 25/196 = 12.8% of the area), pasted patch-aligned at two far-apart places.
  constexpr int kCells = 5;
  const cv::Point places[] = {{1, 2}, {8, 7}};
  const char* models[] = {"vit_tiny_patch16_224.augreg_in21k_ft_in1k", "deit_tiny_patch16_224.pipevit"};
  const RolloutOptions settings[] = {{HeadFusion::Mean, 0.0}, {HeadFusion::Max, 0.9}, {HeadFusion::Min, 0.0}};
  double worst = 1e9;
  for (const char* name : models) {
    auto model = std::make_shared<const Model>(Model::load(shared / "models" / name));
    const ModelDims& d = model->dims;
    REQUIRE(d.patch == 16);
    cv::Mat small;
    cv::resize(photo, small, {kCells * d.patch, kCells * d.patch}, 0, 0, cv::INTER_AREA);
    std::vector<float> batch;
    for (const auto& p : places) {
      cv::Mat canvas(d.img_h, d.img_w, CV_8UC3, cv::Scalar(128, 128, 128));
      small.copyTo(canvas(cv::Rect(p.x * d.patch, p.y * d.patch, small.cols, small.rows)));
      const auto x = to_input(canvas, model->config.preprocess);
      batch.insert(batch.end(), x.begin(), x.end());
    }
    auto cpu = make_cpu_backend(model);
    const auto r = cpu->forward(batch, 2, {.explain = true});
    const double area_share = double(kCells * kCells) / d.num_patches;
    for (int b = 0; b < 2; ++b)
      for (const auto& opt : settings) {
        const auto m = rollout(r, b, opt, d);
        double inside = 0, total = 0;
        const auto peak = std::max_element(m.values.begin(), m.values.end()) - m.values.begin();
        const int px = static_cast<int>(peak % m.w), py = static_cast<int>(peak / m.w);
        const bool peak_inside = px >= places[b].x && px < places[b].x + kCells && py >= places[b].y && py < places[b].y + kCells;
        for (int y = 0; y < m.h; ++y)
          for (int x = 0; x < m.w; ++x) {
            total += m.at(x, y);
            if (x >= places[b].x && x < places[b].x + kCells && y >= places[b].y && y < places[b].y + kCells) inside += m.at(x, y);
          }
        const double share = inside / total, ratio = share / area_share;
        std::printf("localization %-42s paste at cell (%d,%d) %-4s discard %.1f: mass inside %.3f vs area %.3f (x%.2f), peak (%d,%d)%s\n",
                    name, places[b].x, places[b].y, to_string(opt.head_fusion), opt.discard_ratio, share, area_share, ratio,
                    px, py, peak_inside ? " inside" : " OUTSIDE");
        worst = std::min(worst, ratio);
        INFO(name << " place " << b << " " << to_string(opt.head_fusion) << " " << opt.discard_ratio << ": " << share);
        // Measured: 2.97x (DeiT, mean, no discard) to 6.7x (max, discard 0.9); 2x leaves headroom.
        CHECK(ratio > 2.0);
        // The peak also lies in the pasted region for mean and max fusion; min fusion of the AugReg ViT puts
        // it on a background corner token (0,0) although most of the mass is still inside.
        if (opt.head_fusion != HeadFusion::Min) CHECK(peak_inside);
      }
  }
  std::printf("localization worst ratio: %.2f\n", worst);
}
