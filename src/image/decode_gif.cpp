// GIF decoding with giflib's low-level reader: records up to the first image only (never DGifSlurp, which would
// read every frame of an animation into memory), with the canvas size checked before anything is allocated.
#include <gif_lib.h>

#include <opencv2/core.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "image/codecs.hpp"
#include "vitvk/error.hpp"

namespace vitvk::image {
namespace {

[[noreturn]] void fail(const std::string& name, const std::string& reason) {
  throw Error(ErrorCode::ImageDecode, name + ": " + reason);
}

struct MemoryReader {
  std::span<const uint8_t> bytes;
  std::size_t pos = 0;
};

int read_memory(GifFileType* gif, GifByteType* out, int n) {
  auto* r = static_cast<MemoryReader*>(gif->UserData);
  const std::size_t take = std::min(static_cast<std::size_t>(std::max(n, 0)), r->bytes.size() - r->pos);
  std::memcpy(out, r->bytes.data() + r->pos, take);
  r->pos += take;
  return static_cast<int>(take);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int ignored = 0;
    DGifCloseFile(gif, &ignored);
  }
};

// giflib's reason for a failed call; running out of bytes is what a cut file looks like.
[[noreturn]] void fail_gif(const std::string& name, int code, const char* where) {
  if (code == D_GIF_ERR_READ_FAILED) fail(name, std::string("truncated GIF (the file ends inside ") + where + ")");
  if (code == D_GIF_ERR_EOF_TOO_SOON) fail(name, "truncated GIF (the image data ends before the frame is complete)");
  if (code == D_GIF_ERR_NOT_ENOUGH_MEM) throw Error(ErrorCode::OutOfMemory, name + ": out of memory while decoding");
  const char* text = GifErrorString(code);
  fail(name, std::string("cannot decode GIF data (") + where + "): " + (text ? text : "error " + std::to_string(code)));
}

// Rows of an interlaced frame arrive in four passes: every 8th row from 0, every 8th from 4, every 4th from 2,
// every 2nd from 1.
std::vector<int> row_order(int height, bool interlaced) {
  std::vector<int> rows;
  rows.reserve(static_cast<std::size_t>(height));
  if (!interlaced) {
    for (int y = 0; y < height; ++y) rows.push_back(y);
    return rows;
  }
  constexpr std::array<std::array<int, 2>, 4> passes{{{0, 8}, {4, 8}, {2, 4}, {1, 2}}};
  for (const auto& [start, step] : passes)
    for (int y = start; y < height; y += step) rows.push_back(y);
  return rows;
}

}  // namespace

cv::Mat decode_gif(std::span<const uint8_t> bytes, const std::string& name, const DecodeLimits& limits,
                   PixelOrder order) {
  try {
    MemoryReader reader{bytes};
    int error = 0;
    const std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, read_memory, &error));
    if (!gif) fail_gif(name, error, "the screen descriptor");

    int transparent = -1;  // from the last graphic control extension before the frame that sets one
    for (;;) {
      GifRecordType record = UNDEFINED_RECORD_TYPE;
      if (DGifGetRecordType(gif.get(), &record) == GIF_ERROR) fail_gif(name, gif->Error, "a record");
      if (record == TERMINATE_RECORD_TYPE) fail(name, "GIF holds no image (its trailer comes before any frame)");
      if (record == EXTENSION_RECORD_TYPE) {
        int code = 0;
        GifByteType* block = nullptr;
        if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) fail_gif(name, gif->Error, "an extension");
        if (code == GRAPHICS_EXT_FUNC_CODE && block && block[0] >= 4 && (block[1] & 1)) transparent = block[4];
        while (block)
          if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) fail_gif(name, gif->Error, "an extension");
        continue;
      }
      if (record != IMAGE_DESC_RECORD_TYPE) fail(name, "cannot decode GIF data (an unknown record before the first frame)");
      break;
    }
    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) fail_gif(name, gif->Error, "the first frame's descriptor");

    const GifImageDesc& frame = gif->Image;
    if (frame.Width <= 0 || frame.Height <= 0)
      fail(name, "GIF's first frame has a zero dimension (" + std::to_string(frame.Width) + "x" +
                     std::to_string(frame.Height) + ")");
    // The canvas: the logical screen, grown to hold the frame (as PIL does), checked before it is allocated.
    const uint64_t canvas_w = std::max<uint64_t>(static_cast<uint64_t>(gif->SWidth),
                                                 static_cast<uint64_t>(frame.Left) + static_cast<uint64_t>(frame.Width));
    const uint64_t canvas_h = std::max<uint64_t>(static_cast<uint64_t>(gif->SHeight),
                                                 static_cast<uint64_t>(frame.Top) + static_cast<uint64_t>(frame.Height));
    if (canvas_w * canvas_h > limits.max_pixels)
      fail(name, std::to_string(canvas_w) + "x" + std::to_string(canvas_h) + " image exceeds the limit of " +
                     std::to_string(limits.max_pixels) + " pixels (from its header)");

    // Palette: 256 entries, those past the colour table grey (what PIL's palette holds there).
    const ColorMapObject* map = frame.ColorMap ? frame.ColorMap : gif->SColorMap;
    std::array<cv::Vec3b, 256> palette;
    for (int i = 0; i < 256; ++i) {
      const auto v = static_cast<uint8_t>(i);
      palette[static_cast<std::size_t>(i)] = {v, v, v};
    }
    if (map && map->Colors)
      for (int i = 0; i < std::min(map->ColorCount, 256); ++i) {
        const GifColorType& c = map->Colors[i];
        palette[static_cast<std::size_t>(i)] = order == PixelOrder::Rgb ? cv::Vec3b(c.Red, c.Green, c.Blue)
                                                                         : cv::Vec3b(c.Blue, c.Green, c.Red);
      }

    const cv::Vec3b fill = palette[static_cast<std::size_t>(transparent >= 0 ? transparent : 0)];
    cv::Mat out(static_cast<int>(canvas_h), static_cast<int>(canvas_w), CV_8UC3, cv::Scalar(fill[0], fill[1], fill[2]));
    std::vector<GifPixelType> line(static_cast<std::size_t>(frame.Width));
    for (const int y : row_order(frame.Height, frame.Interlace)) {
      if (DGifGetLine(gif.get(), line.data(), frame.Width) == GIF_ERROR) fail_gif(name, gif->Error, "the image data");
      auto* row = out.ptr<cv::Vec3b>(frame.Top + y) + frame.Left;
      for (int x = 0; x < frame.Width; ++x) row[x] = palette[line[static_cast<std::size_t>(x)]];
    }
    return out;
  } catch (const std::bad_alloc&) {
    throw Error(ErrorCode::OutOfMemory, name + ": out of memory while decoding");
  }
}

}  // namespace vitvk::image
