#pragma once
/// @file image.hpp
/// Pixels in and out of vitvk without OpenCV in your include path: a non-owning ImageView over 8-bit pixels
/// your application already has, and an owning Image for files (decoded exactly as the reference pipeline
/// decodes them). With OpenCV, vitvk/opencv.hpp turns a cv::Mat into an ImageView.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "vitvk/export.h"

namespace vitvk {

/// Channel order of 8-bit interleaved pixels. Alpha is ignored (dropped, not composited), as PIL's
/// convert("RGB") does; gray is replicated into three channels.
enum class PixelFormat {
  Rgb8,   ///< R, G, B
  Bgr8,   ///< B, G, R: what cv::imread returns
  Rgba8,  ///< R, G, B, A
  Bgra8,  ///< B, G, R, A
  Gray8,  ///< one luminance byte
};

/// Bytes per pixel of a format (3, 3, 4, 4, 1).
VITVK_API int bytes_per_pixel(PixelFormat format) noexcept;

/// A read-only view of 8-bit pixels owned by the caller, who keeps them alive for the duration of the call it is
/// passed to (vitvk copies what it needs; it never keeps the pointer).
///
/// Row y starts at `data + y * stride`; `data` must hold at least
/// `stride * (height - 1) + width * bytes_per_pixel(format)` bytes. Functions taking a view throw
/// Error(InvalidArgument) for a null pointer, a non-positive size or a stride shorter than a row.
struct ImageView {
  const std::uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  std::size_t stride = 0;  ///< bytes from one row to the next; 0 means tightly packed (width * bytes per pixel)
  PixelFormat format = PixelFormat::Rgb8;
};

/// An owned 8-bit image (tightly packed). Loading applies the EXIF orientation (JPEG) or the irot/imir boxes
/// (HEIF/AVIF), converts grayscale, 16-bit, HDR and CMYK files to 8-bit RGB, takes a GIF's first frame, and drops
/// alpha, exactly as the reference (PIL) pipeline the models were evaluated with; so classifying
/// Image::load(path) matches `vitvk classify path`.
class VITVK_API Image {
 public:
  Image() = default;
  /// Copies `view` (any stride) into a new tightly packed image of the same format.
  explicit Image(const ImageView& view);

  /// Decodes a JPEG, PNG, BMP, WebP, TIFF, PNM, JPEG 2000, HEIF/HEIC, AVIF or GIF file to Rgb8 (the content
  /// decides, not the extension). Throws Error(Io) when the file cannot be read, Error(ImageDecode) when it is
  /// not a decodable image or is larger than `max_pixels` (read from its header, before decoding); the message
  /// names the file and the reason.
  static Image load(const std::filesystem::path& path, std::uint64_t max_pixels = 100'000'000);
  /// The same from an encoded file already in memory; `name` is used in error messages.
  static Image decode(std::span<const std::uint8_t> bytes, const std::string& name = "<memory>",
                      std::uint64_t max_pixels = 100'000'000);

  /// Writes the image as PNG or JPEG, chosen by the extension (.png, .jpg, .jpeg), atomically (a temporary file
  /// renamed into place). Throws Error(InvalidArgument) for another extension, Error(Io) naming the path.
  void save(const std::filesystem::path& path, int jpeg_quality = 90) const;

  int width() const noexcept { return width_; }
  int height() const noexcept { return height_; }
  PixelFormat format() const noexcept { return format_; }
  bool empty() const noexcept { return pixels_.empty(); }
  std::size_t stride() const noexcept { return static_cast<std::size_t>(width_) * bytes_per_pixel(format_); }
  const std::uint8_t* data() const noexcept { return pixels_.data(); }
  std::uint8_t* data() noexcept { return pixels_.data(); }

  ImageView view() const noexcept { return {pixels_.data(), width_, height_, stride(), format_}; }
  /// An Image can be passed wherever a view is expected (it must outlive the call).
  operator ImageView() const noexcept { return view(); }  // NOLINT(google-explicit-constructor)

 private:
  Image(int width, int height, PixelFormat format, std::vector<std::uint8_t> pixels);

  int width_ = 0;
  int height_ = 0;
  PixelFormat format_ = PixelFormat::Rgb8;
  std::vector<std::uint8_t> pixels_;
};

}  // namespace vitvk
