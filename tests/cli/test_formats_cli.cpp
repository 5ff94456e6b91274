// The sample photos as a phone or the web would give them (HEIC and AVIF by Debian's heif-enc, GIF by PIL), in
// one folder with the JPEG originals: the folder walk gives a row for each, and the default model's top-1 on the
// CPU backend is the JPEG original's for every HEIC and AVIF. A GIF holds 256 colours: PIL's quantisation moves
// the pixels far more than a quality-90 HEIC does, enough to flip a near tie (astronaut.jpg: bobsled 0.35,
// football helmet 0.18; its GIF: football helmet 0.47). So a GIF's top-1 must equal the JPEG's where the JPEG's
// top-1 leads by 0.2 or more, and, for every GIF, the top-1 and probability of PIL's own decoding of that GIF
// (saved as PNG): the decoder is pinned exactly, the format's loss only where it cannot flip the answer.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>

#include "cli/cli_support.hpp"
#include "support/image_writers.hpp"
#include "support/test_data.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

TEST_CASE("classify CLI: HEIC, AVIF and GIF copies of the sample photos get the JPEG original's top-1",
          "[cli][classify][formats]") {
  const bool have_heif_enc = std::system("command -v heif-enc >/dev/null 2>&1") == 0;
  const bool have_pil = std::system("/usr/bin/python3 -c 'import PIL' >/dev/null 2>&1") == 0;
  if (!have_heif_enc || !have_pil) {
    test::skip("needs heif-enc (Debian: libheif-examples) and /usr/bin/python3 with PIL (python3-pil)");
    return;
  }
  for (const test::HeifCodec codec : {test::HeifCodec::Hevc, test::HeifCodec::Av1})
    if (const auto missing = test::heif_encoder_missing(codec)) {
      test::skip(*missing);  // heif-enc uses the same libheif encoders
      return;
    }
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "photos";
  fs::create_directories(dir);
  const fs::path samples = fs::path(VITVK_SOURCE_DIR) / "samples" / "images";
  const std::vector<std::string> stems = {"astronaut", "chelsea", "coffee", "rocket"};
  // Each stem as JPEG, HEIC, AVIF and GIF; upper-case and the other HEIF extensions once each.
  const std::map<std::string, std::vector<std::string>> names = {
      {"astronaut", {"astronaut.jpg", "astronaut.heic", "astronaut.avif", "astronaut.gif"}},
      {"chelsea", {"chelsea.jpg", "chelsea.HEIC", "chelsea.AVIF", "chelsea.GIF"}},
      {"coffee", {"coffee.jpg", "coffee.heif", "coffee.avif", "coffee.gif"}},
      {"rocket", {"rocket.jpg", "rocket.hif", "rocket.avif", "rocket.gif"}}};
  for (const auto& stem : stems) {
    const fs::path jpg = samples / (stem + ".jpg");
    const auto& n = names.at(stem);
    fs::copy_file(jpg, dir / n[0]);
    for (int k : {1, 2}) {
      const std::string encode = "heif-enc -q 90 " + std::string(k == 2 ? "--avif " : "") + "-o " +
                                 test::shell_quote((dir / n[static_cast<std::size_t>(k)]).string()) + " " +
                                 test::shell_quote(jpg.string()) + " >/dev/null 2>&1";
      REQUIRE(std::system(encode.c_str()) == 0);
    }
    // PIL's GIF writer: an adaptive 256-colour palette (what a web GIF of a photo is).
    const std::string gif = "/usr/bin/python3 -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).save(sys.argv[2])' " +
                            test::shell_quote(jpg.string()) + " " + test::shell_quote((dir / n[3]).string());
    REQUIRE(std::system(gif.c_str()) == 0);
    const std::string pil = "/usr/bin/python3 -c 'import sys; from PIL import Image; Image.open(sys.argv[1]).convert(\"RGB\").save(sys.argv[2])' " +
                            test::shell_quote((dir / n[3]).string()) + " " + test::shell_quote((dir / (stem + "_gif_by_pil.png")).string());
    REQUIRE(std::system(pil.c_str()) == 0);
  }

  const std::string model = std::string(VITVK_SOURCE_DIR) + "/models/vit_tiny_patch16_224.augreg_in21k_ft_in1k";
  const auto r = test::run_command("cd " + test::shell_quote(tmp.path().string()) + " && " +
                                       test::shell_quote(VITVK_CLI_PATH) + " classify -m " + test::shell_quote(model) +
                                       " --backend cpu -f csv -k 2 -q photos",
                                   tmp.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto rows = test::parse_csv(r.out);
  REQUIRE(rows.size() == 1 + 5 * stems.size());  // the header, then one row per file: none was skipped
  struct Top {
    std::string label, prob, prob2;
  };
  std::map<std::string, Top> top;  // file name -> top-1 label, its probability, the top-2 probability
  for (std::size_t i = 1; i < rows.size(); ++i) {
    REQUIRE(rows[i].size() == 8);  // path,error,top1_index,top1_label,top1_prob,top2_index,top2_label,top2_prob
    INFO(rows[i][0] << " | " << rows[i][1]);
    CHECK(rows[i][1].empty());  // no error
    top[fs::path(rows[i][0]).filename().string()] = {rows[i][3], rows[i][4], rows[i][7]};
  }
  int gif_agree = 0;
  for (const auto& stem : stems) {
    const auto& n = names.at(stem);
    const Top& jpeg = top[n[0]];
    INFO(stem << ": the JPEG's top-1 is " << jpeg.label << " (" << jpeg.prob << "; top-2 " << jpeg.prob2 << ")");
    CHECK_FALSE(jpeg.label.empty());
    CHECK(top[n[1]].label == jpeg.label);  // HEIC
    CHECK(top[n[2]].label == jpeg.label);  // AVIF
    const Top& gif = top[n[3]];
    const Top& by_pil = top[stem + "_gif_by_pil.png"];
    INFO("GIF: " << gif.label << " " << gif.prob << "; PIL's decoding of it: " << by_pil.label << " " << by_pil.prob);
    CHECK(gif.label == by_pil.label);
    CHECK(gif.prob == by_pil.prob);  // the same pixels: the same probabilities, to every printed digit
    gif_agree += gif.label == jpeg.label;
    if (std::stod(jpeg.prob) - std::stod(jpeg.prob2) >= 0.2) CHECK(gif.label == jpeg.label);
  }
  WARN(gif_agree << "/" << stems.size() << " GIFs have the JPEG's top-1 (every HEIC and AVIF does)");
}
