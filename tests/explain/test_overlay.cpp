#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "explain/overlay.hpp"
#include "support/test_data.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

// A 400x300 photo resized (shorter side) to 256x192 and centre-cropped to 160x160: crop at x = 48 of 256,
// i.e. the original's columns [75, 325) and rows [25, 275) (scale 400/256 = 1.5625).
CropGeometry geometry_400x300() {
  CropGeometry g;
  g.orig_w = 400;
  g.orig_h = 300;
  g.resized_w = 256;
  g.resized_h = 192;
  g.crop_x = 48;
  g.crop_y = 16;
  g.crop_w = 160;
  g.crop_h = 160;
  return g;
}

RolloutMap one_hot(int w, int h, int hx, int hy) {
  RolloutMap m;
  m.w = w;
  m.h = h;
  m.values.assign(static_cast<std::size_t>(w) * h, 0.f);
  m.values[static_cast<std::size_t>(hy) * w + hx] = 1.f;
  return m;
}

cv::Mat photo_400x300() {
  cv::Mat p(300, 400, CV_8UC3);
  for (int y = 0; y < p.rows; ++y)
    for (int x = 0; x < p.cols; ++x) p.at<cv::Vec3b>(y, x) = {static_cast<uint8_t>(x / 2), static_cast<uint8_t>(y / 2), 200};
  return p;
}

}  // namespace

TEST_CASE("overlay map lands on the crop region of the original photo", "[explain][overlay]") {
  const CropGeometry g = geometry_400x300();
  const cv::Rect2d r = crop_rect_in(g, {400, 300});
  CHECK(r.x == Approx(75.0));
  CHECK(r.y == Approx(25.0));
  CHECK(r.width == Approx(250.0));
  CHECK(r.height == Approx(250.0));

  // One hot cell (x 3, y 1) of a 5x5 map: each cell covers 50x50 original pixels, so the cell spans
  // x [225, 275), y [75, 125); its centre (250, 100) is the peak.
  const auto m = one_hot(5, 5, 3, 1);
  cv::Mat inside;
  const cv::Mat on = map_on_photo(m, g, {400, 300}, &inside);
  REQUIRE(on.type() == CV_32F);
  cv::Point peak;
  double mx;
  cv::minMaxLoc(on, nullptr, &mx, nullptr, &peak);
  CHECK(mx == Approx(1.0).margin(0.02));
  CHECK(std::abs(peak.x + 0.5 - 250.0) <= 1.0);
  CHECK(std::abs(peak.y + 0.5 - 100.0) <= 1.0);
  // Smooth (bicubic), clamped to [0, 1], zero outside the crop, mask exactly the crop's pixels.
  double mn;
  cv::minMaxLoc(on, &mn, &mx);
  CHECK(mn >= 0.0);
  CHECK(mx <= 1.0);
  CHECK(on.at<float>(100, 240) > 0.5f);
  CHECK(on.at<float>(100, 200) < 0.05f);
  CHECK(cv::countNonZero(inside) == 250 * 250);
  CHECK(inside.at<uint8_t>(25, 75) == 255);
  CHECK(inside.at<uint8_t>(24, 75) == 0);
  CHECK(inside.at<uint8_t>(274, 324) == 255);
  CHECK(inside.at<uint8_t>(275, 324) == 0);
  const cv::Mat outside_nonzero = (on > 0) & (inside == 0);
  CHECK(cv::countNonZero(outside_nonzero) == 0);

  // The same geometry on a half-size copy (thumbnails) scales with it.
  const cv::Mat half = map_on_photo(m, g, {200, 150});
  cv::minMaxLoc(half, nullptr, nullptr, nullptr, &peak);
  CHECK(std::abs(peak.x + 0.5 - 125.0) <= 1.0);
  CHECK(std::abs(peak.y + 0.5 - 50.0) <= 1.0);
}

TEST_CASE("overlay blends the colormap with the photo and dims outside the crop", "[explain][overlay]") {
  const cv::Mat photo = photo_400x300();
  const CropGeometry g = geometry_400x300();
  const auto m = one_hot(5, 5, 3, 1);
  OverlayOptions o;
  o.colormap = parse_colormap("inferno");
  o.outside_brightness = 0.5f;

  o.opacity = 0.f;  // photo only
  CHECK(cv::norm(render_overlay(photo, m, g, o), photo, cv::NORM_INF) == 0.0);

  o.opacity = 1.f;
  const cv::Mat layer = render_heat_layer(photo, m, g, o);
  const cv::Mat full = render_overlay(photo, m, g, o);
  CHECK(cv::norm(full, layer, cv::NORM_INF) <= 1.0);
  // Inside: colormap colours. Hot cell centre = inferno(255) (pale yellow), a cold cell = inferno(0) (black).
  cv::Mat lut(1, 2, CV_8U), ref;
  lut.at<uint8_t>(0, 0) = 0;
  lut.at<uint8_t>(0, 1) = 255;
  cv::applyColorMap(lut, ref, cv::COLORMAP_INFERNO);
  cv::cvtColor(ref, ref, cv::COLOR_BGR2RGB);
  CHECK(cv::norm(cv::Vec3d(layer.at<cv::Vec3b>(100, 250)) - cv::Vec3d(ref.at<cv::Vec3b>(0, 1))) < 12.0);
  CHECK(cv::norm(cv::Vec3d(layer.at<cv::Vec3b>(250, 100)) - cv::Vec3d(ref.at<cv::Vec3b>(0, 0))) < 3.0);
  // Outside: the photo at half brightness.
  const cv::Vec3b p = photo.at<cv::Vec3b>(10, 10), q = layer.at<cv::Vec3b>(10, 10);
  for (int c = 0; c < 3; ++c) CHECK(std::abs(q[c] - p[c] * 0.5) <= 1.0);

  o.opacity = 0.4f;  // overlay = 0.6 photo + 0.4 layer, everywhere
  const cv::Mat mid = render_overlay(photo, m, g, o);
  cv::Mat expect;
  cv::addWeighted(photo, 0.6, layer, 0.4, 0.0, expect);
  CHECK(cv::norm(mid, expect, cv::NORM_INF) <= 1.0);

  // Written atomically as a PNG that decodes back to the same pixels.
  test::TempDir tmp;
  const auto path = tmp.path() / "overlay.png";
  write_overlay_png(path, photo, m, g, o);
  cv::Mat back = cv::imread(path.string(), cv::IMREAD_COLOR);
  REQUIRE(!back.empty());
  cv::cvtColor(back, back, cv::COLOR_BGR2RGB);
  CHECK(cv::norm(back, mid, cv::NORM_INF) == 0.0);
  CHECK(std::distance(std::filesystem::directory_iterator(tmp.path()), {}) == 1);  // no temp file left
}

TEST_CASE("overlay rejects bad options and inputs", "[explain][overlay]") {
  const cv::Mat photo = photo_400x300();
  const CropGeometry g = geometry_400x300();
  const auto m = one_hot(5, 5, 0, 0);
  CHECK_THROWS_WITH(parse_colormap("rainbowish"), Catch::Contains("viridis"));
  CHECK(parse_colormap("turbo") == cv::COLORMAP_TURBO);
  CHECK(OverlayOptions{}.colormap == cv::COLORMAP_VIRIDIS);
  OverlayOptions o;
  o.opacity = 1.5f;
  CHECK_THROWS_WITH(render_overlay(photo, m, g, o), Catch::Contains("opacity"));
  CHECK_THROWS_AS(render_overlay(cv::Mat(), m, g), Error);
  CHECK_THROWS_AS(render_overlay(photo, RolloutMap{}, g), Error);
  CHECK_THROWS_WITH(render_overlay(photo, m, CropGeometry{}), Catch::Contains("geometry"));
  test::TempDir tmp;
  CHECK_THROWS_WITH(write_image_atomic(tmp.path() / "x.bmp", photo), Catch::Contains("x.bmp"));
  CHECK_THROWS_AS(write_image_atomic(tmp.path() / "no-dir" / "x.png", photo), Error);
}
