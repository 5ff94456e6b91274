#pragma once
// A loaded ViT/DeiT, EVA-02, BEiT, GFNet or Swin: config, dimensions derived from tensor shapes, fp32 host weights.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace vitvk {

class SafeTensors;

// Swin: one stage of the hierarchy (timm SwinTransformerStage) as it runs at the model's input size.
struct SwinStageDims {
  int dim = 0;    // channels (after the stage's patch merging)
  int depth = 0;  // blocks; the odd ones shift
  int heads = 0, head_dim = 0;
  int mlp_hidden = 0;
  int height = 0, width = 0;       // the feature map its blocks see (patch merging pads odd sizes: ceil)
  int window_h = 0, window_w = 0;  // timm's _calc_window_shift: the window, clipped where the map is smaller
  int shift_h = 0, shift_w = 0;    // the odd blocks' shift (0 where the window was clipped)
  int windows() const { return ((height + window_h - 1) / window_h) * ((width + window_w - 1) / window_w); }
  int window_area() const { return window_h * window_w; }
  int window_rows() const { return windows() * window_area(); }  // tokens incl. padding, in window order
  bool shifted() const { return shift_h || shift_w; }
};

struct ModelDims {
  ModelFamily family = ModelFamily::ViT;
  int channels = 3;
  int img_h = 0, img_w = 0;
  int patch = 0;
  int grid_h = 0, grid_w = 0;
  int num_patches = 0;  // grid_h * grid_w
  int prefix = 1;       // class token + register tokens + distillation token (0 for GFNet)
  bool class_token = true;  // ViT: a class token leads the prefix
  int reg_tokens = 0;       // ViT: register tokens after the class token (DINOv2-reg, *_reg4_*)
  int pos_rows = 0;         // rows of pos_embed: tokens, or num_patches where it skips the prefix (no_embed_class)
  std::string pool = "token";  // ViT head input: "token" (class token), "avg" (mean of the patch tokens), "map"
  MlpActivation act = MlpActivation::Gelu;
  int tokens = 0;       // prefix + num_patches
  int dim = 0;
  int depth = 0;
  int heads = 0;        // 0 for GFNet
  int head_dim = 0;
  int mlp_hidden = 0;   // EVA-02: the SwiGLU's hidden width (its fused fc1 has 2 * mlp_hidden rows)
  int num_classes = 0;
  float ln_eps = 1e-6f;
  // Swin (dim, heads, head_dim and mlp_hidden above are the last stage's, tokens its feature map's; depth counts
  // every block; grid_h/w is the patch grid stage 0 runs on).
  std::vector<SwinStageDims> stages;
  int window = 0;  // the architecture's window before clipping

  // Multiply-adds x2 of one image's forward pass (matmuls and attention; for GFNet's filter the nominal
  // 5 N log2 N per FFT), for GFLOP/s figures.
  double flops_per_image() const;
};

// y = x W^T + b with W stored [out, in] as in PyTorch.
struct LinearWeights {
  int out = 0, in = 0;
  std::vector<float> weight;  // out * in (empty when stored as int8)
  std::vector<float> bias;    // out
  // Stored as int8 (an int8 safetensors file, see model/quantize.hpp): W[n, k] = qscale[n, k / qgroup] *
  // qweight[n, k], or qscale[n] * qweight[n, k] where qgroup is 0 (one scale per output channel).
  std::vector<int8_t> qweight;  // out * in, or empty
  std::vector<float> qscale;    // out * qgroups() (row-major)
  int qgroup = 0;               // input channels per scale (0: the whole row)
  bool quantized() const { return !qweight.empty(); }
  int qgroups() const { return qgroup > 0 && in > 0 ? (in + qgroup - 1) / qgroup : 1; }
};

struct NormWeights {
  std::vector<float> weight, bias;  // dim
};

// Optional parts are empty vectors where the checkpoint has none; absent biases are loaded as zeros.
struct BlockWeights {
  NormWeights norm1;
  LinearWeights qkv;   // 3*dim x dim; output laid out [3][heads][head_dim]
  NormWeights q_norm, k_norm;  // [head_dim] each: qk-norm models only
  LinearWeights proj;  // dim x dim
  std::vector<float> ls1;  // layer scale of the attention branch [dim] (init_values models only)
  NormWeights norm2;
  LinearWeights fc1;   // mlp_hidden x dim (EVA-02: 2 * mlp_hidden x dim, the SwiGLU's gate rows then its value rows)
  NormWeights mlp_norm;  // EVA-02 scale_mlp: LayerNorm over the SwiGLU's hidden width [mlp_hidden] (else empty)
  LinearWeights fc2;   // dim x mlp_hidden
  std::vector<float> ls2;  // layer scale of the MLP branch
  // BEiT: the additive attention score term [heads, tokens, tokens] (relative position bias table(s) gathered
  // for the input's grid, model/load_beit.cpp); empty for other families.
  std::vector<float> rel_pos_bias;
};

// SigLIP's attention-pool head (timm AttentionPoolLatent, one latent query): q from the latent, k/v from the
// tokens, attention, proj; then x + mlp(norm(x)).
struct AttnPoolWeights {
  std::vector<float> latent;  // [dim]
  LinearWeights q, kv, proj;  // q: dim x dim, kv: 2*dim x dim
  NormWeights norm;
  LinearWeights fc1, fc2;
  bool present() const { return !latent.empty(); }
};

struct ViTWeights {
  LinearWeights patch_embed;  // dim x (channels*patch*patch), the conv kernel flattened [c][ky][kx]
  std::vector<float> cls_token;   // dim (class-token models)
  std::vector<float> reg_token;   // reg_tokens * dim
  std::vector<float> dist_token;  // dim, distilled models only
  std::vector<float> pos_embed;   // pos_rows * dim
  NormWeights norm_pre;           // CLIP's pre-norm (empty: none)
  std::vector<BlockWeights> blocks;
  NormWeights norm;               // final norm (empty where fc_norm takes its place)
  NormWeights fc_norm;            // norm after the pooling (avg-pool models)
  AttnPoolWeights attn_pool;      // pool "map"
  LinearWeights head;             // out 0: no classifier (num_classes 0)
  LinearWeights head_dist;  // distilled models only
  bool has_patch_bias = true, has_qkv_bias = true;  // as the checkpoint stores them (for save())
  // EVA-02's rotary tables for the input grid (model/rope_tables.hpp; ops/rope.hpp applies them): [num_patches, head_dim] each; empty without rope.
  std::vector<float> rope_sin, rope_cos;

  // The prefix rows in token order: class token, registers, distillation token ([prefix, dim]).
  std::vector<float> prefix_tokens() const;
};

// GFNet (non-hierarchical): x = x + mlp(norm2(filter(norm1(x)))) per block, one residual.
struct GFNetBlockWeights {
  NormWeights norm1;
  std::vector<float> filter;  // filter.complex_weight [grid_h, grid_w/2+1, dim, 2] (real, imaginary)
  NormWeights norm2;
  LinearWeights fc1;  // mlp_hidden x dim
  LinearWeights fc2;  // dim x mlp_hidden
};

struct GFNetWeights {
  LinearWeights patch_embed;     // as ViTWeights::patch_embed
  std::vector<float> pos_embed;  // num_patches * dim (no class token)
  std::vector<GFNetBlockWeights> blocks;
  NormWeights norm;
  LinearWeights head;  // reads the mean over tokens after the final norm
};

// Swin Transformer v1 (timm swin_transformer.py), per block:
//   x += proj(window attention(qkv(partition(norm1(x)))) + relative position bias [+ shift mask])
//   x += fc2(gelu(fc1(norm2(x))))
struct SwinBlockWeights {
  NormWeights norm1;
  LinearWeights qkv;  // 3 * heads * head_dim x dim
  std::vector<float> rel_pos_table;  // attn.relative_position_bias_table [(2 wh - 1) (2 ww - 1), heads]
  LinearWeights proj;  // dim x heads * head_dim
  NormWeights norm2;
  LinearWeights fc1, fc2;
};

struct SwinStageWeights {
  NormWeights merge_norm;         // stages > 0: downsample.norm over the 4 * previous dim of the 2x2 gather
  LinearWeights merge_reduction;  // stages > 0: downsample.reduction, dim x 4 * previous dim (bias zeros: none)
  std::vector<SwinBlockWeights> blocks;
};

struct SwinWeights {
  LinearWeights patch_embed;  // as ViTWeights::patch_embed
  NormWeights patch_norm;     // patch_embed.norm
  std::vector<SwinStageWeights> stages;
  NormWeights norm;   // final norm, before the average pool
  LinearWeights head;  // head.fc; out 0: no classifier
};

struct Model {
  ModelConfig config;
  ModelDims dims;
  ViTWeights weights;   // families ViT and Eva (EVA-02's blocks as a ViT's: qkv fused at load, see load_eva.cpp)
  GFNetWeights gfnet;   // family GFNet
  SwinWeights swin;     // family Swin
  std::filesystem::path dir;  // empty for generated models
  std::vector<std::string> labels;  // num_classes entries ("class N" where the config has none)

  // Loads dir/config.json + dir/model.safetensors. Throws Error naming the file, tensor and problem.
  // img_size: run at this input size instead of the checkpoint's (ViT: pos_embed resampled as timm does).
  static Model load(const std::filesystem::path& dir, std::optional<int> img_size = std::nullopt);
  // Builds a model from a parsed config and tensor file (checks every shape against the architecture).
  static Model from_tensors(const ModelConfig& config, const SafeTensors& tensors,
                            std::optional<int> img_size = std::nullopt);
  // Random weights (deterministic for a seed) shaped by the config; for tests and benchmarks.
  static Model random(const ModelConfig& config, uint32_t seed = 1);

  // Why explain mode (attention rollout) has nothing to work with for this model, as the end of a sentence
  // ("... 'gfnet_ti' is a GFNet: ..."); empty where the family has token-to-token attention maps. The one place
  // that decides it: the backends, the pipeline and the CLI word their refusals around it.
  std::string no_attention_maps_reason() const;
  bool has_attention_maps() const { return no_attention_maps_reason().empty(); }

  // The timm-named tensors of this model, e.g. to write a model directory.
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensor_shapes() const;
  // Writes config.json + model.safetensors to dir (created if needed). Plain ViT/DeiT and GFNet layouts only
  // (what random() makes); Error(Unsupported) for the zoo's optional parts.
  void save(const std::filesystem::path& dir) const;
};

}  // namespace vitvk
