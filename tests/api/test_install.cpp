// Runs scripts/test-install.sh on this build: install into a temporary prefix, build samples/embed (shared and
// static), samples/overlay and the C API test out of tree, and check the top-1 they print.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "api_support.hpp"
#include "vitvk/vitvk.hpp"

using namespace vitvk;

namespace {

// An extended regex matching exactly `s`.
std::string regex_quote(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string quote(const std::string& s) { return "'" + s + "'"; }  // paths here hold no single quote

}  // namespace

TEST_CASE("api: the installed package builds and runs the samples out of tree", "[api][install]") {
#ifdef VITVK_SANITIZED
  // The installed package is a release artifact: a sanitizer build's libvitvk.a needs the sanitizer runtimes,
  // which an ordinary program linking it does not have. The release build (build/) runs this test.
  test::skip("sanitizer build: the install test runs in the release build");
  return;
#endif
  // The repository's default ViT-Ti (models/) on chelsea.jpg.
  const std::string model =
      (std::filesystem::path(VITVK_SOURCE_DIR) / "models" / "vit_tiny_patch16_224.augreg_in21k_ft_in1k").string();
  const std::string image = (std::filesystem::path(VITVK_SOURCE_DIR) / "samples" / "images" / "chelsea.jpg").string();
  // What the out-of-tree sample must print as its top-1 line: the in-process result, formatted as it formats it.
  LoadOptions o;
  o.backend = BackendType::Cpu;
  const auto top = Classifier::load(model, o).classify(Image::load(image), 1).front();
  INFO(top.label);
  CHECK(top.label == "Egyptian cat");
  char line[512];
  std::snprintf(line, sizeof line, "  %.4f  %s (%d)", top.probability, top.label.c_str(), top.index);

  // The samples run on the auto backend; on a GPU fp16 may move the 4th decimal, so match the label and index
  // exactly and the probability to 2 places there.
  std::string expect = regex_quote(line);  // (appended, not "^" + ...: GCC 12 warns falsely on that)
  expect.insert(expect.begin(), '^');
  expect += '$';
  if (Classifier::load(model).info().backend != "cpu") {
    char loose[64];
    std::snprintf(loose, sizeof loose, "%.2f", top.probability);
    expect = "^  " + regex_quote(loose) + "[0-9]{2}  " + regex_quote(top.label) + " \\(" + std::to_string(top.index) + "\\)$";
  }
  const std::string cmd = quote(std::string(VITVK_SOURCE_DIR) + "/scripts/test-install.sh") + " -B " +
                          quote(VITVK_BINARY_DIR) + " -m " + quote(model) + " -i " + quote(image) + " -e " +
                          quote(expect) + " 2>&1";
  INFO(cmd);
  const int status = std::system(cmd.c_str());
  CHECK(status == 0);
}
