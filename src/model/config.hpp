#pragma once
// config.json (timm / Hugging Face hub layout): architecture, model_args, pretrained_cfg, label_names.
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vitvk {

// timm's eval transform parameters (pretrained_cfg).
struct PreprocessConfig {
  int channels = 3;
  int height = 224;
  int width = 224;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  float crop_pct = 0.875f;
  std::string interpolation = "bicubic";  // "bicubic" | "bilinear"
  std::string crop_mode = "center";
};

// ViT: timm VisionTransformer / DeiT. GFNet: Rao et al.'s non-hierarchical global filter network (gfnet*
// architectures): a learned 2-D frequency-domain filter over the patch grid in place of attention.
// Eva: timm's Eva as EVA-02 registers it (eva02_* architectures): a ViT with a 2-D rotary position embedding on
// the patch tokens' q and k besides the absolute one, and a SwiGLU MLP. BEiT: timm's beit.py (beit_*, beitv2_*),
// a ViT with a relative position bias in each attention (model/load_beit.hpp).
// Swin: timm's Swin Transformer v1 (swin_* but swinv2_* and swin_s3_*): attention within (shifted) local windows,
// a hierarchy of stages joined by patch merging.
enum class ModelFamily { ViT, GFNet, Eva, BEiT, Swin };

// The MLP's activation (timm act_layer): exact GELU, tanh-approximated GELU, QuickGELU (OpenAI CLIP).
enum class MlpActivation { Gelu, GeluTanh, QuickGelu };

// What config.json says; tensor shapes fill in and cross-check the rest (see model.hpp).
// BEiT's model_args where config.json states them (hub configs do not): the loader checks each against the tensors.
struct BeitArgs {
  std::optional<int> num_heads;
  std::optional<bool> use_abs_pos_emb, use_rel_pos_bias, use_shared_rel_pos_bias, qkv_bias;
  std::optional<bool> layer_scale;  // init_values: a number (gamma_1 / gamma_2 present) or null / 0 (absent)
};

struct ModelConfig {
  std::string architecture;
  ModelFamily family = ModelFamily::ViT;
  std::optional<int> img_size;
  std::optional<int> patch_size;
  std::optional<int> embed_dim;
  std::optional<int> depth;
  int num_heads = 0;  // from model_args, else from the architecture name (ViT; 0 for GFNet)
  std::optional<double> mlp_ratio;  // GFNet model_args (checked against the tensors); ViT derives it from them
  std::optional<int> num_classes;
  bool class_token = true;  // false for GFNet
  bool distilled = false;  // from the name; the dist_token tensor also turns it on
  float ln_eps = 1e-6f;
  std::string global_pool = "token";  // ViT: "token" | "avg" | "map"; GFNet: "avg" (mean over tokens after the final norm)
  // ViT switches that config.json states only sometimes (hub configs have no model_args): set where it says so,
  // else the loader decides from the tensors and the architecture name.
  bool global_pool_given = false;  // global_pool came from model_args (else it is the loader's default)
  std::optional<bool> class_token_arg, no_embed_class, fc_norm;
  std::optional<int> reg_tokens;
  MlpActivation act = MlpActivation::Gelu;  // model_args.act_layer, else from the name (*_quickgelu_*, SigLIP-2)
  // EVA-02's switches the tensors cannot tell (hub configs have no model_args: then timm's eva02_* registration
  // decides, which sets the same rope for every size), and the layout switches model_args may state (the loader
  // reads the layout off the tensors and checks it against these where given; config_for_architecture sets them
  // from the name for random weights).
  struct EvaArgs {
    bool rope = true;                 // use_rot_pos_emb
    int ref_h = 16, ref_w = 16;       // ref_feat_shape: the grid the rope's coordinates are scaled to (0: none)
    double rope_temperature = 10000.0;
    double rope_grid_offset = 0.0;
    bool rope_rotate_half = false;    // pairs (i, i + head_dim/2) instead of (2i, 2i+1)
    std::optional<bool> qkv_fused;    // one qkv linear with q_bias / v_bias, or q_proj / k_proj / v_proj
    std::optional<bool> scale_mlp;    // SwiGLU with its LayerNorm over the hidden width (fc1_g / fc1_x / norm)
    std::optional<bool> qkv_bias;
  } eva;
  BeitArgs beit;  // family BEiT only
  // Swin: model_args.depths / num_heads where given (else the tensors tell), the window from model_args or the
  // name (swin_*_window7_*).
  std::vector<int> depths, stage_heads;
  int window_size = 0;
  PreprocessConfig preprocess;
  std::vector<std::string> labels;  // empty when the config has none
};

// Parses config.json text; source names the file in errors (Error(ModelFormat)).
ModelConfig parse_model_config(const std::string& text, const std::string& source);
ModelConfig load_model_config(const std::filesystem::path& path);

// Heads for the standard ViT/DeiT sizes by name ("tiny" 3, "small" 6, "base" 12, "large" 16, "huge" 16); 0 if unknown.
int heads_from_architecture(const std::string& architecture);

// LayerNorm eps and MLP activation that timm's registration of a name sets (CLIP towers: 1e-5; *_quickgelu_*:
// QuickGELU; the SigLIP towers registered with gelu_tanh). Used where model_args does not say.
float ln_eps_from_architecture(const std::string& architecture);
MlpActivation activation_from_architecture(const std::string& architecture);

// A complete config for a named architecture (vit_tiny_patch16_224, vit_small_patch16_224, vit_base_patch16_224,
// vit_base_patch32_384, vit_large_patch16_224, deit_*, gfnet_ti, gfnet_xs, gfnet_s, gfnet_b, optionally with an
// input size suffix as in gfnet_xs_384; eva02_{tiny,small,base,large}_patch14_{224,336,448};
// swin_{tiny,small,base,large}_patch4_window{7,12}_{224,384}): used for
// random-weight models. Throws for unknown names.
ModelConfig config_for_architecture(const std::string& architecture);

// Serialises a config back to timm's config.json layout (used to write random-weight model directories).
std::string model_config_to_json(const ModelConfig& config);

}  // namespace vitvk
