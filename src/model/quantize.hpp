#pragma once
// int8 models: the linear layers `--precision int8` runs in int8, quantized per output channel (symmetric,
// fp32 scales: ops::quantize_per_row), in memory or as an int8 safetensors file. In the file a quantized
// layer's weight is an I8 tensor [out, in] named as the fp32 one, beside an F32 tensor `<name>_scale` [out];
// everything else stays as it was. Model::load reads such files without making an fp32 copy.
// With scales per group of G input channels as well (`vitvk quantize --group G`), the file's metadata says
// `"vitvk_int8_group": "G"` and every `<name>_scale` is [out, ceil(in / G)]: W[n, k] = scale[n, k / G] * q[n, k].
#include <filesystem>

#include "model/model.hpp"

namespace vitvk {

// The layers int8 precision quantizes: every transformer block's attn.qkv, attn.proj, mlp.fc1 and mlp.fc2.
// The patch embedding and the head stay fp32 (README: the agreement figures that decided it).
template <class M, class F>
void for_each_int8_linear(M& model, F&& f) {
  for (auto& b : model.weights.blocks) {
    f(b.qkv);
    f(b.proj);
    f(b.fc1);
    f(b.fc2);
  }
}

// Which kinds of linear layer int8 precision quantizes at load: the blocks' four by default (as above);
// VITVK_INT8_LAYERS=comma-separated kinds (patch, qkv, proj, fc1, fc2, head) overrides it, for measuring
// what each costs in accuracy (tools/bench/int8_accuracy.py --variant). Error(InvalidArgument) for others.
struct Int8Layers {
  bool patch_embed = false, qkv = true, proj = true, fc1 = true, fc2 = true, head = false;
  static Int8Layers none() { return {false, false, false, false, false, false}; }
};
Int8Layers int8_layers();

// The safetensors metadata key that names an int8 file's group (Binder::int8_group reads it), and the groups a
// file may hold: multiples of 8 from 8 to 65536 (the CPU kernels step K by 4, the Vulkan shader by 8; 65536 is
// ops::kInt8MaxK). Header-only: the parsers (and their fuzz targets) need none of the int8 kernels.
inline constexpr const char* kInt8GroupKey = "vitvk_int8_group";
inline constexpr long kInt8MaxFileGroup = 65536;
inline bool int8_file_group_valid(long group) { return group > 0 && group <= kInt8MaxFileGroup && group % 8 == 0; }

// Error(InvalidArgument) "<what> G: expected 0 or a multiple of 8 up to 65536" unless group is 0 or
// int8_file_group_valid: one check for the CLI's --group, the API's option and quantize_int8.
void require_int8_file_group(long group, const std::string& what);

// What int8 runs and `vitvk quantize` takes (ModelFamily::ViT), for the messages that refuse the others.
inline constexpr const char* kInt8Families = "the VisionTransformer family (ViT, DeiT, DeiT-III, DINOv2, CLIP, SigLIP)";

// Whether any linear layer of the model is stored as int8.
bool has_int8_weights(const Model& m);

// The input channels per scale of the model's int8 layers (0: one scale per output channel, or none stored).
// Error(InvalidArgument) if its layers differ in it (a file holds one group).
int int8_weights_group(const Model& m);

// The group int8 runs in (input channels per scale along K, 0: whole rows): VITVK_INT8_GROUP=N (a multiple of 4;
// 0, the default, is one scale per token and per output channel). The CPU groups the activations by it, and both
// backends the weights they quantize at load (Vulkan: a multiple of 8). A model stored with grouped scales
// (`vitvk quantize --group`) sets it: its activations are grouped alike (the CPU kernels sum each group on its
// own), and VITVK_INT8_GROUP may only repeat that group. A model stored with per-channel scales takes any group
// (its scales then serve every group). Error(InvalidArgument) for a malformed or clashing value. What groups gain
// and cost: ops/cpu_gemm_int8.hpp.
int int8_run_group(const Model& m);

// Quantizes the layers above in place (the fp32 weights are dropped), with a scale per output channel, or per
// output channel and group of `group` input channels (int8_file_group_valid; 0: none). kInt8Families only:
// Error(Unsupported) for GFNet. Layers already int8 are left as they are (Error(InvalidArgument) if their group
// is another).
void quantize_int8(Model& m, int group = 0);

// Writes the int8 model `m` (Model::load of m.dir, then quantize_int8) to out_dir as a copy of m.dir: in
// model.safetensors each int8 layer's weight becomes I8 + `<name>_scale` and the metadata names the group (as
// above); every other tensor keeps its bytes and dtype, and config.json and the directory's licence and readme
// files (LICENSE*, NOTICE*, COPYING*, README*) are copied as they are. Unlike Model::save it takes any ViT-family
// layout (registers, layer scale, qk-norm, other pools): the file keeps all that the loader read. The files are
// written into a staging directory in out_dir and renamed into place at the end, config.json last. Returns the
// int8 layers written. Error(InvalidArgument) for a model that has no int8 layer, was not loaded from a
// directory, or for out_dir being that directory; Error(ModelFormat) when m.dir's file no longer holds the model's
// layers; Error(Io) when writing fails.
int save_int8_copy(const Model& m, const std::filesystem::path& out_dir);

// A copy with every int8 layer turned back into fp32 (scale * q), for backends that run fp32 or fp16.
Model dequantized(const Model& m);

}  // namespace vitvk
