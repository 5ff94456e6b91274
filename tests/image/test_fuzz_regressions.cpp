// Regression tests for what fuzzing (tests/fuzz/fuzz_image.cpp, scripts/fuzz.sh) found in image decoding.
#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "image/preprocess.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// `prefix`, padded with `fill` to 128 bytes, then "DICM" and a few more bytes: where GDCM looks for its signature.
std::vector<uint8_t> with_dicom_signature(std::vector<uint8_t> prefix, uint8_t fill = 0) {
  prefix.resize(128, fill);
  for (char c : std::string("DICM\x02\x00\x00\x00UL", 10)) prefix.push_back(static_cast<uint8_t>(c));
  return prefix;
}

void expect_refused(const std::vector<uint8_t>& bytes, const std::string& name, const std::string& reason) {
  try {
    (void)decode_image_bytes(bytes, name);
    FAIL("decoded " << name);
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.code() == ErrorCode::ImageDecode);
    CHECK_THAT(e.what(), Catch::Contains(name) && Catch::Contains(reason));
  }
}

}  // namespace

TEST_CASE("decode: data OpenCV would hand to its DICOM reader is refused first (fuzz regression)", "[image][decode][fuzz]") {
  // fuzz_image's input: no signature we know, "DICM" at byte 128. imdecode passed it to GDCM, whose assert()
  // aborted the process - a whole classify run lost to one file.
  const auto crash = from_hex("5036000000d0380a0a000032474950360a30354948445220380a320a00004749492a0008000000010009003a2f0054485420320a444549494949494949641c324dc5c6c341c9ffffff32ffff00104a32d8499e0008000000010009003a2f0054485420320a444549494949494949641c324dc5c6c341c9ffffff32ffff00104a4449434d49ff");
  REQUIRE(crash.size() == 134);
  expect_refused(crash, "crash.bin", "not a recognised image format");
  expect_refused(with_dicom_signature({}), "plain.dcm", "not a recognised image format");
  // Signatures we recognise but OpenCV does not, or whose decoder comes after GDCM in OpenCV's list, must not
  // reach it either. A JPEG with a junk byte after SOI (libjpeg skips it; OpenCV's signature check wants FF D8 FF)
  // and "DICM" inside a comment segment:
  std::vector<uint8_t> jpg;
  REQUIRE(cv::imencode(".jpg", cv::Mat(16, 16, CV_8UC3, cv::Scalar(9, 99, 199)), jpg));
  std::vector<uint8_t> odd{0xFF, 0xD8, 0x00, 0xFF, 0xFE, 0x00, 132};  // SOI, junk, COM of 130 payload bytes
  odd.resize(128, ' ');
  for (char c : std::string("DICM")) odd.push_back(static_cast<uint8_t>(c));
  odd.resize(7 + 130, ' ');
  odd.insert(odd.end(), jpg.begin() + 2, jpg.end());
  expect_refused(odd, "odd.jpg", "DICOM signature");
  // A real JPEG 2000 file (its image header box comes before byte 128).
  std::vector<uint8_t> jp2;
  REQUIRE(cv::imencode(".jp2", cv::Mat(40, 40, CV_8UC3, cv::Scalar(5, 6, 7)), jp2));
  REQUIRE(jp2.size() > 132);
  std::memcpy(jp2.data() + 128, "DICM", 4);
  expect_refused(jp2, "box.jp2", "DICOM signature");
  // A GIF never reaches OpenCV (giflib decodes it: src/image/decode_gif.cpp), so the signature does not matter
  // there; this one is refused by giflib for what it is, a screen followed by no valid record.
  expect_refused(with_dicom_signature({'G', 'I', 'F', '8', '9', 'a', 4, 0, 4, 0}), "anim.gif",
                 "cannot decode GIF data (a record)");
  // Ordinary images are unaffected.
  std::vector<uint8_t> png;
  REQUIRE(cv::imencode(".png", cv::Mat(50, 60, CV_8UC3, cv::Scalar(1, 2, 3)), png));
  CHECK(decode_image_bytes(png, "ok.png").cols == 60);
}
