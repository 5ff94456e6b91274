#include "support/image_writers.hpp"

#include <gif_lib.h>
#include <libheif/heif.h>

#include <opencv2/core.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <stdexcept>

namespace vitvk::test {
namespace {

void heif_check(heif_error e, const char* what) {
  if (e.code != heif_error_Ok) throw std::runtime_error(std::string(what) + ": " + (e.message ? e.message : "?"));
}

heif_error append_bytes(heif_context*, const void* data, size_t size, void* user) {
  auto* out = static_cast<std::vector<uint8_t>*>(user);
  const auto* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
  return {heif_error_Ok, heif_suberror_Unspecified, "ok"};
}

int append_gif(GifFileType* gif, const GifByteType* data, int n) {
  auto* out = static_cast<std::vector<uint8_t>*>(gif->UserData);
  out->insert(out->end(), data, data + n);
  return n;
}

struct ColorMap {
  ColorMapObject* map = nullptr;
  explicit ColorMap(const std::vector<cv::Vec3b>& palette) {
    if (palette.empty()) return;
    int n = 2;
    while (n < static_cast<int>(palette.size())) n *= 2;  // giflib wants a power of two; pad with black
    std::vector<GifColorType> colors(static_cast<std::size_t>(n), GifColorType{0, 0, 0});
    for (std::size_t i = 0; i < palette.size(); ++i) colors[i] = {palette[i][0], palette[i][1], palette[i][2]};
    map = GifMakeMapObject(n, colors.data());
  }
  ~ColorMap() { GifFreeMapObject(map); }
  ColorMap(const ColorMap&) = delete;
  ColorMap& operator=(const ColorMap&) = delete;
};

}  // namespace

cv::Mat apply_orientation(const cv::Mat& stored, int orientation) {
  cv::Mat out;
  switch (orientation) {
    case 1: return stored.clone();
    case 2: cv::flip(stored, out, 1); return out;
    case 3: cv::rotate(stored, out, cv::ROTATE_180); return out;
    case 4: cv::flip(stored, out, 0); return out;
    case 5: cv::transpose(stored, out); return out;  // rotate 90 clockwise, then mirror left-right
    case 6: cv::rotate(stored, out, cv::ROTATE_90_CLOCKWISE); return out;
    case 7: cv::rotate(stored, out, cv::ROTATE_90_CLOCKWISE); cv::flip(out, out, 0); return out;
    case 8: cv::rotate(stored, out, cv::ROTATE_90_COUNTERCLOCKWISE); return out;
    default: throw std::invalid_argument("orientation " + std::to_string(orientation));
  }
}

cv::Mat unapply_orientation(const cv::Mat& shown, int orientation) {
  return apply_orientation(shown, orientation == 6 ? 8 : orientation == 8 ? 6 : orientation);
}

std::vector<uint8_t> exif_orientation_block(int orientation) {
  // "MM", 42, IFD at 8; one entry: tag 0x0112, type SHORT, count 1, value; next IFD 0.
  return {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1,
          0, static_cast<uint8_t>(orientation), 0, 0, 0, 0, 0, 0};
}

std::optional<std::string> heif_encoder_missing(HeifCodec codec) {
  std::unique_ptr<heif_context, void (*)(heif_context*)> ctx(heif_context_alloc(), heif_context_free);
  heif_encoder* encoder = nullptr;
  const heif_error e = heif_context_get_encoder_for_format(
      ctx.get(), codec == HeifCodec::Hevc ? heif_compression_HEVC : heif_compression_AV1, &encoder);
  if (e.code == heif_error_Ok && encoder) {
    heif_encoder_release(encoder);
    return std::nullopt;
  }
  return std::string("libheif has no ") + (codec == HeifCodec::Hevc ? "HEVC" : "AV1") +
         " encoder here (Debian 13+: libheif-plugin-" + (codec == HeifCodec::Hevc ? "x265" : "aomenc") +
         "): " + (e.message ? e.message : "");
}

std::vector<uint8_t> encode_heif(const cv::Mat& rgb, const HeifOptions& options) {
  CV_Assert(rgb.type() == CV_8UC3);
  std::unique_ptr<heif_context, void (*)(heif_context*)> ctx(heif_context_alloc(), heif_context_free);
  heif_encoder* raw_encoder = nullptr;
  heif_check(heif_context_get_encoder_for_format(ctx.get(), options.codec == HeifCodec::Hevc ? heif_compression_HEVC
                                                                                              : heif_compression_AV1,
                                                 &raw_encoder),
             "no encoder");
  std::unique_ptr<heif_encoder, void (*)(heif_encoder*)> encoder(raw_encoder, heif_encoder_release);
  heif_check(heif_encoder_set_lossy_quality(encoder.get(), options.quality), "quality");

  heif_image* raw_image = nullptr;
  const bool deep = options.bit_depth > 8;
  heif_check(heif_image_create(rgb.cols, rgb.rows, heif_colorspace_RGB,
                               deep ? heif_chroma_444 : heif_chroma_interleaved_RGB, &raw_image),
             "image");
  std::unique_ptr<heif_image, void (*)(const heif_image*)> image(raw_image, heif_image_release);
  if (!deep) {
    heif_check(heif_image_add_plane(image.get(), heif_channel_interleaved, rgb.cols, rgb.rows, 8), "plane");
    int stride = 0;
    uint8_t* p = heif_image_get_plane(image.get(), heif_channel_interleaved, &stride);
    for (int y = 0; y < rgb.rows; ++y) std::memcpy(p + static_cast<std::ptrdiff_t>(y) * stride, rgb.ptr(y), 3 * static_cast<std::size_t>(rgb.cols));
  } else {
    const heif_channel channels[3] = {heif_channel_R, heif_channel_G, heif_channel_B};
    for (int c = 0; c < 3; ++c) {
      heif_check(heif_image_add_plane(image.get(), channels[c], rgb.cols, rgb.rows, options.bit_depth), "plane");
      int stride = 0;
      uint8_t* p = heif_image_get_plane(image.get(), channels[c], &stride);
      for (int y = 0; y < rgb.rows; ++y)
        for (int x = 0; x < rgb.cols; ++x) {
          const uint16_t v = static_cast<uint16_t>(rgb.at<cv::Vec3b>(y, x)[c] << (options.bit_depth - 8));
          std::memcpy(p + static_cast<std::ptrdiff_t>(y) * stride + 2 * x, &v, 2);  // native (little) endian
        }
    }
  }

  std::unique_ptr<heif_encoding_options, void (*)(heif_encoding_options*)> eo(heif_encoding_options_alloc(),
                                                                               heif_encoding_options_free);
  eo->image_orientation = static_cast<heif_orientation>(options.orientation);
  heif_image_handle* raw_handle = nullptr;
  heif_check(heif_context_encode_image(ctx.get(), image.get(), encoder.get(), eo.get(), &raw_handle), "encode");
  std::unique_ptr<heif_image_handle, void (*)(const heif_image_handle*)> handle(raw_handle, heif_image_handle_release);
  if (options.exif_orientation) {
    const auto exif = exif_orientation_block(*options.exif_orientation);
    heif_check(heif_context_add_exif_metadata(ctx.get(), handle.get(), exif.data(), static_cast<int>(exif.size())), "exif");
  }
  std::vector<uint8_t> out;
  heif_writer writer{1, append_bytes};
  heif_check(heif_context_write(ctx.get(), &writer, &out), "write");
  return out;
}

std::optional<std::size_t> find_box_payload(const std::vector<uint8_t>& file, const char type[5]) {
  for (std::size_t i = 4; i + 4 <= file.size(); ++i)
    if (std::memcmp(file.data() + i, type, 4) == 0) return i + 4;
  return std::nullopt;
}

std::vector<uint8_t> encode_gif(int screen_w, int screen_h, const std::vector<cv::Vec3b>& global_palette,
                                const std::vector<GifFrame>& frames) {
  std::vector<uint8_t> out;
  int error = 0;
  GifFileType* gif = EGifOpen(&out, append_gif, &error);
  if (!gif) throw std::runtime_error("EGifOpen failed");
  EGifSetGifVersion(gif, true);
  auto close_on_fail = [&](bool ok, const char* what) {
    if (!ok) {
      EGifCloseFile(gif, &error);
      throw std::runtime_error(std::string("giflib: ") + what);
    }
  };
  const ColorMap global(global_palette);
  close_on_fail(EGifPutScreenDesc(gif, screen_w, screen_h, 8, 0, global.map) != GIF_ERROR, "screen");
  for (const GifFrame& f : frames) {
    CV_Assert(f.indices.type() == CV_8UC1);
    if (f.transparent >= 0) {
      GraphicsControlBlock gcb{};
      gcb.DisposalMode = DISPOSAL_UNSPECIFIED;
      gcb.TransparentColor = f.transparent;
      GifByteType ext[4];
      const auto n = EGifGCBToExtension(&gcb, ext);
      close_on_fail(EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, static_cast<int>(n), ext) != GIF_ERROR, "gce");
    }
    const ColorMap local(f.local_palette);
    close_on_fail(EGifPutImageDesc(gif, f.left, f.top, f.indices.cols, f.indices.rows, f.interlaced, local.map) !=
                      GIF_ERROR,
                  "image desc");
    std::vector<int> rows;
    if (f.interlaced) {
      for (const auto& [start, step] : {std::pair{0, 8}, {4, 8}, {2, 4}, {1, 2}})
        for (int y = start; y < f.indices.rows; y += step) rows.push_back(y);
    } else {
      for (int y = 0; y < f.indices.rows; ++y) rows.push_back(y);
    }
    for (int y : rows) {
      std::vector<GifPixelType> line(f.indices.ptr(y), f.indices.ptr(y) + f.indices.cols);
      close_on_fail(EGifPutLine(gif, line.data(), f.indices.cols) != GIF_ERROR, "line");
    }
  }
  if (EGifCloseFile(gif, &error) == GIF_ERROR) throw std::runtime_error("EGifCloseFile failed");
  return out;
}

void write_file(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double mean_abs_diff(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) return std::numeric_limits<double>::infinity();
  cv::Mat d;
  cv::absdiff(a, b, d);
  const cv::Scalar s = cv::mean(d);
  return (s[0] + s[1] + s[2] + s[3]) / a.channels();
}

}  // namespace vitvk::test
