// HEIF/HEIC, AVIF and GIF, the formats phones and the web give: files made at test time from the sample photos
// (Debian's heif-enc, libheif's encoder API, PIL, giflib's writer), decoded close to the JPEG original, in the
// orientation the file states (applied once), and bad files refused with the file's name and the reason.
#include <catch2/catch.hpp>

#include <opencv2/imgproc.hpp>

#include <cstdlib>
#include <functional>
#include <random>

#include "image/preprocess.hpp"
#include "image/probe.hpp"
#include "support/image_writers.hpp"
#include "support/test_data.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

fs::path sample(const std::string& name) { return fs::path(VITVK_SOURCE_DIR) / "samples" / "images" / name; }

bool have_command(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

int run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

std::string quote(const fs::path& p) {
  std::string q = "'";
  for (char c : p.string()) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// chelsea.jpg scaled to w x h: small and not symmetric, so every orientation looks different.
cv::Mat small_photo(int w, int h) {
  cv::Mat out;
  cv::resize(decode_image_file(sample("chelsea.jpg")), out, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  return out;
}

void expect_error(const std::function<void()>& f, const std::string& name, const std::string& reason) {
  try {
    f();
    FAIL("no error thrown (expected: " << reason << ")");
  } catch (const Error& e) {
    INFO("message: " << e.what());
    CHECK(e.code() == ErrorCode::ImageDecode);
    CHECK_THAT(e.what(), Catch::Contains(name) && Catch::Contains(reason));
  }
}

cv::Mat swap_rb(const cv::Mat& m) {
  cv::Mat out;
  cv::cvtColor(m, out, cv::COLOR_RGB2BGR);
  return out;
}

void put_be(std::vector<uint8_t>& b, std::size_t at, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.at(at + static_cast<std::size_t>(i)) = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}

// The codecs of `wanted` this libheif can encode; a warning names each one it cannot. Empty: the caller skips.
std::vector<test::HeifCodec> encodable(std::vector<test::HeifCodec> wanted, std::string& why_not) {
  std::vector<test::HeifCodec> out;
  for (const test::HeifCodec c : wanted) {
    if (const auto missing = test::heif_encoder_missing(c)) {
      WARN(*missing);
      why_not += (why_not.empty() ? "" : "; ") + *missing;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("HEIC and AVIF made by heif-enc from the sample photos decode like the JPEGs", "[image][formats][heif]") {
  if (!have_command("heif-enc")) {
    test::skip("heif-enc not found (Debian: libheif-examples)");
    return;
  }
  std::string why_not;
  if (encodable({test::HeifCodec::Hevc, test::HeifCodec::Av1}, why_not).size() != 2) {
    test::skip(why_not);  // heif-enc uses the same libheif encoders
    return;
  }
  test::TempDir tmp;
  // Two photos here (the pixels); the CLI test (tests/cli/test_formats_cli.cpp) takes all four through the model.
  for (const char* stem : {"chelsea", "coffee"}) {
    const cv::Mat jpeg = decode_image_file(sample(std::string(stem) + ".jpg"));
    for (const char* ext : {".heic", ".avif"}) {
      INFO(stem << ext);
      const fs::path out = tmp.path() / (std::string(stem) + ext);
      REQUIRE(run("heif-enc -q 90 -o " + quote(out) + " " + quote(sample(std::string(stem) + ".jpg"))) == 0);
      const auto bytes = test::read_bytes(out);
      const auto probe = image::probe_image(bytes, out.string());
      CHECK(probe.format == (std::string(ext) == ".heic" ? image::ImageFormat::Heif : image::ImageFormat::Avif));
      CHECK(probe.width == static_cast<uint64_t>(jpeg.cols));
      CHECK(probe.height == static_cast<uint64_t>(jpeg.rows));
      const cv::Mat got = decode_image_file(out);
      REQUIRE(got.type() == CV_8UC3);
      REQUIRE(got.size() == jpeg.size());
      // Lossy at quality 90: a few levels from the JPEG's pixels; with red and blue swapped, far more.
      const double diff = test::mean_abs_diff(got, jpeg);
      CHECK(diff < 4.0);
      CHECK(test::mean_abs_diff(swap_rb(got), jpeg) > 2 * diff + 4);
      // BGR order: the same pixels.
      CHECK(test::mean_abs_diff(decode_image_bytes(bytes, "mem", {}, PixelOrder::Bgr), swap_rb(got)) == 0.0);
    }
  }
}

TEST_CASE("HEIF orientation (irot/imir) is applied exactly once, an Exif orientation inside is not applied again",
          "[image][formats][heif]") {
  const cv::Mat shown = small_photo(96, 64);
  std::vector<cv::Mat> candidates;  // what each of the 8 orientations would show
  for (int o = 1; o <= 8; ++o) candidates.push_back(test::apply_orientation(shown, o));
  auto closest = [&](const cv::Mat& got) {
    int best = 0;
    for (int o = 1; o < 8; ++o)
      if (test::mean_abs_diff(got, candidates[static_cast<std::size_t>(o)]) <
          test::mean_abs_diff(got, candidates[static_cast<std::size_t>(best)]))
        best = o;
    return best + 1;  // as an orientation: 1 = as shown
  };
  std::string why_not;
  const auto codecs = encodable({test::HeifCodec::Hevc, test::HeifCodec::Av1}, why_not);
  if (codecs.empty()) {
    test::skip(why_not);
    return;
  }
  for (const test::HeifCodec codec : codecs) {
    for (int o = 1; o <= 8; ++o) {
      // Every orientation in HEVC; the two rotations in AV1 (the same boxes, a slower encoder).
      if (codec == test::HeifCodec::Av1 && o != 6 && o != 8) continue;
      for (const bool with_exif : {false, true}) {
        INFO("codec " << (codec == test::HeifCodec::Hevc ? "HEVC" : "AV1") << ", orientation " << o
                      << (with_exif ? ", the same in Exif" : ""));
        const cv::Mat stored = test::unapply_orientation(shown, o);
        test::HeifOptions opt{.codec = codec, .orientation = o};
        if (with_exif) opt.exif_orientation = o;  // as phones write it: the boxes and the Exif tag agree
        const cv::Mat got = decode_image_bytes(test::encode_heif(stored, opt), "rotated.heic");
        REQUIRE(got.size() == shown.size());
        CHECK(closest(got) == 1);
        CHECK(test::mean_abs_diff(got, shown) < 6.0);
      }
    }
  }
  // An Exif tag that disagrees with the boxes (no irot, Exif says "rotate 90"): the boxes decide, as in libheif,
  // browsers and pillow-heif; the pixels come out as stored.
  const cv::Mat got =
      decode_image_bytes(test::encode_heif(shown, {.codec = codecs.front(), .exif_orientation = 6}), "exif_only.heic");
  REQUIRE(got.size() == shown.size());
  CHECK(closest(got) == 1);
}

TEST_CASE("a 10-bit HEIC decodes to 8 bits", "[image][formats][heif]") {
  if (const auto missing = test::heif_encoder_missing(test::HeifCodec::Hevc)) {
    test::skip(*missing);
    return;
  }
  const cv::Mat photo = small_photo(64, 48);
  std::vector<uint8_t> bytes;
  try {
    bytes = test::encode_heif(photo, {.bit_depth = 10});
  } catch (const std::exception& e) {
    test::skip(std::string("this libheif's HEVC encoder cannot write 10 bits: ") + e.what());
    return;
  }
  const cv::Mat got = decode_image_bytes(bytes, "deep.heic");
  REQUIRE(got.type() == CV_8UC3);
  CHECK(test::mean_abs_diff(got, photo) < 4.0);
}

TEST_CASE("GIF: the first frame on its logical screen, as PIL's convert('RGB') shows it", "[image][formats][gif]") {
  std::mt19937 rng(11);
  auto palette = [&](int n) {
    std::vector<cv::Vec3b> p(static_cast<std::size_t>(n));
    for (auto& c : p) c = {static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())};
    return p;
  };
  auto indices = [&](int w, int h, int n) {
    cv::Mat m(h, w, CV_8UC1);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) m.at<uint8_t>(y, x) = static_cast<uint8_t>(rng() % static_cast<unsigned>(n));
    return m;
  };
  // Expected pixels from the rules in src/image/codecs.hpp.
  auto expected = [](int canvas_w, int canvas_h, const std::vector<cv::Vec3b>& pal, const test::GifFrame& f) {
    auto color = [&](int i) {
      return i < static_cast<int>(pal.size()) ? pal[static_cast<std::size_t>(i)]
                                              : cv::Vec3b(static_cast<uint8_t>(i), static_cast<uint8_t>(i), static_cast<uint8_t>(i));
    };
    const cv::Vec3b fill = color(f.transparent >= 0 ? f.transparent : 0);
    cv::Mat m(canvas_h, canvas_w, CV_8UC3, cv::Scalar(fill[0], fill[1], fill[2]));
    for (int y = 0; y < f.indices.rows; ++y)
      for (int x = 0; x < f.indices.cols; ++x) m.at<cv::Vec3b>(f.top + y, f.left + x) = color(f.indices.at<uint8_t>(y, x));
    return m;
  };
  // Palettes are padded to a power of two with black by the writer; `pal` below is what the file holds.
  auto padded = [](std::vector<cv::Vec3b> p) {
    std::size_t n = 2;
    while (n < p.size()) n *= 2;
    p.resize(n, cv::Vec3b(0, 0, 0));
    return p;
  };

  struct Case {
    std::string name;
    int screen_w, screen_h;
    std::vector<cv::Vec3b> global;
    std::vector<test::GifFrame> frames;
    int canvas_w, canvas_h;
    bool strip_global = false;  // giflib writes no frame without a colour table: the global one is cut out after
  };
  std::vector<Case> cases;
  const auto g256 = palette(256);
  cases.push_back({"full_frame.gif", 23, 17, g256, {{0, 0, indices(23, 17, 256)}}, 23, 17});
  cases.push_back({"offset_local_palette.gif", 23, 17, g256, {{5, 4, indices(10, 6, 16), palette(16)}}, 23, 17});
  cases.push_back({"transparent.gif", 23, 17, palette(8), {{3, 2, indices(12, 9, 8), {}, 3}}, 23, 17});
  cases.push_back({"interlaced.gif", 13, 37, palette(32), {{0, 0, indices(13, 37, 32), {}, -1, true}}, 13, 37});
  cases.push_back({"past_the_screen.gif", 8, 8, palette(4), {{4, 5, indices(10, 10, 4)}}, 14, 15});
  cases.push_back({"no_palette.gif", 9, 7, g256, {{0, 0, indices(9, 7, 256)}}, 9, 7, true});
  {
    test::GifFrame second{0, 0, indices(11, 7, 4)};
    cases.push_back({"animated.gif", 11, 7, palette(4), {{0, 0, indices(11, 7, 4)}, second}, 11, 7});
  }

  test::TempDir tmp;
  const bool have_pil = run("/usr/bin/python3 -c 'import PIL'") == 0;
  if (!have_pil) WARN("/usr/bin/python3 with PIL not found: GIF decodes are not compared with PIL's here");
  for (const Case& c : cases) {
    INFO(c.name);
    auto bytes = test::encode_gif(c.screen_w, c.screen_h, c.global, c.frames);
    if (c.strip_global) {  // byte 10: bit 7 says a global table follows the 13-byte header, bits 0-2 its size
      REQUIRE((bytes.at(10) & 0x80) != 0);
      const std::size_t table = 3u << ((bytes[10] & 7) + 1);
      bytes.erase(bytes.begin() + 13, bytes.begin() + 13 + static_cast<std::ptrdiff_t>(table));
      bytes[10] &= 0x7F;
    }
    const test::GifFrame& first = c.frames.front();
    const bool no_table = (c.global.empty() || c.strip_global) && first.local_palette.empty();
    const auto pal = no_table ? std::vector<cv::Vec3b>{} : padded(first.local_palette.empty() ? c.global : first.local_palette);
    const cv::Mat want = expected(c.canvas_w, c.canvas_h, pal, first);
    const cv::Mat got = decode_image_bytes(bytes, c.name);
    REQUIRE(got.size() == want.size());
    CHECK(test::mean_abs_diff(got, want) == 0.0);
    CHECK(test::mean_abs_diff(decode_image_bytes(bytes, c.name, {}, PixelOrder::Bgr), swap_rb(want)) == 0.0);
    if (have_pil) {  // the reference pipeline: PIL's first frame, convert("RGB")
      test::write_file(tmp.path() / c.name, bytes);
      const fs::path ppm = tmp.path() / (c.name + ".ppm");
      REQUIRE(run("/usr/bin/python3 -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).convert(\"RGB\").save(sys.argv[2])' " +
                  quote(tmp.path() / c.name) + " " + quote(ppm)) == 0);
      CHECK(test::mean_abs_diff(got, decode_image_file(ppm)) == 0.0);
    }
  }
}

TEST_CASE("truncated and bomb-sized HEIF and AVIF files are refused with the reason", "[image][formats][hostile][heif]") {
  std::string why_not;
  const auto codecs = encodable({test::HeifCodec::Hevc, test::HeifCodec::Av1}, why_not);
  if (codecs.size() != 2) {
    test::skip(why_not);
    return;
  }
  const cv::Mat photo = small_photo(96, 64);
  for (const test::HeifCodec codec : codecs) {
    const std::string fmt = codec == test::HeifCodec::Hevc ? "HEIF" : "AVIF";
    const std::string name = codec == test::HeifCodec::Hevc ? "photo.heic" : "photo.avif";
    INFO(fmt);
    const auto good = test::encode_heif(photo, {.codec = codec});
    REQUIRE(decode_image_bytes(good, name).size() == photo.size());
    const auto mdat = test::find_box_payload(good, "mdat");
    REQUIRE(mdat);
    // Cut anywhere after the header boxes: the item data runs past the end of the file.
    for (std::size_t keep : {*mdat - 4, *mdat + 1, (*mdat + good.size()) / 2, good.size() - 1}) {
      INFO("kept " << keep << " of " << good.size() << " bytes");
      expect_error([&] { decode_image_bytes(std::span(good).first(keep), name); }, name, "truncated " + fmt);
    }
    // Cut inside the header boxes: malformed or truncated, never decoded.
    for (std::size_t keep = 1; keep < *mdat; keep += 7) {
      INFO("kept " << keep << " of " << good.size() << " bytes");
      CHECK_THROWS_AS(decode_image_bytes(std::span(good).first(keep), name), Error);
    }
    // A bomb-sized 'ispe' over the same 96x64 stream: refused before libheif allocates anything.
    auto bomb = good;
    const auto ispe = test::find_box_payload(bomb, "ispe");
    REQUIRE(ispe);
    put_be(bomb, *ispe + 4, 60000, 4);
    put_be(bomb, *ispe + 8, 60000, 4);
    expect_error([&] { decode_image_bytes(bomb, name); }, name,
                 "60000x60000 image exceeds the limit of 100000000 pixels (from its header)");
    put_be(bomb, *ispe + 4, 0, 4);
    expect_error([&] { decode_image_bytes(bomb, name); }, name, "zero dimension");
    // Our own limit, from the header.
    expect_error([&] { decode_image_bytes(good, name, {.max_pixels = 1000}); }, name,
                 "96x64 image exceeds the limit of 1000 pixels (from its header)");
  }

  // libheif wraps an odd-sized image in a 1x1 'grid' whose canvas size is in the item's data (here in 'idat'),
  // not in an 'ispe': a canvas of 65535x65535 over a 97x65 tile must be refused too.
  auto grid = test::encode_heif(small_photo(97, 65));
  REQUIRE(decode_image_bytes(grid, "odd.heic").size() == cv::Size(97, 65));
  const auto idat = test::find_box_payload(grid, "idat");
  REQUIRE(idat);
  CHECK(grid.at(*idat + 1) == 0);  // 16-bit sizes
  put_be(grid, *idat + 4, 0xFFFF, 2);
  put_be(grid, *idat + 6, 0xFFFF, 2);
  expect_error([&] { decode_image_bytes(grid, "grid_bomb.heic"); }, "grid_bomb.heic",
               "65535x65535 image exceeds the limit of 100000000 pixels (from its header)");

  // An ISO file that is not an image (an MP4's brands) is not taken for one.
  std::vector<uint8_t> mp4 = {0, 0, 0, 20, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'm', 'p', '4', '1'};
  expect_error([&] { decode_image_bytes(mp4, "video.heic"); }, "video.heic", "not a recognised image format");
}

TEST_CASE("truncated and bomb-sized GIF files are refused with the reason", "[image][formats][hostile][gif]") {
  // GIF: the logical screen, and the canvas a frame would grow it to, are checked before anything is allocated.
  const std::vector<cv::Vec3b> pal(4, cv::Vec3b(1, 2, 3));
  const cv::Mat tiny(2, 2, CV_8UC1, cv::Scalar(1));
  expect_error([&] { decode_image_bytes(test::encode_gif(65535, 65535, pal, {{0, 0, tiny}}), "screen.gif"); },
               "screen.gif", "65535x65535 image exceeds the limit of 100000000 pixels (from its header)");
  expect_error([&] { decode_image_bytes(test::encode_gif(4, 4, pal, {{60000, 50000, tiny}}), "frame.gif"); },
               "frame.gif", "60002x50002 image exceeds the limit of 100000000 pixels (from its header)");
  expect_error([&] { decode_image_bytes(test::encode_gif(30, 20, pal, {{0, 0, tiny}}), "small.gif", {.max_pixels = 100}); },
               "small.gif", "30x20 image exceeds the limit of 100 pixels");
  cv::Mat noise(40, 30, CV_8UC1);
  cv::randu(noise, 0, 4);
  const auto gif = test::encode_gif(30, 40, pal, {{0, 0, noise}});
  for (std::size_t keep : {std::size_t{13} + 12 + 5, gif.size() / 2, gif.size() - 3}) {
    INFO("kept " << keep << " of " << gif.size() << " bytes");
    expect_error([&] { decode_image_bytes(std::span(gif).first(keep), "cut.gif"); }, "cut.gif", "truncated GIF");
  }
  std::vector<uint8_t> empty_gif(gif.begin(), gif.begin() + 13 + 12);  // header, screen, 4-colour palette
  empty_gif.push_back(';');
  expect_error([&] { decode_image_bytes(empty_gif, "empty.gif"); }, "empty.gif", "GIF holds no image");
}

TEST_CASE("corrupted HEIF, AVIF and GIF files never crash the decoders", "[image][formats][hostile]") {
  const cv::Mat photo = small_photo(40, 30);
  cv::Mat idx(30, 40, CV_8UC1);
  cv::randu(idx, 0, 16);
  std::vector<std::pair<std::string, std::vector<uint8_t>>> files = {
      {"x.gif", test::encode_gif(40, 30, std::vector<cv::Vec3b>(16, cv::Vec3b(9, 8, 7)), {{0, 0, idx}})}};
  std::string why_not;  // warned about; the GIF part runs regardless
  for (const test::HeifCodec c : encodable({test::HeifCodec::Hevc, test::HeifCodec::Av1}, why_not))
    files.emplace_back(c == test::HeifCodec::Hevc ? "x.heic" : "x.avif", test::encode_heif(photo, {.codec = c}));
  std::mt19937 rng(5);
  for (const auto& [name, good] : files) {
    int decoded = 0;
    for (int i = 0; i < 80; ++i) {
      auto bad = good;
      for (int k = 0; k < 3; ++k)
        bad[std::uniform_int_distribution<std::size_t>(0, bad.size() - 1)(rng)] = static_cast<uint8_t>(rng());
      try {
        const cv::Mat m = decode_image_bytes(bad, name);
        CHECK(m.type() == CV_8UC3);
        ++decoded;
      } catch (const Error& e) {
        CHECK_THAT(e.what(), Catch::Contains(name));
      }
    }
    WARN(name << ": " << decoded << "/80 corrupted files still decoded, the rest were refused with an Error");
  }
}
