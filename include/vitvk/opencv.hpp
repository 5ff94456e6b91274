#pragma once
/// @file opencv.hpp
/// Optional OpenCV convenience: the other vitvk headers do not include OpenCV; include this one (and have
/// OpenCV's headers on your include path) to pass cv::Mat images directly.
///
/// @code
///   cv::Mat bgr = cv::imread("cat.jpg");          // BGR, as OpenCV loads it
///   auto top5 = model.classify(vitvk::view(bgr));  // no copy until vitvk preprocesses it
/// @endcode
///
/// Note that cv::imread neither applies EXIF orientation the way PIL does nor matches PIL's JPEG decoder
/// bit for bit; vitvk::Image::load does both, so it reproduces the reference pipeline exactly.
#include <opencv2/core.hpp>

#include <cstddef>
#include <string>

#include "vitvk/error.hpp"
#include "vitvk/image.hpp"

namespace vitvk {

/// A view of an 8-bit cv::Mat with 1 (gray), 3 or 4 channels, taken as BGR / BGRA (OpenCV's order) unless
/// `rgb_order` says the channels are RGB / RGBA. The Mat must outlive the call the view is passed to.
/// Throws Error(InvalidArgument) for an empty Mat, another depth or channel count.
inline ImageView view(const cv::Mat& mat, bool rgb_order = false) {
  if (mat.empty() || mat.dims != 2) throw Error(ErrorCode::InvalidArgument, "cv::Mat: empty or not 2-D");
  if (mat.depth() != CV_8U)
    throw Error(ErrorCode::InvalidArgument, "cv::Mat: 8-bit pixels expected (depth " + std::to_string(mat.depth()) + ")");
  PixelFormat format;
  switch (mat.channels()) {
    case 1: format = PixelFormat::Gray8; break;
    case 3: format = rgb_order ? PixelFormat::Rgb8 : PixelFormat::Bgr8; break;
    case 4: format = rgb_order ? PixelFormat::Rgba8 : PixelFormat::Bgra8; break;
    default:
      throw Error(ErrorCode::InvalidArgument,
                  "cv::Mat: 1, 3 or 4 channels expected, got " + std::to_string(mat.channels()));
  }
  return ImageView{mat.data, mat.cols, mat.rows, static_cast<std::size_t>(mat.step[0]), format};
}

/// A cv::Mat header over an Image's pixels (no copy; valid while the Image lives). Channel order is the
/// Image's: Image::load gives RGB, so convert with cv::cvtColor(..., cv::COLOR_RGB2BGR) before cv::imwrite.
inline cv::Mat as_mat(Image& image) {
  if (image.empty()) return {};
  const int channels = bytes_per_pixel(image.format());
  return cv::Mat(image.height(), image.width(), CV_8UC(channels), image.data(), image.stride());
}

}  // namespace vitvk
