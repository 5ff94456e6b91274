#pragma once
// What every family's loader shares (model.cpp: ViT and GFNet; one file per further family): the Binder that
// pulls tensors out of a safetensors file by name with their shapes checked, and the dimension helpers that
// read patch size, depth and head width off the tensors.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/safetensors.hpp"
#include "vitvk/error.hpp"

namespace vitvk {

std::string shape_str(const std::vector<int64_t>& s);
inline int as_int(int64_t v) { return static_cast<int>(v); }

// Pulls tensors out of a SafeTensors by name, checking shapes and remembering which were used.
class Binder {
 public:
  explicit Binder(const SafeTensors& st) : st_(st) {}

  const TensorView& get(const std::string& name) {
    const TensorView* t = st_.find(name);
    if (!t) fail("missing tensor '" + name + "'");
    used_.insert(name);
    return *t;
  }
  bool has(const std::string& name) const { return st_.find(name) != nullptr; }

  std::vector<float> take(const std::string& name, const std::vector<int64_t>& shape) {
    const TensorView& t = get(name);
    if (t.shape != shape) fail("tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " + shape_str(shape));
    return st_.to_f32(t);
  }
  LinearWeights linear(const std::string& prefix, int out, int in) {
    LinearWeights l = linear_weight(prefix, out, in);
    l.bias = take(prefix + ".bias", {out});
    return l;
  }
  // A linear layer's weight alone: F32/F16/BF16, or I8 with its scales (model/quantize.hpp).
  LinearWeights linear_weight(const std::string& prefix, int out, int in);
  // The group of input channels per scale the file's metadata names for its int8 layers (model/quantize.hpp), or
  // 0 where it names none. fail() unless it is one int8_file_group_valid takes.
  int int8_group() const;
  NormWeights norm(const std::string& prefix, int dim) {
    return {take(prefix + ".weight", {dim}), take(prefix + ".bias", {dim})};
  }
  void check_all_used() const {
    for (const auto& t : st_.tensors())
      if (!used_.count(t.name)) fail("unexpected tensor '" + t.name + "' " + shape_str(t.shape) + " (not supported by this architecture)");
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(ErrorCode::ModelFormat, st_.source() + ": " + what); }

 private:
  const SafeTensors& st_;
  std::set<std::string> used_;
};


// A linear layer whose bias the checkpoint may leave out (qkv_bias=False, CLIP's patch embedding): zeros then.
LinearWeights linear_opt_bias(Binder& b, const std::string& prefix, int out, int in, bool* had_bias = nullptr);

// Patch size, width and input grid from patch_embed.proj.weight, checked against the config.
void bind_patch_dims(Binder& b, const ModelConfig& config, ModelDims& d);
// Depth: count <prefix>N.norm1.weight (then every tensor of blocks 0..depth-1 is required).
int count_blocks(Binder& b, const ModelConfig& config, const std::string& prefix = "blocks.");
// Model::labels from the config, "class N" where it has none.
void fill_labels(Model& m);
// pos_embed's patch rows resampled from the checkpoint's old x old grid to the input's (m.dims.grid_h x grid_w),
// the prefix rows kept, as timm's resample_abs_pos_embed does (model.cpp; m.weights.pos_embed, m.dims.pos_rows).
void resample_pos_embed(Model& m, int old);

// Family loaders in their own files: EVA-02 (load_eva.cpp), from_tensors's and tensor_shapes()'s for that family.
Model eva_from_tensors(const ModelConfig& config, const SafeTensors& st, std::optional<int> img_size);
std::vector<std::pair<std::string, std::vector<int64_t>>> eva_tensor_shapes(const Model& m);

// Family loaders in their own files (Model::from_tensors dispatches): Swin v1 (load_swin.cpp).
Model swin_from_tensors(const ModelConfig& config, const SafeTensors& st, std::optional<int> img_size);
// A Swin stage's feature map, window and shift at a patch grid (timm's rules; load_swin.cpp): what the loader
// decides, also for random models.
void place_swin_stage(SwinStageDims& sd, int stage, int grid_h, int grid_w, int window);

}  // namespace vitvk
