#pragma once
// timm's eval transform, exactly: resize shorter side to floor(size / crop_pct) with PIL-equivalent
// antialiased bicubic/bilinear on 8-bit data, centre crop, scale to [0,1], normalise by mean/std, CHW float.
#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <span>
#include <vector>

#include "model/config.hpp"

namespace vitvk {

// Where the model's crop lies in the original (decoded, orientation-applied) image, for overlays.
struct CropGeometry {
  int orig_w = 0, orig_h = 0;      // decoded image size
  int resized_w = 0, resized_h = 0;  // after the shorter-side resize
  int crop_x = 0, crop_y = 0;      // crop origin in resized coordinates (may be negative: padding)
  int crop_w = 0, crop_h = 0;      // = model input size
  // The crop rectangle mapped back to original-image pixel coordinates (floating point).
  double src_x0() const;
  double src_y0() const;
  double src_x1() const;
  double src_y1() const;
};

// Refused with Error(ImageDecode). The pixel count is read from the header before decoding for JPEG, PNG, BMP,
// WebP, TIFF, PNM/PAM/PFM, Sun raster, Radiance HDR, JPEG 2000, HEIF/AVIF (every image item's 'ispe' and a grid's
// or overlay's canvas) and GIF (the logical screen and the first frame's extent); other formats are checked after
// decoding, bounded meanwhile only by OpenCV's own OPENCV_IO_MAX_IMAGE_PIXELS (default 2^30, read once per process).
struct DecodeLimits {
  uint64_t max_file_bytes = 512ull << 20;
  uint64_t max_pixels = 100'000'000;  // 100 MP
};

// Channel order of a decoded 3-channel image. Bgr is what OpenCV's decoders produce: asking for it skips a
// full-image conversion, and preprocess_into reads either order with identical results.
enum class PixelOrder { Rgb, Bgr };

// Decodes an image file to 8-bit RGB (CV_8UC3, RGB order): EXIF orientation applied (JPEG), grayscale -> RGB,
// 16-bit -> 8-bit by the high byte, alpha dropped (not composited) as PIL's convert('RGB') does, CMYK JPEG
// converted by OpenCV (within 1 level of PIL). A truncated JPEG, HEIF/AVIF or GIF is refused (libjpeg alone would
// pad a JPEG grey). HEIF/AVIF and GIF go to libheif and giflib (image/codecs.hpp says how they are rendered).
// Throws Error(ImageDecode or Io) whose message names the file and the reason.
// `order` Bgr: the same pixels with the first and third channels swapped (CV_8UC3, BGR order).
cv::Mat decode_image_file(const std::filesystem::path& path, const DecodeLimits& limits = {},
                          PixelOrder order = PixelOrder::Rgb);
// Same from bytes already in memory; `name` is used in error messages.
cv::Mat decode_image_bytes(std::span<const uint8_t> bytes, const std::string& name, const DecodeLimits& limits = {},
                           PixelOrder order = PixelOrder::Rgb);

// PIL-equivalent resize of an 8-bit image with 1-4 channels (Image.resize with BICUBIC or BILINEAR, i.e. with
// antialiasing when downscaling, 8-bit rounding between the two passes); also "lanczos", "hamming", "box".
// Throws Error(Unsupported) for other interpolation names, Error(InvalidArgument) for bad sizes.
cv::Mat resize_like_pil(const cv::Mat& rgb8, int out_w, int out_h, const std::string& interpolation);
// Only the region `roi` of that output (identical pixels, cost proportional to the region): what a centre
// crop needs, and what keeps extreme aspect ratios (4000x3 -> 341333x256) cheap.
cv::Mat resize_like_pil(const cv::Mat& rgb8, int out_w, int out_h, const std::string& interpolation,
                        const cv::Rect& roi);

// The geometry alone for a width x height image: the resize size and the crop (torchvision's rounding).
// Throws Error(InvalidArgument) for a bad config or size, Error(Unsupported) for an unknown crop_mode.
CropGeometry plan_crop_geometry(int width, int height, const PreprocessConfig& cfg);

// The full eval transform. Writes C*H*W floats (model input) into `out` and returns the crop geometry.
// crop_mode "center" (shorter side to floor(size / crop_pct), centre crop, zero padding when the resized
// image is still smaller than the crop) or "squash" (both sides to floor(size / crop_pct)).
// `order` says how `image8` is stored; the output is RGB planes either way.
CropGeometry preprocess_into(const cv::Mat& image8, const PreprocessConfig& cfg, std::span<float> out,
                             PixelOrder order = PixelOrder::Rgb);
std::vector<float> preprocess(const cv::Mat& rgb8, const PreprocessConfig& cfg, CropGeometry* geometry = nullptr);

}  // namespace vitvk
