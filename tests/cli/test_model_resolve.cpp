#include <catch2/catch.hpp>

#include <fstream>

#include "model/resolve.hpp"
#include "support/test_data.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

void make_model_dir(const fs::path& dir) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{}";
}

// An environment that sees nothing from the real process.
ModelSearchEnv empty_env(const fs::path& root) {
  ModelSearchEnv env;
  env.cwd = root / "cwd";
  return env;
}

}  // namespace

TEST_CASE("resolve_model searches VITVK_MODEL_PATH, ./models, the share dir, then the user cache, in order",
          "[cli][resolve]") {
  test::TempDir tmp;
  const fs::path r = tmp.path();
  ModelSearchEnv env = empty_env(r);
  env.model_path = (r / "p1").string() + "::" + (r / "p2").string();
  env.exe_dir = r / "inst" / "bin";
  env.xdg_cache_home = (r / "xdg").string();
  env.home = (r / "home").string();

  const auto dirs = model_search_dirs(env);
  REQUIRE(dirs.size() == 5);
  CHECK(dirs[0] == r / "p1");
  CHECK(dirs[1] == r / "p2");
  CHECK(dirs[2] == r / "cwd" / "models");
  CHECK(dirs[3] == r / "inst" / "share" / "vitvk" / "models");
  CHECK(dirs[4] == r / "xdg" / "vitvk" / "models");

  make_model_dir(r / "xdg" / "vitvk" / "models" / "m");
  CHECK(resolve_model("m", env) == r / "xdg" / "vitvk" / "models" / "m");
  make_model_dir(r / "inst" / "share" / "vitvk" / "models" / "m");
  CHECK(resolve_model("m", env) == r / "inst" / "share" / "vitvk" / "models" / "m");
  make_model_dir(r / "cwd" / "models" / "m");
  CHECK(resolve_model("m", env) == r / "cwd" / "models" / "m");
  make_model_dir(r / "p2" / "m");
  CHECK(resolve_model("m", env) == r / "p2" / "m");
  make_model_dir(r / "p1" / "m");
  CHECK(resolve_model("m", env) == r / "p1" / "m");
  // A folder without config.json is not a match.
  fs::create_directories(r / "p1" / "other");
  make_model_dir(r / "p2" / "other");
  CHECK(resolve_model("other", env) == r / "p2" / "other");
}

TEST_CASE("user_model_cache_dir uses XDG_CACHE_HOME when absolute, else ~/.cache", "[cli][resolve]") {
  ModelSearchEnv env;
  env.home = "/home/u";
  CHECK(user_model_cache_dir(env) == fs::path("/home/u/.cache/vitvk/models"));
  env.xdg_cache_home = "relative/cache";  // invalid per the XDG spec: ignored
  CHECK(user_model_cache_dir(env) == fs::path("/home/u/.cache/vitvk/models"));
  env.xdg_cache_home = "/var/cache/u";
  CHECK(user_model_cache_dir(env) == fs::path("/var/cache/u/vitvk/models"));
  CHECK(user_model_cache_dir(ModelSearchEnv{}).empty());
}

TEST_CASE("resolve_model takes directories as they are and lists every place it looked when a name is missing",
          "[cli][resolve]") {
  test::TempDir tmp;
  const fs::path r = tmp.path();
  ModelSearchEnv env = empty_env(r);
  env.model_path = (r / "a").string() + ":" + (r / "b").string();
  env.home = (r / "home").string();

  make_model_dir(r / "direct");
  CHECK(resolve_model((r / "direct").string(), env) == r / "direct");

  fs::create_directories(r / "empty");
  try {
    (void)resolve_model((r / "empty").string(), env);
    FAIL("resolved a folder without config.json");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("config.json") && Catch::Contains((r / "empty").string()));
  }
  CHECK_THROWS_WITH(resolve_model((r / "nope").string(), env), Catch::Contains("does not exist"));

  try {
    (void)resolve_model("no_such_model", env);
    FAIL("resolved a missing model");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(e.code() == ErrorCode::Io);
    CHECK_THAT(msg, Catch::Contains("no_such_model"));
    for (const auto& d : {r / "a", r / "b", r / "cwd" / "models", r / "home" / ".cache" / "vitvk" / "models"})
      CHECK_THAT(msg, Catch::Contains(d.string()));
    CHECK_THAT(msg, Catch::Contains("fetch-model.sh"));
  }
}
