#pragma once
// Reads an image's format and pixel dimensions from its header, without decoding, so that oversized images
// (decompression bombs) are refused before any pixel buffer exists. Every read is bounds-checked against the
// buffer; a malformed or truncated header is an Error(ImageDecode) naming the image.
#include <cstdint>
#include <span>
#include <string>

namespace vitvk::image {

enum class ImageFormat { Unknown, Jpeg, Png, Bmp, WebP, Tiff, Pnm, Pam, Pfm, SunRaster, Hdr, Jpeg2000, Gif, Heif, Avif };

const char* format_name(ImageFormat format) noexcept;

struct ImageProbe {
  ImageFormat format = ImageFormat::Unknown;
  // Dimensions as stored in the header (before any EXIF rotation); 0 when this format's header is not parsed.
  uint64_t width = 0;
  uint64_t height = 0;
  int jpeg_components = 0;  // JPEG only: 1 grey, 3 YCbCr/RGB, 4 CMYK/YCCK
  // HEIF/AVIF only: the largest size another image item of the file declares (the primary's grid or overlay
  // canvas, a tile, a thumbnail, an alpha or depth image). Decoding may allocate it, so the pixel limit applies
  // to it as well; 0 when the primary image is the only one.
  uint64_t part_width = 0;
  uint64_t part_height = 0;

  bool has_size() const { return width != 0 && height != 0; }
};

// Identifies the format by its signature and reads the dimensions. For JPEG it also walks the marker
// structure up to the end-of-image marker: libjpeg (and so OpenCV) pads a truncated JPEG with grey and
// only prints a warning, so truncation has to be caught here. HEIF and AVIF are recognised by their 'ftyp'
// brands; their box structure is walked to the primary image's 'ispe' size (and every other image item's), and
// every item's data is checked to lie inside the file, which is how a truncated HEIC/AVIF is told apart. A GIF's
// logical screen may be 0x0 (viewers then use the first frame's extent): its size is then left 0.
// Throws Error(ImageDecode, "<name>: <reason>") for a recognised but malformed header; an unrecognised
// signature is not an error here (format Unknown); decode_image_bytes refuses it without calling OpenCV.
ImageProbe probe_image(std::span<const uint8_t> bytes, const std::string& name);

}  // namespace vitvk::image
