#pragma once
// Expanding the files and folders a user names into the ordered list of images to classify.
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace vitvk::pipeline {

// One input to classify. `error` is set when the input is known bad before decoding (a named path that does not
// exist, a folder that cannot be read); such entries still produce an output row.
struct InputEntry {
  std::filesystem::path path;
  std::string error;
  // For an image found by walking a folder argument: its path below that folder (what output trees mirror).
  // Empty for a path named directly.
  std::filesystem::path relative = {};
  bool ok() const { return error.empty(); }
};

// True for the 8-bit image extensions we decode, compared case-insensitively: OpenCV 4.6's (Debian build)
// jpg jpeg jpe jfif png bmp dib tif tiff webp ppm pgm pbm pnm pxm pfm sr ras jp2, and libheif's and giflib's
// heic heif hif (Canon's HEIF) avif gif. (OpenEXR and Radiance HDR are left out: they are float images, and
// OpenEXR is off by default at run time.) The content decides how a file is decoded, not its extension.
bool has_image_extension(const std::filesystem::path& path);

// Expands `args` in the order given:
//  - a file is taken as is, whatever its extension (a named FIFO/socket/device is an error entry);
//  - a folder is walked recursively and its image files (by extension) are listed in byte order of their path;
//    names starting with '.' are skipped while walking (not when named explicitly); symbolic links are followed,
//    and a folder already visited in this walk (same device and inode) is not entered again, which stops loops;
//  - a path that does not exist, or a folder that cannot be read, becomes an error entry.
std::vector<InputEntry> enumerate_inputs(std::span<const std::string> args);

}  // namespace vitvk::pipeline
