#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "pipeline/enumerate.hpp"
#include "support/test_data.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

void touch(const fs::path& p) {
  fs::create_directories(p.parent_path());
  std::ofstream(p).put('x');
}

// Paths relative to root, for readable comparisons.
std::vector<std::string> relative(const std::vector<pipeline::InputEntry>& entries, const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.path.lexically_relative(root).generic_string());
  return out;
}

}  // namespace

TEST_CASE("enumerate walks folders recursively in byte order of path", "[pipeline][enumerate]") {
  test::TempDir tmp;
  const fs::path r = tmp.path();
  for (const char* f : {"b.jpg", "a.png", "a-b.jpg", "a.jpg", "a/b.jpg", "Z.jpg", "sub/deeper/d.jpeg", "sub/c.png"})
    touch(r / f);
  const auto got = pipeline::enumerate_inputs(std::vector<std::string>{r.string()});
  for (const auto& e : got) CHECK(e.ok());
  // Bytes: 'Z' < 'a'; '-' < '.' < '/', so a-b.jpg, a.jpg, a.png, a/b.jpg.
  CHECK(relative(got, r) ==
        std::vector<std::string>{"Z.jpg", "a-b.jpg", "a.jpg", "a.png", "a/b.jpg", "b.jpg", "sub/c.png", "sub/deeper/d.jpeg"});
}

TEST_CASE("enumerate keeps argument order and reports missing paths as error entries", "[pipeline][enumerate]") {
  test::TempDir tmp;
  const fs::path r = tmp.path();
  touch(r / "d" / "2.jpg");
  touch(r / "d" / "1.jpg");
  touch(r / "z.png");
  const auto got = pipeline::enumerate_inputs(
      std::vector<std::string>{(r / "z.png").string(), (r / "nope.jpg").string(), (r / "d").string(), (r / "z.png").string()});
  REQUIRE(relative(got, r) == std::vector<std::string>{"z.png", "nope.jpg", "d/1.jpg", "d/2.jpg", "z.png"});
  CHECK(got[0].ok());
  CHECK_FALSE(got[1].ok());
  CHECK_THAT(got[1].error, Catch::Contains("no such file"));
  CHECK(got[2].ok());
}

TEST_CASE("enumerate filters by extension case-insensitively but takes named files as they are", "[pipeline][enumerate]") {
  test::TempDir tmp;
  const fs::path r = tmp.path();
  for (const char* f : {"A.JPG", "b.JpEg", "c.TIFF", "d.webp", "e.bmp", "f.pgm", "g.jp2", "notes.txt", "noext", "h.jpg.bak",
                        "i.PNG", "j.HEIC", "k.heif", "l.hif", "m.avif", "n.GIF", "o.mp4", "p.avifs"})
    touch(r / f);
  CHECK(relative(pipeline::enumerate_inputs(std::vector<std::string>{r.string()}), r) ==
        std::vector<std::string>{"A.JPG", "b.JpEg", "c.TIFF", "d.webp", "e.bmp", "f.pgm", "g.jp2", "i.PNG", "j.HEIC",
                                 "k.heif", "l.hif", "m.avif", "n.GIF"});
  const auto named = pipeline::enumerate_inputs(std::vector<std::string>{(r / "notes.txt").string(), (r / "noext").string()});
  REQUIRE(named.size() == 2);
  CHECK(named[0].ok());
  CHECK(named[1].ok());
  CHECK(pipeline::has_image_extension("x/y.JPEG"));
  CHECK_FALSE(pipeline::has_image_extension("x.jpeg/y"));
}

TEST_CASE("enumerate skips hidden files and folders unless named", "[pipeline][enumerate]") {
  test::TempDir tmp;
  const fs::path r = tmp.path();
  for (const char* f : {"ok.jpg", ".hidden.jpg", ".git/x.jpg", "sub/.y.png", "sub/z.png"}) touch(r / f);
  CHECK(relative(pipeline::enumerate_inputs(std::vector<std::string>{r.string()}), r) ==
        std::vector<std::string>{"ok.jpg", "sub/z.png"});
  // Named explicitly: a hidden file, and a hidden folder (whose own contents are then walked).
  CHECK(relative(pipeline::enumerate_inputs(std::vector<std::string>{(r / ".hidden.jpg").string(), (r / ".git").string()}), r) ==
        std::vector<std::string>{".hidden.jpg", ".git/x.jpg"});
}

TEST_CASE("enumerate follows symlinks but stops at symlink loops", "[pipeline][enumerate]") {
  test::TempDir tmp;
  const fs::path r = tmp.path() / "root";
  const fs::path outside = tmp.path() / "outside";
  touch(r / "a.jpg");
  touch(r / "sub" / "b.jpg");
  touch(outside / "o.jpg");
  fs::create_directory_symlink("..", r / "sub" / "up");           // loop to the root
  fs::create_directory_symlink(".", r / "sub" / "self");          // loop to itself
  fs::create_directory_symlink(outside, r / "linked");            // a real folder elsewhere
  fs::create_symlink(r / "a.jpg", r / "alias.jpg");               // a file link is a file
  fs::create_symlink(r / "missing.jpg", r / "dangling.jpg");      // kept: decoding will say why it fails
  const auto got = pipeline::enumerate_inputs(std::vector<std::string>{r.string()});
  CHECK(relative(got, r) == std::vector<std::string>{"a.jpg", "alias.jpg", "dangling.jpg", "linked/o.jpg", "sub/b.jpg"});
}

TEST_CASE("enumerate lists 10000 files in well under a second", "[pipeline][enumerate]") {
  test::TempDir tmp;
  const fs::path r = tmp.path();
  for (int d = 0; d < 100; ++d) {
    const fs::path dir = r / ("dir" + std::to_string(d));
    fs::create_directory(dir);
    for (int f = 0; f < 100; ++f) std::ofstream(dir / ("img" + std::to_string(f) + ".jpg"));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto got = pipeline::enumerate_inputs(std::vector<std::string>{r.string()});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO("enumerated " << got.size() << " files in " << s << " s");
  CHECK(got.size() == 10000);
  CHECK(s < 1.0);
  CHECK(std::is_sorted(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.path.native() < b.path.native(); }));
}
