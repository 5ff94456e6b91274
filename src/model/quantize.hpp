#pragma once
// int8 models: the linear layers `--precision int8` runs in int8, quantized per output channel (symmetric,
// fp32 scales: ops::quantize_per_row), in memory or as an int8 safetensors file. In the file a quantized
// layer's weight is an I8 tensor [out, in] named as the fp32 one, beside an F32 tensor `<name>_scale` [out];
// everything else stays as it was. Model::load reads such files without making an fp32 copy.
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

// Whether any linear layer of the model is stored as int8.
bool has_int8_weights(const Model& m);

// Quantizes the layers above in place (the fp32 weights are dropped). ViT / DeiT only: Error(Unsupported)
// for GFNet. Layers already int8 are left as they are.
void quantize_int8(Model& m);

// A copy with every int8 layer turned back into fp32 (scale * q), for backends that run fp32 or fp16.
Model dequantized(const Model& m);

}  // namespace vitvk
