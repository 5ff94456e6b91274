#include "explain/overlay.hpp"

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <array>
#include <utility>

#include "core/file.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

constexpr std::array<std::pair<const char*, int>, 22> kColormaps{{
    {"viridis", cv::COLORMAP_VIRIDIS}, {"inferno", cv::COLORMAP_INFERNO}, {"magma", cv::COLORMAP_MAGMA},
    {"plasma", cv::COLORMAP_PLASMA},   {"turbo", cv::COLORMAP_TURBO},     {"cividis", cv::COLORMAP_CIVIDIS},
    {"jet", cv::COLORMAP_JET},         {"hot", cv::COLORMAP_HOT},         {"parula", cv::COLORMAP_PARULA},
    {"bone", cv::COLORMAP_BONE},       {"autumn", cv::COLORMAP_AUTUMN},   {"winter", cv::COLORMAP_WINTER},
    {"rainbow", cv::COLORMAP_RAINBOW}, {"ocean", cv::COLORMAP_OCEAN},     {"summer", cv::COLORMAP_SUMMER},
    {"spring", cv::COLORMAP_SPRING},   {"cool", cv::COLORMAP_COOL},       {"hsv", cv::COLORMAP_HSV},
    {"pink", cv::COLORMAP_PINK},       {"twilight", cv::COLORMAP_TWILIGHT},
    {"twilight_shifted", cv::COLORMAP_TWILIGHT_SHIFTED}, {"deepgreen", cv::COLORMAP_DEEPGREEN},
}};

[[noreturn]] void invalid(const std::string& what) { throw Error(ErrorCode::InvalidArgument, "overlay: " + what); }

void check_photo(const cv::Mat& photo) {
  if (photo.empty() || photo.type() != CV_8UC3) invalid("the photo must be a non-empty 8-bit 3-channel RGB image");
}

void check_options(const OverlayOptions& o) {
  if (!(o.opacity >= 0.f && o.opacity <= 1.f)) invalid(fmt::format("opacity {} is outside [0, 1]", o.opacity));
  if (!(o.outside_brightness >= 0.f && o.outside_brightness <= 1.f))
    invalid(fmt::format("outside brightness {} is outside [0, 1]", o.outside_brightness));
  if (std::none_of(kColormaps.begin(), kColormaps.end(), [&](const auto& c) { return c.second == o.colormap; }))
    invalid(fmt::format("unknown colormap id {}", o.colormap));
}

}  // namespace

int parse_colormap(const std::string& name) {
  for (const auto& [n, id] : kColormaps)
    if (name == n) return id;
  std::string all;
  for (const auto& [n, id] : kColormaps) all += (all.empty() ? "" : ", ") + std::string(n);
  throw Error(ErrorCode::InvalidArgument, "unknown colormap '" + name + "' (expected one of: " + all + ")");
}

std::vector<std::string> colormap_names() {
  std::vector<std::string> names;
  for (const auto& [n, id] : kColormaps) names.emplace_back(n);
  return names;
}

cv::Rect2d crop_rect_in(const CropGeometry& g, cv::Size photo_size) {
  if (g.orig_w <= 0 || g.orig_h <= 0 || g.resized_w <= 0 || g.resized_h <= 0 || g.crop_w <= 0 || g.crop_h <= 0)
    invalid("crop geometry is empty");
  // photo_size may be a scaled copy of the original (thumbnails): scale the original-pixel rectangle with it.
  const double sx = static_cast<double>(photo_size.width) / g.orig_w;
  const double sy = static_cast<double>(photo_size.height) / g.orig_h;
  return {g.src_x0() * sx, g.src_y0() * sy, (g.src_x1() - g.src_x0()) * sx, (g.src_y1() - g.src_y0()) * sy};
}

cv::Mat map_on_photo(const RolloutMap& map, const CropGeometry& geometry, cv::Size photo_size, cv::Mat* inside) {
  if (map.w <= 0 || map.h <= 0 || map.values.size() != static_cast<std::size_t>(map.w) * map.h)
    invalid("the rollout map is empty or its size does not match width x height");
  if (photo_size.width <= 0 || photo_size.height <= 0) invalid("empty photo");
  const cv::Rect2d r = crop_rect_in(geometry, photo_size);
  const double sx = r.width / map.w, sy = r.height / map.h;
  // Map cell u (centre u + 0.5 in edge coordinates) lands at photo edge coordinate x0 + (u + 0.5) * sx;
  // OpenCV puts pixel centres at integers, hence the -0.5.
  const cv::Matx23d m(sx, 0, r.x + 0.5 * sx - 0.5, 0, sy, r.y + 0.5 * sy - 0.5);
  const cv::Mat src(map.h, map.w, CV_32F, const_cast<float*>(map.values.data()));
  cv::Mat out;
  cv::warpAffine(src, out, m, photo_size, cv::INTER_CUBIC, cv::BORDER_REPLICATE);
  cv::min(cv::max(out, 0.0), 1.0, out);  // bicubic overshoots
  cv::Mat mask(photo_size, CV_8U, cv::Scalar(0));
  // Pixels whose centre lies inside [x0, x1) x [y0, y1).
  const int x0 = std::clamp(static_cast<int>(std::ceil(r.x - 0.5)), 0, photo_size.width);
  const int x1 = std::clamp(static_cast<int>(std::ceil(r.x + r.width - 0.5)), 0, photo_size.width);
  const int y0 = std::clamp(static_cast<int>(std::ceil(r.y - 0.5)), 0, photo_size.height);
  const int y1 = std::clamp(static_cast<int>(std::ceil(r.y + r.height - 0.5)), 0, photo_size.height);
  if (x1 > x0 && y1 > y0) mask(cv::Rect(x0, y0, x1 - x0, y1 - y0)).setTo(255);
  out.setTo(0.0, ~mask);
  if (inside) *inside = mask;
  return out;
}

cv::Mat render_heat_layer(const cv::Mat& photo_rgb8, const RolloutMap& map, const CropGeometry& geometry,
                          const OverlayOptions& options) {
  check_photo(photo_rgb8);
  check_options(options);
  cv::Mat inside;
  const cv::Mat values = map_on_photo(map, geometry, photo_rgb8.size(), &inside);
  cv::Mat gray, heat;
  values.convertTo(gray, CV_8U, 255.0);
  cv::applyColorMap(gray, heat, options.colormap);  // BGR
  cv::cvtColor(heat, heat, cv::COLOR_BGR2RGB);
  cv::Mat layer;
  photo_rgb8.convertTo(layer, CV_8U, options.outside_brightness);
  heat.copyTo(layer, inside);
  return layer;
}

cv::Mat render_overlay(const cv::Mat& photo_rgb8, const RolloutMap& map, const CropGeometry& geometry,
                       const OverlayOptions& options) {
  const cv::Mat layer = render_heat_layer(photo_rgb8, map, geometry, options);
  cv::Mat out;
  cv::addWeighted(photo_rgb8, 1.0 - options.opacity, layer, options.opacity, 0.0, out);
  return out;
}

void write_image_atomic(const std::filesystem::path& path, const cv::Mat& rgb8, int jpeg_quality) {
  if (rgb8.empty() || rgb8.depth() != CV_8U || (rgb8.channels() != 3 && rgb8.channels() != 1))
    throw Error(ErrorCode::InvalidArgument, path.string() + ": can only write non-empty 8-bit RGB or gray images");
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::vector<int> params;
  if (ext == ".jpg" || ext == ".jpeg")
    params = {cv::IMWRITE_JPEG_QUALITY, std::clamp(jpeg_quality, 1, 100)};
  else if (ext == ".png")
    params = {cv::IMWRITE_PNG_COMPRESSION, 6};
  else
    throw Error(ErrorCode::InvalidArgument, path.string() + ": unsupported image extension (use .png or .jpg)");
  cv::Mat bgr;
  if (rgb8.channels() == 3)
    cv::cvtColor(rgb8, bgr, cv::COLOR_RGB2BGR);
  else
    bgr = rgb8;
  std::vector<uint8_t> bytes;
  if (!cv::imencode(ext, bgr, bytes, params)) throw Error(ErrorCode::Io, path.string() + ": image encoding failed");
  write_file_atomic(path, bytes);
}

void write_overlay_png(const std::filesystem::path& path, const cv::Mat& photo_rgb8, const RolloutMap& map,
                       const CropGeometry& geometry, const OverlayOptions& options) {
  write_image_atomic(path, render_overlay(photo_rgb8, map, geometry, options));
}

}  // namespace vitvk
