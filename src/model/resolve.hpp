#pragma once
// Turning what a user types after -m/--model into a model directory (config.json + model.safetensors).
//
// An argument that names an existing directory is that directory. Anything else that looks like a path
// (contains '/', or starts with '.') must exist. A bare name is looked up as <dir>/<name>/config.json in, in order:
//   1. each directory of VITVK_MODEL_PATH (colon-separated, empty entries ignored)
//   2. ./models                          (relative to the current working directory)
//   3. <executable dir>/../share/vitvk/models   (an installed tree: `cmake --install` puts the default model there)
//   4. <libvitvk dir>/../share/vitvk/models     (a program linked against an installed libvitvk.so; skipped when
//                                               it is the same directory as 3.)
//   5. $XDG_CACHE_HOME/vitvk/models, else ~/.cache/vitvk/models   (where scripts/fetch-model.sh puts models)
//   6. the source tree's models/ folder, which holds the default model, only for an executable that runs from
//      inside the build tree it was built in (build/vitvk, build/tests/...): an installed or copied binary never
//      looks into a source tree that may have moved or changed.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vitvk {

// The model `vitvk classify` uses when -m is omitted.
inline constexpr const char* kDefaultModelName = "vit_tiny_patch16_224.augreg_in21k_ft_in1k";

// The process facts resolution depends on, separated out so tests can supply their own.
struct ModelSearchEnv {
  std::optional<std::string> model_path;      // VITVK_MODEL_PATH
  std::optional<std::string> xdg_cache_home;  // XDG_CACHE_HOME
  std::optional<std::string> home;            // HOME
  std::filesystem::path cwd;                  // for ./models
  std::filesystem::path exe_dir;              // directory of the running executable; empty if unknown
  std::filesystem::path lib_dir;              // directory of the file holding this library's code; empty if unknown
  std::filesystem::path source_models_dir;    // 6. above; empty unless running from inside the build tree

  static ModelSearchEnv from_process();
};

// The user cache dir for models: $XDG_CACHE_HOME/vitvk/models or $HOME/.cache/vitvk/models; empty if neither is set.
std::filesystem::path user_model_cache_dir(const ModelSearchEnv& env);

// The directories a bare model name is searched in, in order (see the file comment); may contain
// directories that do not exist.
std::vector<std::filesystem::path> model_search_dirs(const ModelSearchEnv& env);

// Resolves a model argument to a directory holding config.json. Throws Error(Io) when nothing matches; the
// message lists every place looked at and how to fetch the model.
std::filesystem::path resolve_model(const std::string& name_or_dir, const ModelSearchEnv& env);
inline std::filesystem::path resolve_model(const std::string& name_or_dir) {
  return resolve_model(name_or_dir, ModelSearchEnv::from_process());
}

}  // namespace vitvk
