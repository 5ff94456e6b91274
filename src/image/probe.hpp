#pragma once
// Reads an image's format and pixel dimensions from its header, without decoding, so that oversized images
// (decompression bombs) are refused before any pixel buffer exists. Every read is bounds-checked against the
// buffer; a malformed or truncated header is an Error(ImageDecode) naming the image.
#include <cstdint>
#include <span>
#include <string>

namespace vitvk::image {

enum class ImageFormat { Unknown, Jpeg, Png, Bmp, WebP, Tiff, Pnm, Pam, Pfm, SunRaster, Hdr, Jpeg2000, Gif };

const char* format_name(ImageFormat format) noexcept;

struct ImageProbe {
  ImageFormat format = ImageFormat::Unknown;
  // Dimensions as stored in the header (before any EXIF rotation); 0 when this format's header is not parsed.
  uint64_t width = 0;
  uint64_t height = 0;
  int jpeg_components = 0;  // JPEG only: 1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK

  bool has_size() const { return width != 0 && height != 0; }
};

// Identifies the format by its signature and reads the dimensions. For JPEG it also walks the marker
// structure up to the end-of-image marker: libjpeg (and so OpenCV) pads a truncated JPEG with grey and
// only prints a warning, so truncation has to be caught here.
// Throws Error(ImageDecode, "<name>: <reason>") for a recognised but malformed header; an unrecognised
// signature is not an error here (format Unknown); decode_image_bytes refuses it without calling OpenCV.
ImageProbe probe_image(std::span<const uint8_t> bytes, const std::string& name);

}  // namespace vitvk::image
