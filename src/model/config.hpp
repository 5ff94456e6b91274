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
// architectures): a learned 2-D frequency-domain filter over the patch grid in place of attention. Swin: timm's
// Swin Transformer v1 (swin_* but swinv2_* and swin_s3_*): attention within (shifted) local windows, a
// hierarchy of stages joined by patch merging.
enum class ModelFamily { ViT, GFNet, Swin };

// The MLP's activation (timm act_layer): exact GELU, tanh-approximated GELU, QuickGELU (OpenAI CLIP).
enum class MlpActivation { Gelu, GeluTanh, QuickGelu };

// What config.json says; tensor shapes fill in and cross-check the rest (see model.hpp).
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
// input size suffix as in gfnet_xs_384, swin_{tiny,small,base,large}_patch4_window{7,12}_{224,384}): used for
// random-weight models. Throws for unknown names.
ModelConfig config_for_architecture(const std::string& architecture);

// Serialises a config back to timm's config.json layout (used to write random-weight model directories).
std::string model_config_to_json(const ModelConfig& config);

}  // namespace vitvk
