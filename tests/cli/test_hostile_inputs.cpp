// A folder of malformed and adversarial inputs classified in one run of the CLI: no crash, every bad input
// reported with a reason, every good one classified, exit code 2. Files that need PIL to make (animations,
// CMYK, hand-built headers) are committed in tests/data/hostile/ (make_hostile.py); the rest are made here.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "cli/cli_support.hpp"
#include "model/model.hpp"
#include "support/image_writers.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> encode(const std::string& ext, const cv::Mat& m, const std::vector<int>& params = {}) {
  std::vector<uint8_t> out;
  REQUIRE(cv::imencode(ext, m, out, params));
  return out;
}

cv::Mat noise(int w, int h, int type = CV_8UC3) {
  cv::Mat m(h, w, type);
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(type == CV_16UC1 ? 65535 : 255));
  return m;
}

void write(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

std::vector<uint8_t> head(std::vector<uint8_t> v, std::size_t n) {
  v.resize(std::min(n, v.size()));
  return v;
}

// What the run must say about one input: classified, or an error row whose reason contains `reason`.
struct Expect {
  bool good = true;
  std::string reason;
};
Expect good() { return {true, {}}; }
Expect bad(std::string reason) { return {false, std::move(reason)}; }

}  // namespace

TEST_CASE("classify CLI: a folder of hostile inputs is classified in one run without a crash", "[cli][classify][hostile]") {
  test::TempDir tmp;
  const fs::path root = tmp.path();
  Model::random(test::tiny_config(), 5).save(root / "model");
  const fs::path d = root / "h";
  fs::create_directories(d);
  std::map<std::string, Expect> expect;  // by path as the CLI prints it (relative to root)
  auto add = [&](const std::string& name, Expect e) { expect["h/" + name] = std::move(e); };

  // Committed files (tests/data/hostile/make_hostile.py).
  const fs::path committed = fs::path(VITVK_SOURCE_DIR) / "tests" / "data" / "hostile";
  for (const auto& [name, e] : std::map<std::string, Expect>{
           {"animated_apng.png", good()},  // OpenCV decodes the first frame, as PIL does
           {"animated.webp", bad("cannot decode WebP")},
           {"cmyk.jpg", good()},
           {"bomb_65535x65535.png", bad("exceeds the limit of 100000000 pixels (from its header)")},
           {"bomb_65500x65500.jpg", bad("exceeds the limit of 100000000 pixels (from its header)")},
           {"bad_crc.png", bad("cannot decode PNG")},
           {"short_idat.png", bad("cannot decode PNG")},
           {"ifd_past_end.tif", bad("truncated TIFF")},
           {"huge_rows.bmp", bad("exceeds the limit")},
           {"huge_header.ppm", bad("exceeds the limit")},
           {"gray16.png", good()},
           {"gray_alpha.png", good()},
           {"palette_trns.png", good()},
           {"animated.gif", good()}}) {  // giflib: the first frame, as PIL reads it
    fs::copy_file(committed / name, d / name);
    add(name, e);
  }
  // Named explicitly too: a second row for the same file. h/loop_dir (-> ..) leads the walk to it a third time:
  // directories already visited are skipped, files in a new one are not.
  fs::copy_file(committed / "animated.gif", root / "animated.gif");
  expect["animated.gif"] = good();
  expect["h/loop_dir/animated.gif"] = good();

  // Truncated, empty and mislabelled files.
  const auto jpg = encode(".jpg", noise(64, 48));
  const auto png = encode(".png", noise(40, 30));
  write(d / "truncated_half.jpg", head(jpg, jpg.size() / 2)), add("truncated_half.jpg", bad("truncated JPEG"));
  write(d / "truncated_header.jpg", head(jpg, 40)), add("truncated_header.jpg", bad("truncated JPEG"));
  write(d / "truncated_half.png", head(png, png.size() / 2)), add("truncated_half.png", bad("cannot decode PNG"));
  write(d / "truncated_16.png", head(png, 16)), add("truncated_16.png", bad("truncated PNG"));
  write(d / "signature_only.jpg", std::vector<uint8_t>{0xFF, 0xD8}), add("signature_only.jpg", bad("truncated JPEG"));
  write(d / "empty.jpg", std::string()), add("empty.jpg", bad("empty (0 bytes)"));
  write(d / "empty.png", std::string()), add("empty.png", bad("empty (0 bytes)"));
  write(d / "text.jpg", "just some text, not a JPEG\n"), add("text.jpg", bad("not a recognised image format"));
  write(d / "page.png", "<!doctype html><html><body>404</body></html>"), add("page.png", bad("not a recognised image format"));
  write(d / "png_data.jpg", png), add("png_data.jpg", good());  // the content decides, not the extension
  write(d / "jpeg_data.PNG", jpg), add("jpeg_data.PNG", good());
  {
    std::mt19937 rng(3);
    std::vector<uint8_t> r(4096);
    for (auto& b : r) b = static_cast<uint8_t>(rng());
    write(d / "random.webp", r), add("random.webp", bad("not a recognised image format"));
    r[0] = 0xFF, r[1] = 0xD8;  // a JPEG signature over noise
    write(d / "random_after_soi.jpg", r), add("random_after_soi.jpg", bad("JPEG"));
  }
  {
    auto twice = jpg;  // a second start-of-image marker
    twice.insert(twice.begin() + 2, {0xFF, 0xD8});
    write(d / "double_soi.jpg", twice), add("double_soi.jpg", bad("second start-of-image"));
    auto zero = png;  // IHDR width 0
    std::fill(zero.begin() + 16, zero.begin() + 20, 0);
    write(d / "zero_width.png", zero), add("zero_width.png", bad("zero dimension"));
  }
  // HEIC, AVIF and GIF (libheif and giflib): cut, bomb-sized, and under another extension. The HEIF files need
  // libheif's encoders (a plugin package on Debian 13+); without them only those rows are left out.
  const auto no_heif_encoder = test::heif_encoder_missing(test::HeifCodec::Hevc).has_value() ||
                               test::heif_encoder_missing(test::HeifCodec::Av1).has_value();
  if (no_heif_encoder) WARN("no HEVC or AV1 encoder in libheif: the HEIC/AVIF rows are left out");
  if (!no_heif_encoder) {
    const cv::Mat photo = noise(48, 32);
    const auto heic = test::encode_heif(photo);
    write(d / "truncated.heic", head(heic, heic.size() * 2 / 3)), add("truncated.heic", bad("truncated HEIF"));
    write(d / "heic_data.jpg", heic), add("heic_data.jpg", good());
    auto avif = test::encode_heif(photo, {.codec = test::HeifCodec::Av1});
    const auto ispe = test::find_box_payload(avif, "ispe");
    REQUIRE(ispe);
    for (std::size_t i = 4; i < 12; ++i) avif[*ispe + i] = 0xEE;  // 4008636142 x 4008636142
    write(d / "bomb.avif", avif), add("bomb.avif", bad("exceeds the limit of 100000000 pixels (from its header)"));
  }
  {
    write(d / "bomb_screen.gif", test::encode_gif(65535, 65535, {{1, 2, 3}, {4, 5, 6}}, {{0, 0, cv::Mat(1, 1, CV_8UC1, cv::Scalar(1))}}));
    add("bomb_screen.gif", bad("65535x65535 image exceeds the limit of 100000000 pixels (from its header)"));
    const auto gif = test::encode_gif(20, 20, {{1, 2, 3}, {4, 5, 6}}, {{0, 0, cv::Mat(20, 20, CV_8UC1, cv::Scalar(1))}});
    write(d / "truncated.gif", head(gif, 28)), add("truncated.gif", bad("truncated GIF"));
  }
  const auto webp = encode(".webp", noise(30, 30), {cv::IMWRITE_WEBP_QUALITY, 80});
  write(d / "truncated.webp", head(webp, webp.size() / 2)), add("truncated.webp", bad("cannot decode WebP"));

  // Odd but valid images.
  write(d / "one_pixel.png", encode(".png", noise(1, 1))), add("one_pixel.png", good());
  write(d / "one_pixel.jpg", encode(".jpg", noise(1, 1))), add("one_pixel.jpg", good());
  write(d / "wide_65535x1.png", encode(".png", noise(65535, 1)));
  write(d / "tall_1x65535.png", encode(".png", noise(1, 65535)));
  // Resizing the short side of 1 to 36 (the tiny model's 32 / 0.875) makes the long side 2.4M, past 2^20.
  add("wide_65535x1.png", bad("aspect ratio of a 65535x1 image is too extreme")),
      add("tall_1x65535.png", bad("aspect ratio of a 1x65535 image is too extreme"));
  write(d / "wide_4000x3.png", encode(".png", noise(4000, 3))), add("wide_4000x3.png", good());
  write(d / "gray16.tif", encode(".tiff", noise(20, 10, CV_16UC1))), add("gray16.tif", good());
  write(d / "gray16.pgm", encode(".pgm", noise(20, 10, CV_16UC1))), add("gray16.pgm", good());
  write(d / "progressive.jpg", encode(".jpg", noise(33, 17), {cv::IMWRITE_JPEG_PROGRESSIVE, 1})), add("progressive.jpg", good());
  write(d / "bgra.png", encode(".png", noise(12, 12, CV_8UC4))), add("bgra.png", good());
  // Names that output formats must quote or cannot represent as UTF-8.
  write(d / "comma, \"quote\"\nnewline.png", png), add("comma, \"quote\"\nnewline.png", good());
  write(d / "latin1_\xe9.png", png), add("latin1_\xe9.png", good());

  // File-system oddities: a folder named like an image (walked as a folder), a FIFO, links, an unreadable file.
  fs::create_directories(d / "x.jpg");
  write(d / "x.jpg" / "inside.png", png), add("x.jpg/inside.png", good());
  REQUIRE(::mkfifo((d / "fifo.png").c_str(), 0644) == 0);
  add("fifo.png", bad("not a regular file"));
  fs::create_directory_symlink("..", d / "loop_dir");  // back to the folder's parent: entered once, not again
  fs::create_symlink("loop_b.jpg", d / "loop_a.jpg"), add("loop_a.jpg", bad("symbolic links"));
  fs::create_symlink("loop_a.jpg", d / "loop_b.jpg"), add("loop_b.jpg", bad("symbolic links"));
  fs::create_symlink("does_not_exist.png", d / "dangling.png"), add("dangling.png", bad("no such file"));
  fs::create_symlink("one_pixel.png", d / "link_to_good.png"), add("link_to_good.png", good());
  write(d / "unreadable.png", png);
  fs::permissions(d / "unreadable.png", fs::perms::none);
  // chmod 000 does not stop root (tests run as root in CI): then the file is simply a good image.
  const bool readable = ::access((d / "unreadable.png").c_str(), R_OK) == 0;
  add("unreadable.png", readable ? good() : bad("Permission denied"));
  if (readable) WARN("running as root: chmod 000 does not make unreadable.png unreadable; it is expected to classify");
  expect["missing.jpg"] = bad("no such file");
  REQUIRE(expect.size() >= (no_heif_encoder ? 49u : 52u));

  // loop_dir -> .. makes the walk reach model/, h/ and animated.gif again: model/ holds no images and h/ was
  // visited already.
  const std::string cmd = "cd " + test::shell_quote(root.string()) + " && " + test::shell_quote(VITVK_CLI_PATH) +
                          " classify -m model --backend cpu -f csv -q -o out.csv h animated.gif missing.jpg --batch 4";
  const auto r = test::run_command(cmd, root);
  INFO(r.err);
  CHECK(r.exit_code == 2);
  const auto rows = test::parse_csv(test::read_file(root / "out.csv"));
  REQUIRE(rows.size() > 1);
  std::map<std::string, int> seen;
  int good_rows = 0, bad_rows = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    REQUIRE(row.size() >= 5);
    INFO(row[0] << " | " << row[1]);
    ++seen[row[0]];
    const auto it = expect.find(row[0]);
    if (it == expect.end()) {
      FAIL_CHECK("unexpected output row");
      continue;
    }
    if (it->second.good) {
      CHECK(row[1].empty());
      CHECK_FALSE(row[2].empty());
      ++good_rows;
    } else {
      CHECK_FALSE(row[1].empty());
      CHECK_THAT(row[1], Catch::Contains(it->second.reason, Catch::CaseSensitive::No));
      CHECK(row[2].empty());
      ++bad_rows;
    }
  }
  for (const auto& [path, e] : expect) {
    INFO(path);
    CHECK(seen[path] == 1);
  }
  CHECK(good_rows + bad_rows == static_cast<int>(expect.size()));

  // The same run as JSON Lines: one valid JSON object per input, the non-UTF-8 name included.
  const auto j = test::run_command("cd " + test::shell_quote(root.string()) + " && " + test::shell_quote(VITVK_CLI_PATH) +
                                       " classify -m model --backend cpu -f jsonl -q h animated.gif missing.jpg",
                                   root);
  CHECK(j.exit_code == 2);
  std::istringstream lines(j.out);
  std::size_t n = 0, errors = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    const auto obj = nlohmann::json::parse(line);
    errors += obj.contains("error");
  }
  CHECK(n == expect.size());
  CHECK(errors == static_cast<std::size_t>(bad_rows));
}
