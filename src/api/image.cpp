// vitvk::Image: owned pixels, decoded and written with the library's own decoder and atomic writer.
#include <opencv2/imgproc.hpp>

#include <cstring>

#include "api/convert.hpp"
#include "explain/overlay.hpp"
#include "image/preprocess.hpp"
#include "vitvk/image.hpp"

namespace vitvk {
namespace {

// A tightly packed copy of an RGB8 Mat.
std::vector<std::uint8_t> packed_bytes(const cv::Mat& m) {
  const std::size_t row = static_cast<std::size_t>(m.cols) * m.elemSize();
  std::vector<std::uint8_t> bytes(row * m.rows);
  for (int y = 0; y < m.rows; ++y) std::memcpy(bytes.data() + row * y, m.ptr(y), row);
  return bytes;
}

}  // namespace

int bytes_per_pixel(PixelFormat format) noexcept {
  switch (format) {
    case PixelFormat::Rgb8:
    case PixelFormat::Bgr8: return 3;
    case PixelFormat::Rgba8:
    case PixelFormat::Bgra8: return 4;
    case PixelFormat::Gray8: return 1;
  }
  return 0;
}

Image::Image(int width, int height, PixelFormat format, std::vector<std::uint8_t> pixels)
    : width_(width), height_(height), format_(format), pixels_(std::move(pixels)) {}

Image::Image(const ImageView& view) {
  api::guarded("vitvk::Image", [&] {
    const std::size_t stride = api::checked_stride(view, "vitvk::Image");
    const std::size_t row = static_cast<std::size_t>(view.width) * bytes_per_pixel(view.format);
    std::vector<std::uint8_t> pixels(row * view.height);
    for (int y = 0; y < view.height; ++y) std::memcpy(pixels.data() + row * y, view.data + stride * y, row);
    *this = Image(view.width, view.height, view.format, std::move(pixels));
  });
}

Image Image::load(const std::filesystem::path& path, std::uint64_t max_pixels) {
  return api::guarded("vitvk::Image::load", [&] {
    DecodeLimits limits;
    limits.max_pixels = max_pixels;
    const cv::Mat rgb = decode_image_file(path, limits);
    return Image(rgb.cols, rgb.rows, PixelFormat::Rgb8, packed_bytes(rgb));
  });
}

Image Image::decode(std::span<const std::uint8_t> bytes, const std::string& name, std::uint64_t max_pixels) {
  return api::guarded("vitvk::Image::decode", [&] {
    DecodeLimits limits;
    limits.max_pixels = max_pixels;
    const cv::Mat rgb = decode_image_bytes(bytes, name, limits);
    return Image(rgb.cols, rgb.rows, PixelFormat::Rgb8, packed_bytes(rgb));
  });
}

void Image::save(const std::filesystem::path& path, int jpeg_quality) const {
  api::guarded("vitvk::Image::save", [&] {
    if (empty()) throw Error(ErrorCode::InvalidArgument, path.string() + ": cannot save an empty image");
    // write_image_atomic takes RGB or gray; RGBA/BGR(A) are converted to RGB.
    const cv::Mat pixels = format_ == PixelFormat::Gray8
                               ? cv::Mat(height_, width_, CV_8UC1, const_cast<std::uint8_t*>(pixels_.data()))
                               : api::rgb_of(view(), path.string());
    write_image_atomic(path, pixels, jpeg_quality);
  });
}

}  // namespace vitvk
