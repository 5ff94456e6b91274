// HEIF/HEIC (HEVC, through libde265) and AVIF (AV1, through dav1d or libaom) decoding with libheif's C API.
#include <libheif/heif.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <memory>
#include <new>

#include "image/codecs.hpp"
#include "vitvk/error.hpp"

namespace vitvk::image {
namespace {

// libheif refuses any side above this by itself (MAX_IMAGE_WIDTH/HEIGHT in its heif_limits.h); we only ever
// lower it, to our pixel limit, which no side of an accepted image can exceed.
constexpr uint64_t kLibheifSideCap = 32768;

struct HeifDeleter {
  void operator()(heif_context* p) const { heif_context_free(p); }
  void operator()(const heif_image_handle* p) const { heif_image_handle_release(p); }
  void operator()(const heif_image* p) const { heif_image_release(p); }
  void operator()(heif_decoding_options* p) const { heif_decoding_options_free(p); }
};
template <class T>
using HeifPtr = std::unique_ptr<T, HeifDeleter>;

[[noreturn]] void fail(const std::string& name, const std::string& reason) {
  throw Error(ErrorCode::ImageDecode, name + ": " + reason);
}

void check(heif_error e, const std::string& name, const char* what, ImageFormat format) {
  if (e.code == heif_error_Ok) return;
  if (e.code == heif_error_Memory_allocation_error && e.subcode != heif_suberror_Security_limit_exceeded)
    throw Error(ErrorCode::OutOfMemory, name + ": out of memory while decoding");
  std::string reason = std::string(what) + " " + format_name(format) + " data: " + (e.message ? e.message : "");
  if (e.code == heif_error_Unsupported_feature && e.subcode == heif_suberror_Unsupported_codec)
    reason += " (this libheif build has no decoder for the file's codec)";
  fail(name, reason);
}

void check_size(const std::string& name, int w, int h, const DecodeLimits& limits, const char* when) {
  if (w <= 0 || h <= 0) fail(name, "HEIF image of size " + std::to_string(w) + "x" + std::to_string(h) + " (" + when + ")");
  const uint64_t pixels = static_cast<uint64_t>(w) * static_cast<uint64_t>(h);
  if (pixels > limits.max_pixels)
    fail(name, std::to_string(w) + "x" + std::to_string(h) + " image exceeds the limit of " +
                   std::to_string(limits.max_pixels) + " pixels (" + when + ")");
}

// heif_init registers libheif's built-in codecs; reference counted, so one call that is never undone keeps them
// for the life of the process (a function-local static: initialised once, thread-safely).
void init_libheif() {
  static const heif_error init = heif_init(nullptr);
  if (init.code != heif_error_Ok)
    throw Error(ErrorCode::ImageDecode, std::string("libheif failed to initialise: ") + (init.message ? init.message : ""));
}

}  // namespace

cv::Mat decode_heif(std::span<const uint8_t> bytes, const std::string& name, ImageFormat format,
                    const DecodeLimits& limits, PixelOrder order) {
  try {
    init_libheif();
    HeifPtr<heif_context> ctx(heif_context_alloc());
    if (!ctx) throw std::bad_alloc();
    heif_context_set_maximum_image_size_limit(ctx.get(),
                                              static_cast<int>(std::min(limits.max_pixels, kLibheifSideCap)));
    // Grid tiles in the calling thread: the pipeline already decodes several images at once.
    heif_context_set_max_decoding_threads(ctx.get(), 0);
    check(heif_context_read_from_memory_without_copy(ctx.get(), bytes.data(), bytes.size(), nullptr), name,
          "cannot read", format);

    heif_image_handle* raw_handle = nullptr;
    check(heif_context_get_primary_image_handle(ctx.get(), &raw_handle), name, "cannot read", format);
    const HeifPtr<const heif_image_handle> handle(raw_handle);
    // The size as libheif read it, before anything is decoded (our probe read the same boxes; two parsers that
    // disagree must not let a bomb through), and after its transformations.
    check_size(name, heif_image_handle_get_ispe_width(handle.get()), heif_image_handle_get_ispe_height(handle.get()),
               limits, "from its header");
    check_size(name, heif_image_handle_get_width(handle.get()), heif_image_handle_get_height(handle.get()), limits,
               "from its header");

    const HeifPtr<heif_decoding_options> options(heif_decoding_options_alloc());
    if (!options) throw std::bad_alloc();
    options->ignore_transformations = 0;  // irot/imir/clap applied here, exactly once
    options->convert_hdr_to_8bit = 1;
    heif_image* raw_image = nullptr;
    const heif_error decoded =
        heif_decode_image(handle.get(), &raw_image, heif_colorspace_RGB, heif_chroma_interleaved_RGB, options.get());
    const HeifPtr<const heif_image> image(raw_image);  // owned before the error check: released on failure too
    check(decoded, name, "cannot decode", format);

    int stride = 0;
    const uint8_t* pixels = heif_image_get_plane_readonly(image.get(), heif_channel_interleaved, &stride);
    const int w = heif_image_get_width(image.get(), heif_channel_interleaved);
    const int h = heif_image_get_height(image.get(), heif_channel_interleaved);
    if (!pixels || heif_image_get_bits_per_pixel(image.get(), heif_channel_interleaved) != 24)
      fail(name, std::string("cannot decode ") + format_name(format) + " data: libheif returned no 8-bit RGB image");
    check_size(name, w, h, limits, "after decoding");
    if (stride < 3 * w) fail(name, std::string("cannot decode ") + format_name(format) + " data: bad row stride");

    const cv::Mat view(h, w, CV_8UC3, const_cast<uint8_t*>(pixels), static_cast<std::size_t>(stride));
    cv::Mat out;
    if (order == PixelOrder::Rgb)
      out = view.clone();
    else
      cv::cvtColor(view, out, cv::COLOR_RGB2BGR);
    return out;
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, name + ": out of memory while decoding");
  }
}

}  // namespace vitvk::image
