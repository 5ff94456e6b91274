// Decoding edge cases with images written in the test: formats, bit depths, alpha, and bad input that must
// become a vitvk::Error naming the file and the reason (never a crash, never a silent grey image).
#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <fstream>
#include <functional>
#include <random>

#include "image/preprocess.hpp"
#include "image/probe.hpp"
#include "support/test_data.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

void write_bytes(const std::filesystem::path& p, std::span<const uint8_t> b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<uint8_t> encode(const std::string& ext, const cv::Mat& img, const std::vector<int>& params = {}) {
  std::vector<uint8_t> buf;
  REQUIRE(cv::imencode(ext, img, buf, params));
  return buf;
}

cv::Mat random_bgr(int w, int h, int seed) {
  cv::Mat m(h, w, CV_8UC3);
  cv::theRNG().state = static_cast<uint64_t>(seed);
  cv::randu(m, 0, 256);
  return m;
}

uint32_t crc32(std::span<const uint8_t> b) {
  uint32_t c = 0xFFFFFFFFu;
  for (uint8_t v : b) {
    c ^= v;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// A well-formed PNG (valid CRCs) whose IHDR claims w x h RGB pixels, with a tiny IDAT: a decompression bomb.
std::vector<uint8_t> png_bomb(uint32_t w, uint32_t h) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  auto be32 = [](std::vector<uint8_t>& v, uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<uint8_t>(x >> s));
  };
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    be32(out, static_cast<uint32_t>(data.size()));
    std::vector<uint8_t> td(type, type + 4);
    td.insert(td.end(), data.begin(), data.end());
    out.insert(out.end(), td.begin(), td.end());
    be32(out, crc32(td));
  };
  std::vector<uint8_t> ihdr;
  be32(ihdr, w);
  be32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB
  chunk("IHDR", ihdr);
  chunk("IDAT", {0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01});  // zlib stream of one zero byte
  chunk("IEND", {});
  return out;
}

// floor(v / 256) of a 16-bit image, as 8-bit.
cv::Mat high_byte(const cv::Mat& m16) {
  cv::Mat out(m16.size(), CV_MAKETYPE(CV_8U, m16.channels()));
  for (int y = 0; y < m16.rows; ++y)
    for (int i = 0; i < m16.cols * m16.channels(); ++i) out.ptr<uint8_t>(y)[i] = static_cast<uint8_t>(m16.ptr<uint16_t>(y)[i] >> 8);
  return out;
}

int max_diff(const cv::Mat& a, const cv::Mat& b) {
  REQUIRE(a.size() == b.size());
  REQUIRE(a.type() == b.type());
  cv::Mat d;
  cv::absdiff(a, b, d);
  double mx = 0;
  cv::minMaxLoc(d.reshape(1), nullptr, &mx);
  return static_cast<int>(mx);
}

// Expects decode to throw Error with `code`, a message naming `name` and containing `reason`.
void expect_error(const std::function<void()>& f, ErrorCode code, const std::string& name, const std::string& reason) {
  try {
    f();
    FAIL("no error thrown (expected: " << reason << ")");
  } catch (const Error& e) {
    INFO("message: " << e.what());
    CHECK(e.code() == code);
    CHECK(std::string(e.what()).find(name) != std::string::npos);
    CHECK(std::string(e.what()).find(reason) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("lossless formats decode to the pixels written, in RGB order", "[image][decode]") {
  const cv::Mat bgr = random_bgr(23, 17, 1);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  test::TempDir dir;
  for (const char* ext : {".png", ".bmp", ".tiff", ".ppm", ".pam", ".ras", ".webp"}) {
    const auto path = dir.path() / (std::string("img") + ext);
    const auto bytes = std::string(ext) == ".webp" ? encode(ext, bgr, {cv::IMWRITE_WEBP_QUALITY, 101}) : encode(ext, bgr);
    write_bytes(path, bytes);
    INFO(ext);
    const auto probe = image::probe_image(bytes, path.string());
    CHECK(probe.format != image::ImageFormat::Unknown);
    CHECK(probe.width == 23);
    CHECK(probe.height == 17);
    const cv::Mat got = decode_image_file(path);
    REQUIRE(got.type() == CV_8UC3);
    CHECK(max_diff(got, rgb) == 0);
    // The same bytes from memory.
    CHECK(max_diff(decode_image_bytes(bytes, "mem"), rgb) == 0);
  }
  // Lossy formats: the header's size is the decoded size (OpenJPEG refuses to encode very small images).
  const cv::Mat larger = random_bgr(80, 64, 2);
  for (const char* ext : {".jpg", ".jp2"}) {
    INFO(ext);
    const auto bytes = encode(ext, larger);
    const auto probe = image::probe_image(bytes, ext);
    CHECK(probe.width == 80);
    CHECK(probe.height == 64);
    CHECK(decode_image_bytes(bytes, ext).size() == larger.size());
  }
}

TEST_CASE("grayscale images become RGB with equal channels", "[image][decode]") {
  cv::Mat grey(9, 14, CV_8UC1);
  cv::randu(grey, 0, 256);
  for (const char* ext : {".png", ".jpg", ".bmp", ".pgm", ".tiff"}) {
    INFO(ext);
    const cv::Mat got = decode_image_bytes(encode(ext, grey), ext);
    REQUIRE(got.type() == CV_8UC3);
    std::vector<cv::Mat> ch;
    cv::split(got, ch);
    CHECK(max_diff(ch[0], ch[1]) == 0);
    CHECK(max_diff(ch[0], ch[2]) == 0);
    if (std::string(ext) != ".jpg") CHECK(max_diff(ch[0], grey) == 0);
  }
}

TEST_CASE("16-bit PNG and TIFF keep the high byte", "[image][decode]") {
  cv::Mat rgb16(6, 11, CV_16UC3), grey16(6, 11, CV_16UC1);
  cv::randu(rgb16, 0, 65536);
  cv::randu(grey16, 0, 65536);
  cv::Mat rgb16_rgb;
  cv::cvtColor(rgb16, rgb16_rgb, cv::COLOR_BGR2RGB);
  for (const char* ext : {".png", ".tiff"}) {
    INFO(ext);
    const cv::Mat expected = high_byte(rgb16_rgb);
    const cv::Mat got = decode_image_bytes(encode(ext, rgb16), ext);
    CHECK(max_diff(got, expected) <= (std::string(ext) == ".png" ? 0 : 1));  // libtiff may round
    cv::Mat g8rgb;
    cv::cvtColor(high_byte(grey16), g8rgb, cv::COLOR_GRAY2RGB);
    CHECK(max_diff(decode_image_bytes(encode(ext, grey16), ext), g8rgb) <= 1);
  }
}

TEST_CASE("RGBA PNG and WebP drop alpha without compositing", "[image][decode]") {
  cv::Mat bgra(8, 10, CV_8UC4);
  cv::randu(bgra, 0, 256);
  for (int y = 0; y < bgra.rows; ++y) bgra.at<cv::Vec4b>(y, y % bgra.cols)[3] = 0;  // fully transparent pixels
  cv::Mat expected;
  cv::cvtColor(bgra, expected, cv::COLOR_BGRA2RGB);
  CHECK(max_diff(decode_image_bytes(encode(".png", bgra), "rgba.png"), expected) == 0);
  // Lossless WebP may rewrite the colour under alpha 0 when encoding, so keep alpha >= 1 there.
  for (int y = 0; y < bgra.rows; ++y) bgra.at<cv::Vec4b>(y, y % bgra.cols)[3] = 1;
  CHECK(max_diff(decode_image_bytes(encode(".webp", bgra, {cv::IMWRITE_WEBP_QUALITY, 101}), "rgba.webp"), expected) == 0);
}

TEST_CASE("bad files give an Error naming the file and the reason", "[image][decode]") {
  test::TempDir dir;
  const auto p = [&](const char* n) { return dir.path() / n; };

  write_bytes(p("empty.jpg"), {});
  expect_error([&] { decode_image_file(p("empty.jpg")); }, ErrorCode::ImageDecode, p("empty.jpg").string(), "empty");

  const std::string text = "this is not an image, just text\n";
  write_bytes(p("text.jpg"), {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  expect_error([&] { decode_image_file(p("text.jpg")); }, ErrorCode::ImageDecode, "text.jpg", "not a recognised image format");

  expect_error([&] { decode_image_file(p("missing.png")); }, ErrorCode::Io, "missing.png", "cannot open");
  expect_error([&] { decode_image_file(dir.path()); }, ErrorCode::Io, dir.path().string(), "directory");

  // Truncated JPEG: libjpeg would pad it with grey and only warn; we refuse it.
  const auto jpg = encode(".jpg", random_bgr(64, 48, 2));
  for (std::size_t keep : {jpg.size() / 2, jpg.size() - 1, std::size_t{200}, std::size_t{3}}) {
    INFO("kept " << keep << " of " << jpg.size() << " bytes");
    write_bytes(p("cut.jpg"), std::span(jpg).first(keep));
    expect_error([&] { decode_image_file(p("cut.jpg")); }, ErrorCode::ImageDecode, "cut.jpg", "truncated");
  }
  // Every other format fails inside its decoder; still an Error.
  for (const char* ext : {".png", ".bmp", ".tiff", ".ppm", ".webp", ".ras"}) {
    const auto bytes = encode(ext, random_bgr(40, 30, 3));
    INFO(ext);
    CHECK_THROWS_AS(decode_image_bytes(std::span(bytes).first(bytes.size() / 2), ext), Error);
    CHECK_THROWS_AS(decode_image_bytes(std::span(bytes).first(bytes.size() - 1), ext), Error);
  }
}

TEST_CASE("corrupted and truncated files never crash the decoder", "[image][decode]") {
  // Every prefix of a small JPEG and PNG, and random byte flips: a valid image or an Error, nothing else.
  std::mt19937 rng(3);
  for (const char* ext : {".jpg", ".png"}) {
    const auto good = encode(ext, random_bgr(16, 12, 4));
    for (std::size_t n = 0; n < good.size(); n += 7) {
      try {
        decode_image_bytes(std::span(good).first(n), "prefix");
      } catch (const Error&) {
      }
    }
    int decoded = 0;
    for (int i = 0; i < 60; ++i) {
      auto bad = good;
      for (int k = 0; k < 4; ++k)
        bad[std::uniform_int_distribution<std::size_t>(0, bad.size() - 1)(rng)] = static_cast<uint8_t>(rng());
      try {
        const cv::Mat m = decode_image_bytes(bad, "flipped");
        CHECK(m.type() == CV_8UC3);
        ++decoded;
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find("flipped") != std::string::npos);
      }
    }
    WARN(ext << ": " << decoded << "/60 corrupted files still decoded, the rest were refused with an Error");
  }
}

TEST_CASE("pixel and file-size limits refuse images before decoding them", "[image][decode]") {
  test::TempDir dir;
  // A real 2000x1000 PNG (small: constant colour) against a 1 MP limit.
  const cv::Mat big(1000, 2000, CV_8UC3, cv::Scalar(10, 20, 30));
  write_bytes(dir.path() / "big.png", encode(".png", big));
  expect_error([&] { decode_image_file(dir.path() / "big.png", {.max_pixels = 1'000'000}); }, ErrorCode::ImageDecode,
               "big.png", "exceeds the limit of 1000000 pixels");
  CHECK(decode_image_file(dir.path() / "big.png", {.max_pixels = 2'000'000}).cols == 2000);

  // Decompression bombs: headers claiming huge sizes are refused from the header alone (the data is tiny).
  const auto png = png_bomb(65536, 65536);
  expect_error([&] { decode_image_bytes(png, "bomb.png"); }, ErrorCode::ImageDecode, "bomb.png", "from its header");
  auto jpg = encode(".jpg", cv::Mat(8, 8, CV_8UC3, cv::Scalar::all(0)));
  bool patched = false;
  for (std::size_t i = 2; i + 9 < jpg.size() && !patched; ++i)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {  // SOF0: height at +5, width at +7
      jpg[i + 5] = jpg[i + 7] = 0xFF;
      jpg[i + 6] = jpg[i + 8] = 0xF0;
      patched = true;
    }
  REQUIRE(patched);
  expect_error([&] { decode_image_bytes(jpg, "bomb.jpg"); }, ErrorCode::ImageDecode, "bomb.jpg", "65520x65520");
  // Our limit raised above OpenCV's own cap (OPENCV_IO_MAX_IMAGE_PIXELS, default 2^30): OpenCV's assertion
  // becomes an Error that says which limit it was.
  expect_error([&] { decode_image_bytes(png, "bomb.png", {.max_pixels = uint64_t{1} << 40}); }, ErrorCode::ImageDecode,
               "bomb.png", "OpenCV's own size limit");

  write_bytes(dir.path() / "f.png", encode(".png", random_bgr(30, 30, 5)));
  expect_error([&] { decode_image_file(dir.path() / "f.png", {.max_file_bytes = 100}); }, ErrorCode::ImageDecode, "f.png",
               "exceeds the limit of 100 bytes");
}

TEST_CASE("tiny and extreme-aspect images go through the whole transform", "[image][preprocess]") {
  PreprocessConfig cfg;  // 224, crop 0.875, bicubic, ImageNet mean/std
  // 1x1: upscaled to 256x256 and cropped; a constant image stays constant.
  const cv::Mat one(1, 1, CV_8UC3, cv::Scalar(200, 100, 50));
  CropGeometry g;
  const auto x = preprocess(one, cfg, &g);
  CHECK(g.resized_w == 256);
  CHECK(g.resized_h == 256);
  CHECK(g.crop_x == 16);
  for (int c = 0; c < 3; ++c) {
    const float v = (static_cast<float>(c == 0 ? 200 : c == 1 ? 100 : 50) / 255.0f - cfg.mean[c]) / cfg.std[c];
    for (int i = 0; i < 224 * 224; ++i) REQUIRE(x[c * 224 * 224 + i] == v);
  }
  // 4000x3: the long side becomes int(256 * 4000 / 3) = 341333; only the crop is resampled.
  cv::Mat wide(3, 4000, CV_8UC3);
  cv::randu(wide, 0, 256);
  const auto y = preprocess(wide, cfg, &g);
  CHECK(g.resized_w == 341333);
  CHECK(g.resized_h == 256);
  CHECK(g.crop_x == 170554);  // int(round(170554.5)): Python rounds half to even
  CHECK(g.src_x0() == Approx(static_cast<double>(g.crop_x) * 4000 / 341333));
  for (float v : y) REQUIRE(std::isfinite(v));
  // Smaller than the crop after the resize (crop_pct > 1): torchvision pads with zeros.
  cfg.crop_pct = 1.25f;  // shorter side floor(224 / 1.25) = 179
  const auto z = preprocess(random_bgr(300, 200, 6), cfg, &g);
  CHECK(g.resized_h == 179);
  CHECK(g.resized_w == 268);
  CHECK(g.crop_y == -((224 - 179) / 2));
  CHECK(z[0] == (0.0f - cfg.mean[0]) / cfg.std[0]);
}
