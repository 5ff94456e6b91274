#pragma once
// Decoders for the formats OpenCV's imgcodecs does not read: HEIF/HEIC and AVIF through libheif, GIF through
// giflib. decode_image_bytes calls them once probe_image has recognised the format and the sizes in its header
// have passed the limits; each returns 8-bit 3-channel pixels in `order` (CV_8UC3), or throws
// Error(ImageDecode, "<name>: <reason>") (Error(OutOfMemory) when an allocation fails).
#include <opencv2/core.hpp>

#include <cstdint>
#include <span>
#include <string>

#include "image/preprocess.hpp"
#include "image/probe.hpp"

namespace vitvk::image {

// The primary image, with the file's own transformations (irot rotation, imir mirror, clap crop) applied by
// libheif: HEIF keeps its orientation in those boxes, and an Exif orientation tag in the file is informative
// only (ISO/IEC 23008-12; what libheif, browsers and pillow-heif do), so it is not applied again. HDR (10/12-bit)
// images are reduced to 8 bits; alpha is dropped, as for the other formats.
cv::Mat decode_heif(std::span<const uint8_t> bytes, const std::string& name, ImageFormat format,
                    const DecodeLimits& limits, PixelOrder order);

// The first frame, on a canvas of the logical screen's size (enlarged to the frame's extent where the frame
// reaches past it), as PIL's Image.open(f).convert("RGB") gives it: pixels are their palette colours (the
// frame's local colour table, else the global one; an index past the table is grey (i, i, i)); transparent
// pixels keep their palette colour (alpha dropped, not composited, as for PNG); the canvas outside the frame
// is the transparent index's colour when the frame has one, else index 0's. GIFs carry no Exif orientation.
cv::Mat decode_gif(std::span<const uint8_t> bytes, const std::string& name, const DecodeLimits& limits,
                   PixelOrder order);

}  // namespace vitvk::image
