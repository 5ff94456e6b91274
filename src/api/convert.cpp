#include "api/convert.hpp"

#include <opencv2/imgproc.hpp>

#include <limits>

namespace vitvk::api {

std::size_t checked_stride(const ImageView& view, const std::string& what) {
  const auto invalid = [&](const std::string& why) { throw Error(ErrorCode::InvalidArgument, what + ": " + why); };
  const int bpp = bytes_per_pixel(view.format);
  if (bpp == 0) invalid("unknown pixel format " + std::to_string(static_cast<int>(view.format)));
  if (view.data == nullptr) invalid("null pixel pointer");
  if (view.width <= 0 || view.height <= 0)
    invalid("image size " + std::to_string(view.width) + "x" + std::to_string(view.height) + " is empty");
  // cv::Mat indexes bytes of a row with int: width * bpp must not overflow it.
  if (view.width > std::numeric_limits<int>::max() / 4) invalid("width " + std::to_string(view.width) + " is too large");
  const std::size_t row = static_cast<std::size_t>(view.width) * bpp;
  const std::size_t stride = view.stride == 0 ? row : view.stride;
  if (stride < row)
    invalid("stride " + std::to_string(stride) + " is shorter than a row of " + std::to_string(row) + " bytes");
  return stride;
}

cv::Mat rgb_of(const ImageView& view, const std::string& what) {
  const std::size_t stride = checked_stride(view, what);
  const int bpp = bytes_per_pixel(view.format);
  // Only read below; cv::Mat has no const-data constructor.
  const cv::Mat src(view.height, view.width, CV_8UC(bpp), const_cast<std::uint8_t*>(view.data), stride);
  cv::Mat rgb;
  switch (view.format) {
    case PixelFormat::Rgb8: return src;
    case PixelFormat::Bgr8: cv::cvtColor(src, rgb, cv::COLOR_BGR2RGB); break;
    case PixelFormat::Rgba8: cv::cvtColor(src, rgb, cv::COLOR_RGBA2RGB); break;
    case PixelFormat::Bgra8: cv::cvtColor(src, rgb, cv::COLOR_BGRA2RGB); break;
    case PixelFormat::Gray8: cv::cvtColor(src, rgb, cv::COLOR_GRAY2RGB); break;
  }
  return rgb;
}

CropRegion to_public(const CropGeometry& g) {
  return CropRegion{g.orig_w, g.orig_h, g.resized_w, g.resized_h, g.crop_x, g.crop_y, g.crop_w, g.crop_h};
}

CropGeometry to_internal(const CropRegion& c) {
  CropGeometry g;
  g.orig_w = c.source_width;
  g.orig_h = c.source_height;
  g.resized_w = c.resized_width;
  g.resized_h = c.resized_height;
  g.crop_x = c.crop_x;
  g.crop_y = c.crop_y;
  g.crop_w = c.crop_width;
  g.crop_h = c.crop_height;
  return g;
}

}  // namespace vitvk::api
