#include "model/resolve.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <system_error>

#include "vitvk/error.hpp"

namespace fs = std::filesystem;

namespace vitvk {
namespace {

std::optional<std::string> env_var(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

bool is_model_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "config.json", ec);
}

}  // namespace

ModelSearchEnv ModelSearchEnv::from_process() {
  ModelSearchEnv env;
  env.model_path = env_var("VITVK_MODEL_PATH");
  env.xdg_cache_home = env_var("XDG_CACHE_HOME");
  env.home = env_var("HOME");
  std::error_code ec;
  env.cwd = fs::current_path(ec);
  // Linux: the executable's own path, so an installed bin/vitvk finds ../share/vitvk/models.
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) env.exe_dir = exe.parent_path();
  // The shared library (or, statically linked, the executable) that holds this function.
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&user_model_cache_dir), &info) != 0 && info.dli_fname && *info.dli_fname) {
    const fs::path lib = fs::weakly_canonical(fs::path(info.dli_fname), ec);
    if (!ec) env.lib_dir = lib.parent_path();
  }
#if defined(VITVK_BUILD_TREE) && defined(VITVK_SOURCE_MODELS)
  // Only inside the build tree (see the header): compared as canonical paths, so a symlinked build dir counts.
  if (!env.exe_dir.empty()) {
    const fs::path build = fs::weakly_canonical(fs::path(VITVK_BUILD_TREE), ec);
    if (!ec) {
      const fs::path rel = fs::weakly_canonical(env.exe_dir, ec).lexically_relative(build);
      if (!ec && !rel.empty() && *rel.begin() != "..") env.source_models_dir = fs::path(VITVK_SOURCE_MODELS);
    }
  }
#endif
  return env;
}

fs::path user_model_cache_dir(const ModelSearchEnv& env) {
  // XDG says a relative XDG_CACHE_HOME is invalid and must be ignored.
  if (env.xdg_cache_home && fs::path(*env.xdg_cache_home).is_absolute())
    return fs::path(*env.xdg_cache_home) / "vitvk" / "models";
  if (env.home) return fs::path(*env.home) / ".cache" / "vitvk" / "models";
  return {};
}

std::vector<fs::path> model_search_dirs(const ModelSearchEnv& env) {
  std::vector<fs::path> dirs;
  if (env.model_path) {
    std::string::size_type start = 0;
    const std::string& s = *env.model_path;
    while (start <= s.size()) {
      auto end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) dirs.emplace_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
  if (!env.cwd.empty()) dirs.push_back(env.cwd / "models");
  fs::path exe_share;
  if (!env.exe_dir.empty()) dirs.push_back(exe_share = (env.exe_dir / ".." / "share" / "vitvk" / "models").lexically_normal());
  if (!env.lib_dir.empty()) {
    const fs::path lib_share = (env.lib_dir / ".." / "share" / "vitvk" / "models").lexically_normal();
    if (lib_share != exe_share) dirs.push_back(lib_share);
  }
  if (auto cache = user_model_cache_dir(env); !cache.empty()) dirs.push_back(cache);
  if (!env.source_models_dir.empty()) dirs.push_back(env.source_models_dir);
  return dirs;
}

fs::path resolve_model(const std::string& arg, const ModelSearchEnv& env) {
  if (arg.empty()) throw Error(ErrorCode::InvalidArgument, "empty model name");
  std::error_code ec;
  const fs::path as_path(arg);
  if (fs::is_directory(as_path, ec)) {
    if (!is_model_dir(as_path))
      throw Error(ErrorCode::Io, "model directory " + arg + " has no config.json (expected config.json + model.safetensors)");
    return as_path;
  }
  // Something path-like that does not exist is a typo'd path, not a name to search for.
  if (arg.find('/') != std::string::npos || arg.front() == '.' || arg.front() == '~')
    throw Error(ErrorCode::Io, "model directory " + arg + " does not exist");

  const auto dirs = model_search_dirs(env);
  for (const auto& d : dirs)
    if (is_model_dir(d / arg)) return d / arg;

  std::string msg = "model '" + arg + "' not found; looked for " + arg + "/config.json in:";
  for (const auto& d : dirs) msg += "\n  " + d.string();
  if (dirs.empty()) msg += "\n  (no search directories: set VITVK_MODEL_PATH or HOME)";
  msg += "\npass -m DIR, add a directory to VITVK_MODEL_PATH, or download it with scripts/fetch-model.sh " + arg;
  throw Error(ErrorCode::Io, msg);
}

}  // namespace vitvk
