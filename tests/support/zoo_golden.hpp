#pragma once
// timm goldens in the zoo layout: a folder with manifest.json, model directories and timm's expected outputs.
// tests/data/zoo (tools/goldens/make_vit_zoo_goldens.py) is the VisionTransformer zoo; other families keep their
// own folder in the same layout (pass it as root).
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace vitvk::test {

std::filesystem::path zoo_dir();  // <source>/tests/data/zoo

struct ZooOutput {
  std::vector<float> values;
  std::vector<int64_t> shape;  // empty when the case has no such output
  bool present() const { return !shape.empty(); }
};

struct ZooCase {
  std::filesystem::path root;  // the folder of its manifest
  std::string name, model_dir, config, arch, tests, status;
  std::optional<int> img_size;  // run the checkpoint at this input size (pos_embed resampled as timm does)
  int num_classes = 0;
  // Good cases: timm's preprocessed photos [2, 3, H, W], the photos (repository-relative) and the outputs.
  std::vector<float> input;
  std::vector<int64_t> input_shape;
  std::vector<std::string> photos;
  int pre_height = 0, pre_width = 0;
  std::array<float, 3> pre_mean{}, pre_std{};
  float pre_crop_pct = 0.f;
  std::string pre_interpolation, pre_crop_mode;
  ZooOutput logits, features, attn, attn_pool;
  std::vector<int> top1;
  double fp32_rel = 0, fp16_abs = 0, attn_abs = 0, preprocess_abs = 0;
  // Malformed cases: the load must throw Error(ModelFormat) whose message holds every error_contains string
  // and, when error_any is not empty, at least one of error_any.
  bool malformed = false;
  std::vector<std::string> error_contains, error_any;
};

// Every case of manifest.json, in its order (parsed once per call; files read lazily by zoo_case).
std::vector<std::string> zoo_case_names(const std::filesystem::path& root = zoo_dir());
// One case with its files read. Throws std::runtime_error for an unknown name or a missing file.
ZooCase zoo_case(const std::string& name, const std::filesystem::path& root = zoo_dir());

// Loads the case's model as a user would: <model_dir> with the case's config file as config.json; with an
// img_size override the config's pretrained_cfg.input_size (and model_args.img_size) say the new size, which is
// what timm's create_model(img_size=N) + checkpoint_filter_fn do. A staged copy goes into a temp directory.
Model load_zoo_model(const ZooCase& c);

// max |got - want| / max |want| (the zoo tolerance of the issue); sizes must agree.
double max_rel_diff(const std::vector<float>& got, const std::vector<float>& want);
double max_abs_diff_d(const std::vector<float>& got, const std::vector<float>& want);
// Row-wise argmax of a [rows, cols] matrix.
std::vector<int> argmax_rows(const std::vector<float>& m, int cols);

}  // namespace vitvk::test
