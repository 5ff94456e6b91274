// Image decoding through OpenCV's imgcodecs (libheif and giflib for HEIF/AVIF and GIF: codecs.hpp), with our
// own limits checked from the header first.
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <new>

#include "image/codecs.hpp"
#include "image/preprocess.hpp"
#include "image/probe.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& reason) {
  throw Error(ErrorCode::ImageDecode, name + ": " + reason);
}

void check_pixels(const std::string& name, uint64_t w, uint64_t h, const DecodeLimits& limits, const char* when) {
  // w, h < 2^32 from every header we parse, so the product cannot overflow.
  if (w > 0xFFFFFFFFull || h > 0xFFFFFFFFull || w * h > limits.max_pixels)
    fail(name, std::to_string(w) + "x" + std::to_string(h) + " image exceeds the limit of " +
                   std::to_string(limits.max_pixels) + " pixels (" + when + ")");
}

// OpenCV's IMREAD_COLOR yields 8-bit BGR already; this covers anything else a future build might return.
cv::Mat to_rgb8(const cv::Mat& m, PixelOrder order) {
  cv::Mat src = m;
  if (src.depth() != CV_8U) {
    cv::Mat tmp;
    const double scale = src.depth() == CV_16U ? 1.0 / 257.0 : (src.depth() == CV_32F || src.depth() == CV_64F) ? 255.0 : 1.0;
    src.convertTo(tmp, CV_8U, scale);
    src = tmp;
  }
  const bool bgr = order == PixelOrder::Bgr;
  cv::Mat rgb;
  switch (src.channels()) {
    case 1: cv::cvtColor(src, rgb, bgr ? cv::COLOR_GRAY2BGR : cv::COLOR_GRAY2RGB); break;
    case 3:
      if (bgr) return src;  // already BGR: no copy
      cv::cvtColor(src, rgb, cv::COLOR_BGR2RGB);
      break;
    case 4: cv::cvtColor(src, rgb, bgr ? cv::COLOR_BGRA2BGR : cv::COLOR_BGRA2RGB); break;  // drops alpha, like PIL's convert('RGB')
    default: throw Error(ErrorCode::ImageDecode, "unsupported channel count " + std::to_string(src.channels()));
  }
  return rgb;
}

std::string short_cv_message(const cv::Exception& e) {
  std::string s = e.err.empty() ? std::string(e.what()) : e.err;
  if (s.find("CV_IO_MAX_IMAGE") != std::string::npos)
    return "the image exceeds OpenCV's own size limit (OPENCV_IO_MAX_IMAGE_PIXELS / _WIDTH / _HEIGHT; "
           "by default 2^30 pixels and 2^20 per side): " + s;
  return s;
}

}  // namespace

cv::Mat decode_image_bytes(std::span<const uint8_t> bytes, const std::string& name, const DecodeLimits& limits,
                           PixelOrder order) {
  if (bytes.empty()) fail(name, "the file is empty (0 bytes)");
  if (bytes.size() > limits.max_file_bytes)
    fail(name, "file of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                   std::to_string(limits.max_file_bytes) + " bytes");
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) fail(name, "file too large for OpenCV's decoder (over 2 GiB)");

  // Header first: refuses decompression bombs before OpenCV allocates the pixels, and catches truncated JPEGs.
  const image::ImageProbe probe = image::probe_image(bytes, name);
  if (probe.has_size()) check_pixels(name, probe.width, probe.height, limits, "from its header");
  if (probe.part_width != 0) check_pixels(name, probe.part_width, probe.part_height, limits, "from its header");

  if (probe.format == image::ImageFormat::Unknown) fail(name, "not a recognised image format");
  // Formats Debian's OpenCV 4.6 does not read: our own wrappers of libheif and giflib.
  if (probe.format == image::ImageFormat::Heif || probe.format == image::ImageFormat::Avif)
    return image::decode_heif(bytes, name, probe.format, limits, order);
  if (probe.format == image::ImageFormat::Gif) return image::decode_gif(bytes, name, limits, order);

  // Only data our probe recognised goes to OpenCV. imdecode offers anything else to every decoder it was built
  // with, including GDCM (DICOM) in Debian's build, which assert()s - aborting the whole process - on malformed
  // input. GDCM claims any data with "DICM" at offset 128 that no earlier decoder took (e.g. a JPEG 2000 box or
  // a JPEG whose third byte is not 0xFF), so that signature is refused whatever the format. (Found by fuzz_image.)
  if (bytes.size() >= 132 && std::memcmp(bytes.data() + 128, "DICM", 4) == 0)
    fail(name, "carries a DICOM signature at byte 128; DICOM data is not decoded");

  cv::Mat decoded;
  try {
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data()));
    // IMREAD_COLOR: 8-bit 3-channel (16-bit takes the high byte; grey is replicated; alpha is dropped, not
    // composited; CMYK JPEG is converted), and OpenCV applies the JPEG EXIF orientation.
    decoded = cv::imdecode(buf, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    fail(name, std::string("cannot decode ") + image::format_name(probe.format) + " data: " + short_cv_message(e));
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, name + ": out of memory while decoding");
  }
  if (decoded.empty()) {
    fail(name, std::string("cannot decode ") + image::format_name(probe.format) +
                   " data (corrupt, truncated, or a variant this OpenCV build does not read)");
  }
  // Formats whose header we do not parse are only bounded by OpenCV's own limit until here.
  check_pixels(name, static_cast<uint64_t>(decoded.cols), static_cast<uint64_t>(decoded.rows), limits, "after decoding");
  try {
    return to_rgb8(decoded, order);
  } catch (const Error& e) {
    fail(name, e.what());
  }
}

cv::Mat decode_image_file(const std::filesystem::path& path, const DecodeLimits& limits, PixelOrder order) {
  const std::string name = path.string();
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    throw Error(ErrorCode::Io, name + ": cannot open (" + (ec ? ec.message() : std::string("no such file")) + ")");
  if (std::filesystem::is_directory(status)) throw Error(ErrorCode::Io, name + ": is a directory, not an image file");
  if (!std::filesystem::is_regular_file(status)) throw Error(ErrorCode::Io, name + ": not a regular file");
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorCode::Io, name + ": cannot read its size (" + ec.message() + ")");
  if (size > limits.max_file_bytes)
    fail(name, "file of " + std::to_string(size) + " bytes exceeds the limit of " + std::to_string(limits.max_file_bytes) +
                   " bytes");

  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::Io, name + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<uint8_t> bytes(static_cast<std::size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<uintmax_t>(in.gcount()) != size)
    throw Error(ErrorCode::Io, name + ": read error (got " + std::to_string(in.gcount()) + " of " +
                                   std::to_string(size) + " bytes; was the file changed while reading?)");
  return decode_image_bytes(bytes, name, limits, order);
}

}  // namespace vitvk
