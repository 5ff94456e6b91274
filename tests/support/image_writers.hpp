#pragma once
// Writers for the test inputs of the HEIF/AVIF and GIF decoders, made at test time: HEIC/AVIF through libheif's
// encoder API (x265, aom: Debian's libheif1 has both built in), with any of the 8 orientations as irot/imir boxes
// and an optional Exif block; GIFs through giflib's writer, with every knob the decoder branches on; and small
// byte-level edits (box payloads) for hostile variants.
#include <opencv2/core.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vitvk::test {

enum class HeifCodec { Hevc, Av1 };

struct HeifOptions {
  HeifCodec codec = HeifCodec::Hevc;
  int quality = 90;
  int orientation = 1;                      // EXIF numbering (1..8): written as irot/imir; the pixels are stored
  std::optional<int> exif_orientation{};    // an Exif block whose orientation tag says this
  int bit_depth = 8;                        // 10: a 10-bit image (the 8-bit input shifted left by 2)
};

// Why this libheif cannot encode `codec` (its build has no such encoder: Debian 13 and later ship them as
// libheif-plugin-x265 / libheif-plugin-aomenc), or nullopt when it can. Tests that need one skip on a reason.
std::optional<std::string> heif_encoder_missing(HeifCodec codec);

// Encodes 8-bit RGB pixels (CV_8UC3, RGB order) as they are STORED; the file tells readers to display them
// transformed by `orientation`. Throws std::runtime_error when libheif cannot (no encoder for the codec...).
std::vector<uint8_t> encode_heif(const cv::Mat& rgb, const HeifOptions& options = {});

// What a viewer shows for stored pixels and an EXIF orientation (1..8), and its inverse: the stored pixels that
// display as `shown`.
cv::Mat apply_orientation(const cv::Mat& stored, int orientation);
cv::Mat unapply_orientation(const cv::Mat& shown, int orientation);

// A big-endian TIFF block with one IFD entry: Orientation = `orientation`.
std::vector<uint8_t> exif_orientation_block(int orientation);

// The payload of the first box of type `type` found anywhere in the file (searched as bytes; for test files
// whose structure is known): its offset, or nullopt.
std::optional<std::size_t> find_box_payload(const std::vector<uint8_t>& file, const char type[5]);

struct GifFrame {
  int left = 0, top = 0;
  cv::Mat indices{};                           // CV_8UC1
  std::vector<cv::Vec3b> local_palette{};      // RGB; empty: none (the global one applies)
  int transparent = -1;                        // a graphic control extension with this transparent index
  bool interlaced = false;
};

// A GIF89a with the given logical screen and global palette (RGB; empty: none) and frames in order.
std::vector<uint8_t> encode_gif(int screen_w, int screen_h, const std::vector<cv::Vec3b>& global_palette,
                                const std::vector<GifFrame>& frames);

void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_bytes(const std::filesystem::path& path);

// Mean absolute difference over all channels of two same-size 8-bit images; +inf when sizes differ.
double mean_abs_diff(const cv::Mat& a, const cv::Mat& b);

}  // namespace vitvk::test
