#include "image/probe.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <string_view>

#include "vitvk/error.hpp"

namespace vitvk::image {
namespace {

// Bounds-checked big/little-endian reads over the whole file; any read past the end is "truncated".
class Bytes {
 public:
  Bytes(std::span<const uint8_t> b, const std::string& name) : b_(b), name_(name) {}

  std::size_t size() const { return b_.size(); }
  const uint8_t* data() const { return b_.data(); }
  bool has(uint64_t off, uint64_t n) const { return off <= b_.size() && n <= b_.size() - off; }
  void need(uint64_t off, uint64_t n, const char* what) const {
    if (!has(off, n)) fail(std::string("truncated ") + what);
  }
  uint8_t u8(uint64_t off, const char* what) const {
    need(off, 1, what);
    return b_[off];
  }
  uint32_t uint(uint64_t off, int n, bool big_endian, const char* what) const {
    need(off, static_cast<uint64_t>(n), what);
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      const uint32_t byte = b_[off + (big_endian ? i : n - 1 - i)];
      v = (v << 8) | byte;
    }
    return v;
  }
  uint64_t u64(uint64_t off, bool big_endian, const char* what) const {
    const uint64_t a = uint(off, 4, big_endian, what), b = uint(off + 4, 4, big_endian, what);
    return big_endian ? (a << 32) | b : (b << 32) | a;
  }
  bool starts_with(uint64_t off, std::string_view s) const {
    return has(off, s.size()) && std::memcmp(b_.data() + off, s.data(), s.size()) == 0;
  }
  [[noreturn]] void fail(const std::string& reason) const { throw Error(ErrorCode::ImageDecode, name_ + ": " + reason); }

 private:
  std::span<const uint8_t> b_;
  const std::string& name_;
};

void set_size(ImageProbe& p, const Bytes& b, uint64_t w, uint64_t h, const char* fmt) {
  if (w == 0 || h == 0)
    b.fail(std::string(fmt) + " header gives a zero dimension (" + std::to_string(w) + "x" + std::to_string(h) + ")");
  p.width = w;
  p.height = h;
}

// ---- JPEG ----
bool is_sof(uint8_t m) { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC; }

// Skips entropy-coded data from `pos`; returns the offset of the next real marker's 0xFF, or nullopt at EOF.
std::optional<std::size_t> skip_entropy_data(const Bytes& b, std::size_t pos) {
  const uint8_t* d = b.data();
  const std::size_t n = b.size();
  while (pos < n) {
    const void* ff = std::memchr(d + pos, 0xFF, n - pos);
    if (!ff) return std::nullopt;
    pos = static_cast<std::size_t>(static_cast<const uint8_t*>(ff) - d);
    std::size_t next = pos + 1;
    while (next < n && d[next] == 0xFF) ++next;  // fill bytes
    if (next >= n) return std::nullopt;
    const uint8_t m = d[next];
    if (m == 0x00 || (m >= 0xD0 && m <= 0xD7)) {  // stuffed zero or restart marker: still in the scan
      pos = next + 1;
      continue;
    }
    return next - 1;
  }
  return std::nullopt;
}

void probe_jpeg(ImageProbe& p, const Bytes& b) {
  std::size_t pos = 2;  // after SOI
  bool seen_sos = false;
  const std::size_t n = b.size();
  while (true) {
    // Like libjpeg, tolerate junk before a marker; then any number of 0xFF fill bytes.
    while (pos < n && b.data()[pos] != 0xFF) ++pos;
    while (pos < n && b.data()[pos] == 0xFF) ++pos;
    if (pos >= n) b.fail("truncated JPEG (the file ends before the end-of-image marker)");
    const uint8_t m = b.data()[pos++];
    if (m == 0xD9) break;                                  // EOI
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;   // TEM, stray RSTn: no length
    if (m == 0xD8) b.fail("malformed JPEG (a second start-of-image marker)");
    const uint32_t len = b.uint(pos, 2, true, "JPEG (the file ends inside a marker segment)");
    if (len < 2) b.fail("malformed JPEG (marker segment length " + std::to_string(len) + ")");
    b.need(pos, len, "JPEG (the file ends inside a marker segment)");
    if (is_sof(m)) {
      if (len < 8) b.fail("malformed JPEG (short frame header)");
      if (p.has_size()) b.fail("malformed JPEG (more than one frame header)");
      const uint32_t h = b.uint(pos + 3, 2, true, "JPEG frame header");
      const uint32_t w = b.uint(pos + 5, 2, true, "JPEG frame header");
      p.jpeg_components = b.u8(pos + 7, "JPEG frame header");
      if (h == 0) b.fail("unsupported JPEG (height defined by a DNL marker)");
      set_size(p, b, w, h, "JPEG");
    }
    pos += len;
    if (m == 0xDA) {  // SOS: the entropy-coded scan follows the header
      if (!p.has_size()) b.fail("malformed JPEG (scan before the frame header)");
      seen_sos = true;
      const auto next = skip_entropy_data(b, pos);
      if (!next) b.fail("truncated JPEG (the file ends inside the image data)");
      pos = *next;
    }
  }
  if (!p.has_size()) b.fail("malformed JPEG (no frame header before the end-of-image marker)");
  if (!seen_sos) b.fail("malformed JPEG (no image data before the end-of-image marker)");
}

// ---- PNG ----
void probe_png(ImageProbe& p, const Bytes& b) {
  if (!b.starts_with(12, "IHDR")) b.fail("malformed PNG (the first chunk is not IHDR)");
  set_size(p, b, b.uint(16, 4, true, "PNG header"), b.uint(20, 4, true, "PNG header"), "PNG");
}

// ---- BMP ----
void probe_bmp(ImageProbe& p, const Bytes& b) {
  const uint32_t dib = b.uint(14, 4, false, "BMP header");
  if (dib == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit unsigned dimensions
    set_size(p, b, b.uint(18, 2, false, "BMP header"), b.uint(20, 2, false, "BMP header"), "BMP");
    return;
  }
  if (dib < 16) b.fail("malformed BMP (info header size " + std::to_string(dib) + ")");
  const auto w = static_cast<int32_t>(b.uint(18, 4, false, "BMP header"));
  const auto h = static_cast<int32_t>(b.uint(22, 4, false, "BMP header"));  // negative: top-down rows
  if (w <= 0) b.fail("malformed BMP (width " + std::to_string(w) + ")");
  const uint64_t habs = h < 0 ? uint64_t{0} - static_cast<uint64_t>(static_cast<int64_t>(h)) : static_cast<uint64_t>(h);
  set_size(p, b, static_cast<uint64_t>(w), habs, "BMP");
}

// ---- WebP (RIFF container; simple lossy, lossless, or extended) ----
void probe_webp(ImageProbe& p, const Bytes& b) {
  if (b.starts_with(12, "VP8 ")) {
    if (b.u8(23, "WebP header") != 0x9D || b.u8(24, "WebP header") != 0x01 || b.u8(25, "WebP header") != 0x2A)
      b.fail("malformed WebP (bad VP8 start code)");
    set_size(p, b, b.uint(26, 2, false, "WebP header") & 0x3FFF, b.uint(28, 2, false, "WebP header") & 0x3FFF, "WebP");
  } else if (b.starts_with(12, "VP8L")) {
    if (b.u8(20, "WebP header") != 0x2F) b.fail("malformed WebP (bad VP8L signature)");
    const uint32_t bits = b.uint(21, 4, false, "WebP header");
    set_size(p, b, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, "WebP");
  } else if (b.starts_with(12, "VP8X")) {
    set_size(p, b, uint64_t{b.uint(24, 3, false, "WebP header")} + 1, uint64_t{b.uint(27, 3, false, "WebP header")} + 1,
             "WebP");
  } else {
    b.fail("malformed WebP (unknown first chunk)");
  }
}

// ---- TIFF / BigTIFF: dimensions of the first image file directory ----
void probe_tiff(ImageProbe& p, const Bytes& b) {
  const bool be = b.starts_with(0, "MM");
  const uint32_t magic = b.uint(2, 2, be, "TIFF header");
  const bool big = magic == 43;
  uint64_t ifd = 0;
  if (big) {
    if (b.uint(4, 2, be, "TIFF header") != 8) b.fail("malformed BigTIFF (offset size)");
    ifd = b.u64(8, be, "TIFF header");
  } else {
    ifd = b.uint(4, 4, be, "TIFF header");
  }
  const uint64_t count = big ? b.u64(ifd, be, "TIFF directory") : b.uint(ifd, 2, be, "TIFF directory");
  const uint64_t entry_size = big ? 20 : 12;
  const uint64_t first = ifd + (big ? 8 : 2);
  if (count > b.size() / entry_size) b.fail("truncated TIFF directory");
  b.need(first, count * entry_size, "TIFF directory");
  uint64_t w = 0, h = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t e = first + i * entry_size;
    const uint32_t tag = b.uint(e, 2, be, "TIFF directory");
    if (tag != 256 && tag != 257) continue;
    const uint32_t type = b.uint(e + 2, 2, be, "TIFF directory");
    const uint64_t value_off = e + (big ? 12 : 8);
    uint64_t v = 0;
    if (type == 3) v = b.uint(value_off, 2, be, "TIFF directory");        // SHORT
    else if (type == 4) v = b.uint(value_off, 4, be, "TIFF directory");   // LONG
    else if (type == 16 && big) v = b.u64(value_off, be, "TIFF directory");  // LONG8
    else b.fail("malformed TIFF (image size tag of type " + std::to_string(type) + ")");
    (tag == 256 ? w : h) = v;
  }
  if (w == 0 || h == 0) b.fail("malformed TIFF (no image width/length in the first directory)");
  set_size(p, b, w, h, "TIFF");
}

// ---- Netpbm (P1-P6), PFM, PAM: ASCII headers with '#' comments ----
class TextHeader {
 public:
  TextHeader(const Bytes& b, std::size_t pos) : b_(b), pos_(pos), end_(std::min<std::size_t>(b.size(), pos + 4096)) {}

  std::string token() {
    skip_space();
    std::string t;
    while (pos_ < end_ && !std::isspace(b_.data()[pos_]) && b_.data()[pos_] != '#' && t.size() < 64)
      t.push_back(static_cast<char>(b_.data()[pos_++]));
    if (t.empty()) b_.fail("truncated or malformed image header");
    return t;
  }
  uint64_t number() {
    const std::string t = token();
    uint64_t v = 0;
    if (t.size() > 12) b_.fail("malformed image header (number too large: " + t + ")");
    for (char c : t) {
      if (c < '0' || c > '9') b_.fail("malformed image header (expected a number, got '" + t + "')");
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
  }

 private:
  void skip_space() {
    while (pos_ < end_) {
      const uint8_t c = b_.data()[pos_];
      if (c == '#') {
        while (pos_ < end_ && b_.data()[pos_] != '\n' && b_.data()[pos_] != '\r') ++pos_;
      } else if (std::isspace(c)) {
        ++pos_;
      } else {
        break;
      }
    }
  }
  const Bytes& b_;
  std::size_t pos_, end_;
};

void probe_pnm(ImageProbe& p, const Bytes& b) {
  TextHeader t(b, 2);
  const uint64_t w = t.number();
  const uint64_t h = t.number();
  set_size(p, b, w, h, format_name(p.format));
}

void probe_pam(ImageProbe& p, const Bytes& b) {
  TextHeader t(b, 2);
  uint64_t w = 0, h = 0;
  for (int i = 0; i < 64; ++i) {
    const std::string key = t.token();
    if (key == "ENDHDR") break;
    if (key == "WIDTH") w = t.number();
    else if (key == "HEIGHT") h = t.number();
  }
  set_size(p, b, w, h, "PAM");
}

// ---- Radiance HDR: header lines, a blank line, then e.g. "-Y 480 +X 640" ----
void probe_hdr(ImageProbe& p, const Bytes& b) {
  const std::size_t end = std::min<std::size_t>(b.size(), 65536);
  std::size_t pos = 0;
  bool blank = false;
  while (pos < end && !blank) {
    const std::size_t start = pos;
    while (pos < end && b.data()[pos] != '\n') ++pos;
    blank = pos == start;
    ++pos;
  }
  if (!blank || pos >= end) b.fail("truncated or malformed Radiance HDR header");
  TextHeader t(b, pos);
  const std::string a1 = t.token();
  const uint64_t n1 = t.number();
  const std::string a2 = t.token();
  const uint64_t n2 = t.number();
  if (a1.size() != 2 || a2.size() != 2) b.fail("malformed Radiance HDR resolution line");
  const bool y_first = a1[1] == 'Y';
  set_size(p, b, y_first ? n2 : n1, y_first ? n1 : n2, "HDR");
}

// ---- JPEG 2000: raw codestream (SIZ marker) or JP2 boxes (jp2h/ihdr) ----
void probe_j2k_codestream(ImageProbe& p, const Bytes& b, uint64_t off) {
  if (b.uint(off + 2, 2, true, "JPEG 2000 header") != 0xFF51) b.fail("malformed JPEG 2000 (no SIZ marker)");
  const uint64_t xs = b.uint(off + 8, 4, true, "JPEG 2000 header"), ys = b.uint(off + 12, 4, true, "JPEG 2000 header");
  const uint64_t xo = b.uint(off + 16, 4, true, "JPEG 2000 header"), yo = b.uint(off + 20, 4, true, "JPEG 2000 header");
  if (xo >= xs || yo >= ys) b.fail("malformed JPEG 2000 (image offset beyond its size)");
  set_size(p, b, xs - xo, ys - yo, "JPEG 2000");
}

void probe_jp2(ImageProbe& p, const Bytes& b, uint64_t pos, uint64_t end, int depth) {
  while (pos < end) {
    uint64_t len = b.uint(pos, 4, true, "JPEG 2000 box");
    uint64_t header = 8;
    if (len == 1) {
      len = b.u64(pos + 8, true, "JPEG 2000 box");
      header = 16;
    } else if (len == 0) {
      len = end - pos;
    }
    if (len < header || len > end - pos) b.fail("malformed JPEG 2000 (box size)");
    if (b.starts_with(pos + 4, "ihdr")) {
      const uint64_t h = b.uint(pos + header, 4, true, "JPEG 2000 header");
      const uint64_t w = b.uint(pos + header + 4, 4, true, "JPEG 2000 header");
      set_size(p, b, w, h, "JPEG 2000");
      return;
    }
    if (b.starts_with(pos + 4, "jp2h") && depth == 0) return probe_jp2(p, b, pos + header, pos + len, 1);
    pos += len;
  }
  b.fail("malformed JPEG 2000 (no image header box)");
}

}  // namespace

const char* format_name(ImageFormat format) noexcept {
  switch (format) {
    case ImageFormat::Unknown: return "unknown";
    case ImageFormat::Jpeg: return "JPEG";
    case ImageFormat::Png: return "PNG";
    case ImageFormat::Bmp: return "BMP";
    case ImageFormat::WebP: return "WebP";
    case ImageFormat::Tiff: return "TIFF";
    case ImageFormat::Pnm: return "PNM";
    case ImageFormat::Pam: return "PAM";
    case ImageFormat::Pfm: return "PFM";
    case ImageFormat::SunRaster: return "Sun raster";
    case ImageFormat::Hdr: return "Radiance HDR";
    case ImageFormat::Jpeg2000: return "JPEG 2000";
    case ImageFormat::Gif: return "GIF";
  }
  return "unknown";
}

ImageProbe probe_image(std::span<const uint8_t> bytes, const std::string& name) {
  const Bytes b(bytes, name);
  ImageProbe p;
  auto at = [&](uint64_t off, uint8_t v) { return b.has(off, 1) && bytes[off] == v; };
  if (at(0, 0xFF) && at(1, 0xD8)) {
    p.format = ImageFormat::Jpeg;
    probe_jpeg(p, b);
  } else if (b.starts_with(0, "\x89PNG\r\n\x1a\n")) {
    p.format = ImageFormat::Png;
    probe_png(p, b);
  } else if (b.starts_with(0, "BM")) {
    p.format = ImageFormat::Bmp;
    probe_bmp(p, b);
  } else if (b.starts_with(0, "RIFF") && b.starts_with(8, "WEBP")) {
    p.format = ImageFormat::WebP;
    probe_webp(p, b);
  } else if (b.starts_with(0, "II") || b.starts_with(0, "MM")) {
    const bool be = b.starts_with(0, "MM");
    const uint32_t magic = b.has(2, 2) ? b.uint(2, 2, be, "TIFF header") : 0;
    if (magic == 42 || magic == 43) {
      p.format = ImageFormat::Tiff;
      probe_tiff(p, b);
    }
  } else if (b.starts_with(0, "P7")) {
    p.format = ImageFormat::Pam;
    probe_pam(p, b);
  } else if (b.has(0, 3) && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '6' && std::isspace(bytes[2])) {
    p.format = ImageFormat::Pnm;
    probe_pnm(p, b);
  } else if ((b.starts_with(0, "PF") || b.starts_with(0, "Pf")) && b.has(2, 1) && std::isspace(bytes[2])) {
    p.format = ImageFormat::Pfm;
    probe_pnm(p, b);
  } else if (at(0, 0x59) && at(1, 0xA6) && at(2, 0x6A) && at(3, 0x95)) {
    p.format = ImageFormat::SunRaster;
    set_size(p, b, b.uint(4, 4, true, "Sun raster header"), b.uint(8, 4, true, "Sun raster header"), "Sun raster");
  } else if (b.starts_with(0, "#?")) {
    p.format = ImageFormat::Hdr;
    probe_hdr(p, b);
  } else if (b.starts_with(0, std::string_view("\0\0\0\x0cjP  \r\n\x87\n", 12))) {
    p.format = ImageFormat::Jpeg2000;
    probe_jp2(p, b, 0, bytes.size(), 0);
  } else if (at(0, 0xFF) && at(1, 0x4F) && at(2, 0xFF) && at(3, 0x51)) {
    p.format = ImageFormat::Jpeg2000;
    probe_j2k_codestream(p, b, 0);
  } else if (b.starts_with(0, "GIF87a") || b.starts_with(0, "GIF89a")) {
    p.format = ImageFormat::Gif;
    set_size(p, b, b.uint(6, 2, false, "GIF header"), b.uint(8, 2, false, "GIF header"), "GIF");
  }
  return p;
}

}  // namespace vitvk::image
