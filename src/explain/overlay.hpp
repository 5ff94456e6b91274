#pragma once
// Rollout maps drawn over the original photo: the map covers exactly the region the model saw (the crop,
// mapped back through CropGeometry), upsampled bicubically (clamped to [0, 1]), coloured with an OpenCV
// colormap and blended with an opacity. Outside the crop the photo is dimmed: the model never saw that part.
//
//   heat layer  = colormap(map) inside the crop, photo * outside_brightness outside it
//   overlay     = (1 - opacity) * photo + opacity * heat layer
// so the report page, which stacks the heat layer over the photo with CSS opacity, shows exactly the PNG
// written here at the same opacity.
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "explain/rollout.hpp"
#include "image/preprocess.hpp"

namespace vitvk {

struct OverlayOptions {
  float opacity = 0.5f;                  // [0, 1]: 0 = photo only, 1 = heat only (inside the crop)
  int colormap = cv::COLORMAP_VIRIDIS;  // an OpenCV cv::ColormapTypes value (perceptually uniform default)
  float outside_brightness = 0.45f;      // [0, 1]: heat-layer brightness of the photo outside the crop
};

// "viridis" (default), "inferno", "magma", "plasma", "turbo", "cividis", "jet", "hot", "parula", ...
// Throws Error(InvalidArgument) listing the accepted names.
int parse_colormap(const std::string& name);
std::vector<std::string> colormap_names();

// The crop rectangle in the pixel frame of `photo_size`, which may be a scaled copy of the original
// (thumbnails): [x0, x1) x [y0, y1) in continuous pixel coordinates (pixel centres at +0.5).
cv::Rect2d crop_rect_in(const CropGeometry& geometry, cv::Size photo_size);

// The map resampled onto the photo frame: CV_32F, photo_size, values in [0, 1] inside the crop, 0 outside;
// `inside` (optional) receives a CV_8U mask (255 inside the crop).
cv::Mat map_on_photo(const RolloutMap& map, const CropGeometry& geometry, cv::Size photo_size, cv::Mat* inside = nullptr);

// The heat layer (see above) for an 8-bit RGB photo (original or a scaled copy); RGB, same size.
cv::Mat render_heat_layer(const cv::Mat& photo_rgb8, const RolloutMap& map, const CropGeometry& geometry,
                          const OverlayOptions& options = {});
// The blended overlay; RGB, same size as the photo.
cv::Mat render_overlay(const cv::Mat& photo_rgb8, const RolloutMap& map, const CropGeometry& geometry,
                       const OverlayOptions& options = {});

// Encodes an 8-bit RGB (or gray) image as PNG or JPEG (by the path's extension: .png, .jpg/.jpeg) and writes
// it atomically (temp + rename). Throws Error(Io/InvalidArgument) naming the path.
void write_image_atomic(const std::filesystem::path& path, const cv::Mat& rgb8, int jpeg_quality = 90);
// render_overlay + write_image_atomic (PNG).
void write_overlay_png(const std::filesystem::path& path, const cv::Mat& photo_rgb8, const RolloutMap& map,
                       const CropGeometry& geometry, const OverlayOptions& options = {});

}  // namespace vitvk
