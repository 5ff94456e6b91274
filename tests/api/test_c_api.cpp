// Runs tests/api/c_api_test.c (a C99 program linked against libvitvk.so) and compares its output with the C++ API.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <memory>
#include <sstream>

#include <sys/wait.h>

#include "api_support.hpp"
#include "vitvk/vitvk.hpp"

using namespace vitvk;

namespace {

// Runs a shell command; returns its exit status and stdout.
std::pair<int, std::string> run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe)) out += buf.data();
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST_CASE("api: the C API works from C and agrees with the C++ API", "[api][c]") {
  const test::TinyModelDir tiny;
  auto px = test::synthetic_rgb(48, 40, 9);
  const auto photo = tiny.temp.path() / "photo.png";
  Image(test::rgb_view(px, 48, 40)).save(photo);

  const auto [status, out] = run(std::string("'") + VITVK_C_API_TEST_PATH + "' '" + tiny.path() + "' '" +
                                 photo.string() + "' 2>&1");
  INFO(out);
  REQUIRE(status == 0);

  LoadOptions o;
  o.backend = BackendType::Cpu;
  auto model = Classifier::load(tiny.path(), o);
  const auto expected = model.classify(Image::load(photo), 5);
  std::istringstream lines(out);
  std::string word, label;
  std::size_t rank = 0;
  int index = 0;
  float prob = 0;
  while (lines >> word) {
    if (word != "top") continue;
    REQUIRE(lines >> index >> prob);
    std::getline(lines >> std::ws, label);
    REQUIRE(rank < expected.size());
    CHECK(index == expected[rank].index);
    CHECK(prob == Approx(expected[rank].probability).margin(1e-6));
    CHECK(label == expected[rank].label);
    ++rank;
  }
  CHECK(rank == expected.size());
}
