#include "image/probe.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

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

// ---- HEIF / AVIF: ISO base media file format boxes (ISO/IEC 14496-12, 23008-12) ----
// Only what bounds the decode is read: which item is primary, every image item's 'ispe' size, the canvas of a
// 'grid'/'iovl' derived image (its output size lives in the item's data, not in a property), and where each
// item's data lies. libheif checks only its own per-side cap (32768 by default) and trusts a grid's canvas, so
// a 200-byte file can ask for gigabytes; and a cut file is only noticed when a decoder runs out of data.
constexpr uint32_t fourcc(const char (&s)[5]) {
  return (uint32_t{static_cast<uint8_t>(s[0])} << 24) | (uint32_t{static_cast<uint8_t>(s[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[2])} << 8) | uint32_t{static_cast<uint8_t>(s[3])};
}

std::string fourcc_text(uint32_t v) {
  std::string s;
  for (int shift = 24; shift >= 0; shift -= 8) {
    const char c = static_cast<char>((v >> shift) & 0xFF);
    s += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  return s;
}

// Which format an 'ftyp' box names, from its major and compatible brands; Unknown for other ISO files (MP4...).
ImageFormat heif_brand_format(const Bytes& b) {
  if (!b.starts_with(4, "ftyp") || !b.has(0, 16)) return ImageFormat::Unknown;
  const uint64_t size = std::min<uint64_t>(b.uint(0, 4, true, "HEIF header"), b.size());
  bool heif = false, avif = false;
  for (uint64_t off = 8; off + 4 <= size; off += off == 8 ? 8 : 4) {  // major brand, minor version, compatible
    const std::string_view brand(reinterpret_cast<const char*>(b.data() + off), 4);
    avif |= brand == "avif" || brand == "avis";
    for (std::string_view h : {"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "mif2", "miaf"})
      heif |= brand == h;
  }
  return avif ? ImageFormat::Avif : heif ? ImageFormat::Heif : ImageFormat::Unknown;
}

struct IsoBox {
  uint32_t type = 0;
  uint64_t body = 0;  // first payload byte (after size, type and any 64-bit size)
  uint64_t end = 0;   // one past the last byte
};

// Reads consecutive fields inside one box; reading past the box is a malformed file, past the file a truncated one.
class BoxReader {
 public:
  BoxReader(const Bytes& b, const IsoBox& box, uint64_t pos, const char* fmt) : b_(b), box_(box), pos_(pos), fmt_(fmt) {}
  uint64_t get(int n) {  // n = 0, 1, 2, 3, 4 or 8 bytes, big-endian
    if (n < 0 || (n > 4 && n != 8))
      b_.fail(std::string("malformed ") + fmt_ + " (a field of " + std::to_string(n) + " bytes in '" +
              fourcc_text(box_.type) + "')");
    if (pos_ > box_.end || static_cast<uint64_t>(n) > box_.end - pos_)
      b_.fail(std::string("malformed ") + fmt_ + " (the '" + fourcc_text(box_.type) + "' box is shorter than its contents)");
    const uint64_t v = n == 0 ? 0 : n == 8 ? b_.u64(pos_, true, fmt_) : b_.uint(pos_, n, true, fmt_);
    pos_ += static_cast<uint64_t>(n);
    return v;
  }
  bool done() const { return pos_ >= box_.end; }

 private:
  const Bytes& b_;
  const IsoBox& box_;
  uint64_t pos_;
  const char* fmt_;
};

// The boxes directly inside [pos, end). A box that runs past the end of the file is truncation; past its parent,
// malformation.
std::vector<IsoBox> child_boxes(const Bytes& b, uint64_t pos, uint64_t end, const char* fmt) {
  std::vector<IsoBox> out;
  while (pos < end) {
    const std::string trunc = std::string("truncated ") + fmt + " (the file ends inside a box header)";
    if (!b.has(pos, 8)) b.fail(trunc);
    if (end - pos < 8) b.fail(std::string("malformed ") + fmt + " (a box header overruns its parent box)");
    IsoBox box;
    uint64_t size = b.uint(pos, 4, true, fmt);
    box.type = b.uint(pos + 4, 4, true, fmt);
    uint64_t header = 8;
    if (size == 1) {
      if (!b.has(pos, 16)) b.fail(trunc);
      size = b.u64(pos + 8, true, fmt);
      header = 16;
    } else if (size == 0) {
      size = end - pos;  // "to the end": only the last box may say so
    }
    if (size < header)
      b.fail(std::string("malformed ") + fmt + " (box '" + fourcc_text(box.type) + "' of size " + std::to_string(size) + ")");
    if (size > end - pos) {
      if (end == b.size())
        b.fail(std::string("truncated ") + fmt + " (the '" + fourcc_text(box.type) + "' box at byte " + std::to_string(pos) +
               " needs " + std::to_string(size) + " bytes; the file ends after " + std::to_string(end - pos) + ")");
      b.fail(std::string("malformed ") + fmt + " (box '" + fourcc_text(box.type) + "' overruns its parent box)");
    }
    box.body = pos + header;
    box.end = pos + size;
    out.push_back(box);
    pos = box.end;
  }
  return out;
}

const IsoBox* find_box(const std::vector<IsoBox>& boxes, uint32_t type) {
  for (const IsoBox& x : boxes)
    if (x.type == type) return &x;
  return nullptr;
}

struct HeifItem {
  uint32_t type = 0;  // 'hvc1', 'av01', 'grid', 'iovl', 'iden', 'Exif', ...; 0 for an old-style entry
  uint64_t width = 0, height = 0;  // from 'ispe'
  int method = -1;                 // iloc construction method: 0 file offset, 1 'idat' offset, 2 item offset
  uint64_t dref = 0;               // 0: the data is in this file
  std::vector<std::pair<uint64_t, uint64_t>> extents;  // absolute (offset, length); length 0: to the end
};

bool is_image_item(uint32_t type) {
  return type == fourcc("hvc1") || type == fourcc("av01") || type == fourcc("grid") || type == fourcc("iovl") ||
         type == fourcc("iden");
}

void probe_heif(ImageProbe& p, const Bytes& b) {
  const char* fmt = format_name(p.format);
  const auto top = child_boxes(b, 0, b.size(), fmt);
  const IsoBox* meta = find_box(top, fourcc("meta"));
  if (!meta) b.fail(std::string("malformed ") + fmt + " (no 'meta' box)");
  const auto boxes = child_boxes(b, meta->body + 4, meta->end, fmt);  // 'meta' is a full box: version + flags

  const IsoBox* pitm = find_box(boxes, fourcc("pitm"));
  if (!pitm) b.fail(std::string("malformed ") + fmt + " (no primary item 'pitm')");
  BoxReader pr(b, *pitm, pitm->body, fmt);
  const uint64_t pitm_version = pr.get(1);
  pr.get(3);
  const uint64_t primary_id = pr.get(pitm_version == 0 ? 2 : 4);

  std::map<uint64_t, HeifItem> items;
  if (const IsoBox* iinf = find_box(boxes, fourcc("iinf"))) {
    BoxReader r(b, *iinf, iinf->body, fmt);
    const int count_size = r.get(1) == 0 ? 2 : 4;
    r.get(3);
    r.get(count_size);  // entry count: the 'infe' boxes themselves are what counts
    const uint64_t first = iinf->body + 4 + static_cast<uint64_t>(count_size);
    for (const IsoBox& infe : child_boxes(b, first, iinf->end, fmt)) {
      if (infe.type != fourcc("infe")) continue;
      BoxReader e(b, infe, infe.body, fmt);
      const uint64_t version = e.get(1);
      e.get(3);
      const uint64_t id = e.get(version == 3 ? 4 : 2);
      e.get(2);  // protection index
      items[id].type = version >= 2 ? static_cast<uint32_t>(e.get(4)) : 0;
    }
  }

  // Properties: 'ipco' lists them, 'ipma' says which (1-based) belong to which item.
  if (const IsoBox* iprp = find_box(boxes, fourcc("iprp"))) {
    const auto props = child_boxes(b, iprp->body, iprp->end, fmt);
    const IsoBox* ipco = find_box(props, fourcc("ipco"));
    const auto properties = ipco ? child_boxes(b, ipco->body, ipco->end, fmt) : std::vector<IsoBox>{};
    for (const IsoBox& ipma : props) {
      if (ipma.type != fourcc("ipma")) continue;
      BoxReader r(b, ipma, ipma.body, fmt);
      const uint64_t version = r.get(1);
      const uint64_t flags = r.get(3);
      for (uint64_t n = r.get(4); n > 0 && !r.done(); --n) {
        const uint64_t id = r.get(version < 1 ? 2 : 4);
        for (uint64_t k = r.get(1); k > 0; --k) {
          const uint64_t index = (flags & 1) ? r.get(2) & 0x7FFF : r.get(1) & 0x7F;
          if (index == 0 || index > properties.size() || properties[index - 1].type != fourcc("ispe")) continue;
          BoxReader s(b, properties[index - 1], properties[index - 1].body, fmt);
          s.get(4);  // version, flags
          HeifItem& item = items[id];
          item.width = s.get(4);
          item.height = s.get(4);
          if (item.width == 0 || item.height == 0)
            b.fail(std::string(fmt) + " header gives a zero dimension (" + std::to_string(item.width) + "x" +
                   std::to_string(item.height) + ")");
        }
      }
    }
  }

  // Where each item's data lies; an extent past the end of the file is how a cut file shows.
  const IsoBox* idat = find_box(boxes, fourcc("idat"));
  if (const IsoBox* iloc = find_box(boxes, fourcc("iloc"))) {
    BoxReader r(b, *iloc, iloc->body, fmt);
    const uint64_t version = r.get(1);
    r.get(3);
    const uint64_t sizes = r.get(2);
    const int offset_size = static_cast<int>(sizes >> 12), length_size = static_cast<int>((sizes >> 8) & 15);
    const int base_size = static_cast<int>((sizes >> 4) & 15);
    const int index_size = version == 1 || version == 2 ? static_cast<int>(sizes & 15) : 0;
    // Fields may be 0 bytes wide, so an extent can take no room in the box: the extents are counted, else a
    // 1 MB 'iloc' could ask for 2^16 extents per item for 10^5 items.
    constexpr uint64_t kMaxExtents = 1u << 16;
    uint64_t total_extents = 0;
    for (uint64_t n = r.get(version < 2 ? 2 : 4); n > 0; --n) {
      const uint64_t id = r.get(version < 2 ? 2 : 4);
      HeifItem& item = items[id];
      item.method = version == 1 || version == 2 ? static_cast<int>(r.get(2) & 15) : 0;
      item.dref = r.get(2);
      const uint64_t base = r.get(base_size);
      const uint64_t extent_count = r.get(2);
      total_extents += extent_count;
      if (total_extents > kMaxExtents)
        b.fail(std::string("malformed ") + fmt + " (more than " + std::to_string(kMaxExtents) + " data extents)");
      for (uint64_t e = extent_count; e > 0; --e) {
        r.get(index_size);
        const uint64_t off = r.get(offset_size), len = r.get(length_size);
        if (item.dref != 0 || (item.method != 0 && item.method != 1)) continue;
        const uint64_t origin = item.method == 1 ? (idat ? idat->body : b.size()) : 0;
        const uint64_t limit = item.method == 1 ? (idat ? idat->end : b.size()) : b.size();
        const bool inside = base <= limit - origin && off <= limit - origin - base && len <= limit - origin - base - off;
        if (!inside && item.method == 1)
          b.fail(std::string("malformed ") + fmt + " (item " + std::to_string(id) + "'s data lies outside the 'idat' box)");
        if (!inside)
          b.fail(std::string("truncated ") + fmt + " (item " + std::to_string(id) + "'s data runs past the end of the " +
                 std::to_string(b.size()) + "-byte file)");
        item.extents.emplace_back(origin + base + off, len == 0 ? limit - (origin + base + off) : len);
      }
    }
  }

  const auto primary = items.find(primary_id);
  if (primary == items.end() || !is_image_item(primary->second.type))
    b.fail(std::string("malformed ") + fmt + " (the primary item " + std::to_string(primary_id) + " is not an image)");
  if (primary->second.width == 0)
    b.fail(std::string("malformed ") + fmt + " (the primary image has no 'ispe' size)");
  p.width = primary->second.width;
  p.height = primary->second.height;

  // Everything else a decode may allocate: other images' 'ispe' and the canvas of each grid or overlay, whose
  // output size is in its data ('grid': version, flags, rows-1, columns-1, then 16- or 32-bit width and height;
  // 'iovl': version, flags, a 4 x 16-bit fill colour, then the same).
  auto consider = [&](uint64_t w, uint64_t h) {
    if (w * h > p.part_width * p.part_height) p.part_width = w, p.part_height = h;
  };
  for (const auto& [id, item] : items) {
    if (id != primary_id) consider(item.width, item.height);
    const bool grid = item.type == fourcc("grid");
    if (!grid && item.type != fourcc("iovl")) continue;
    if (item.method < 0) b.fail(std::string("malformed ") + fmt + " (item " + std::to_string(id) + " has no data location)");
    if (item.dref != 0 || item.method > 1) continue;  // in another file or item: libheif refuses it or reads it itself
    std::vector<uint8_t> head;  // its first bytes, across extents
    for (const auto& [off, len] : item.extents)
      for (uint64_t i = 0; i < len && head.size() < 18; ++i) head.push_back(b.data()[off + i]);
    const std::size_t skip = grid ? 4 : 10;
    const std::size_t n = head.size() >= 2 && (head[1] & 1) ? 4 : 2;  // flags bit 0: 32-bit sizes
    if (head.size() < skip + 2 * n)
      b.fail(std::string("malformed ") + fmt + " (item " + std::to_string(id) + "'s canvas description is too short)");
    uint64_t w = 0, h = 0;
    for (std::size_t i = 0; i < n; ++i) {
      w = (w << 8) | head[skip + i];
      h = (h << 8) | head[skip + n + i];
    }
    if (w == 0 || h == 0)
      b.fail(std::string(fmt) + " header gives a zero canvas dimension (" + std::to_string(w) + "x" + std::to_string(h) + ")");
    consider(w, h);
  }
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
    case ImageFormat::Heif: return "HEIF";
    case ImageFormat::Avif: return "AVIF";
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
    p.width = b.uint(6, 2, false, "GIF header");  // the logical screen; 0x0 is legal (see probe.hpp)
    p.height = b.uint(8, 2, false, "GIF header");
  } else if (const ImageFormat f = heif_brand_format(b); f != ImageFormat::Unknown) {
    p.format = f;
    probe_heif(p, b);
  }
  return p;
}

}  // namespace vitvk::image
