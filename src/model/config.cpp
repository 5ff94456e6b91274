#include "model/config.hpp"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "core/file.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  throw Error(ErrorCode::ModelFormat, source + ": " + what);
}

std::optional<int> opt_int(const json& obj, const char* key, const std::string& source, int lo, int hi) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) bad(source, std::string(key) + " is not an integer");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(hi))  // would wrap as int64
    bad(source, std::string(key) + " = " + std::to_string(it->get<uint64_t>()) + " is out of range [" +
                    std::to_string(lo) + ", " + std::to_string(hi) + "]");
  auto v = it->get<int64_t>();
  if (v < lo || v > hi) bad(source, std::string(key) + " = " + std::to_string(v) + " is out of range [" +
                                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

std::optional<double> opt_num(const json& obj, const char* key, const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) bad(source, std::string(key) + " is not a number");
  return it->get<double>();
}

std::optional<bool> opt_bool(const json& obj, const char* key, const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) bad(source, std::string(key) + " is not a boolean");
  return it->get<bool>();
}

std::optional<std::string> opt_str(const json& obj, const char* key, const std::string& source) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) bad(source, std::string(key) + " is not a string");
  return it->get<std::string>();
}

std::array<float, 3> triple(const json& obj, const char* key, const std::string& source, std::array<float, 3> dflt,
                            bool positive) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return dflt;
  if (!it->is_array() || it->size() != 3) bad(source, std::string("pretrained_cfg.") + key + " is not a list of 3 numbers");
  std::array<float, 3> out{};
  for (int i = 0; i < 3; ++i) {
    if (!(*it)[i].is_number()) bad(source, std::string("pretrained_cfg.") + key + " holds a non-number");
    const double v = (*it)[i].get<double>();
    if (positive && !(v > 0.0)) bad(source, std::string("pretrained_cfg.") + key + " must be positive");
    // Bounded so that (pixel / 255 - mean) / std stays finite for every pixel: roughly before the conversion to
    // float (1e300 would not fit), exactly after it (1e-50 becomes 0; the float is what gets written back).
    const float f = std::abs(v) <= 1e4 ? static_cast<float>(v) : std::numeric_limits<float>::infinity();
    if (!(std::abs(f) <= 1e3f) || (positive && !(f >= 1e-4f)))
      bad(source, std::string("pretrained_cfg.") + key + " holds " + std::to_string(v) +
                      (positive ? ", outside [1e-4, 1e3]" : ", outside [-1e3, 1e3]"));
    out[i] = f;
  }
  return out;
}

// ViT/DeiT model_args: heads, class token, registers, layer norm eps, pooling, activation. What they leave
// out the loader decides from the tensors (model.cpp) and the architecture name.
void parse_vit_args(ModelConfig& c, const json& j, const json& args, const std::string& source) {
  c.num_heads = opt_int(args, "num_heads", source, 1, 4096).value_or(heads_from_architecture(c.architecture));
  if (c.num_heads <= 0)
    bad(source, "number of attention heads unknown: model_args.num_heads is missing and architecture '" +
                    c.architecture + "' names no standard size");
  c.class_token_arg = opt_bool(args, "class_token", source);
  if (c.class_token_arg) c.class_token = *c.class_token_arg;
  c.no_embed_class = opt_bool(args, "no_embed_class", source);
  c.reg_tokens = opt_int(args, "reg_tokens", source, 0, 1024);
  c.fc_norm = opt_bool(args, "fc_norm", source);
  c.ln_eps = ln_eps_from_architecture(c.architecture);
  if (auto v = opt_num(args, "layer_norm_eps", source)) {
    if (!(*v > 0.0 && *v < 1.0)) bad(source, "layer_norm_eps out of range");  // before the float conversion
    c.ln_eps = static_cast<float>(*v);
  }
  if (!(c.ln_eps > 0.f && c.ln_eps < 1.f)) bad(source, "layer_norm_eps out of range");
  auto pool = opt_str(args, "global_pool", source);
  if (!pool) pool = opt_str(j, "global_pool", source);
  c.global_pool_given = pool.has_value();
  c.global_pool = pool.value_or(c.architecture.find("_gap_") != std::string::npos ? "avg" : "token");
  if (c.global_pool != "token" && c.global_pool != "avg" && c.global_pool != "map")
    bad(source, "global_pool '" + c.global_pool + "' is not supported (token, avg, map)");
  c.act = activation_from_architecture(c.architecture);
  if (auto v = opt_str(args, "act_layer", source)) {
    if (*v == "gelu") c.act = MlpActivation::Gelu;
    else if (*v == "gelu_tanh") c.act = MlpActivation::GeluTanh;
    else if (*v == "quick_gelu") c.act = MlpActivation::QuickGelu;
    else bad(source, "act_layer '" + *v + "' is not supported (gelu, gelu_tanh, quick_gelu)");
  }
}

// BEiT's model_args (timm beit.py): the ViT ones it shares (heads, pooling, eps) and its own switches, recorded
// for the loader to check against the tensors (model/load_beit.cpp), which decide where config.json is silent.
void parse_beit_args(ModelConfig& c, const json& j, const json& args, const std::string& source) {
  c.family = ModelFamily::BEiT;
  BeitArgs& b = c.beit;
  b.num_heads = opt_int(args, "num_heads", source, 1, 4096);
  c.num_heads = b.num_heads.value_or(heads_from_architecture(c.architecture));
  b.use_abs_pos_emb = opt_bool(args, "use_abs_pos_emb", source);
  b.use_rel_pos_bias = opt_bool(args, "use_rel_pos_bias", source);
  b.use_shared_rel_pos_bias = opt_bool(args, "use_shared_rel_pos_bias", source);
  b.qkv_bias = opt_bool(args, "qkv_bias", source);
  // timm: `if init_values:`, so 0 means no layer scale; null means the architecture's default (create_model drops
  // None kwargs), which the tensors then tell.
  if (auto v = opt_num(args, "init_values", source)) b.layer_scale = *v != 0.0;
  for (const char* off : {"swiglu_mlp", "scale_mlp"})
    if (opt_bool(args, off, source).value_or(false)) bad(source, std::string(off) + " BEiT variants are not supported");
  if (auto v = opt_num(args, "layer_norm_eps", source); v && !(*v > 0.0 && *v < 1.0)) bad(source, "layer_norm_eps out of range");
  c.ln_eps = static_cast<float>(opt_num(args, "layer_norm_eps", source).value_or(1e-6));  // timm.layers.LayerNorm
  auto pool = opt_str(args, "global_pool", source);
  if (!pool) pool = opt_str(j, "global_pool", source);
  c.global_pool_given = pool.has_value();
  c.global_pool = pool.value_or("avg");
  if (c.global_pool != "token" && c.global_pool != "avg")
    bad(source, "global_pool '" + c.global_pool + "' is not supported for BEiT (avg, token)");
}

// GFNet's named sizes (the official repository's gfnet-ti/xs/s/b): embed dim and depth; patch 16, mlp ratio 4.
// `img` gets the input-size suffix when the name has one. False for names that are not one of these.
bool gfnet_named_size(const std::string& arch, int& dim, int& depth, std::optional<int>& img) {
  static const std::regex re(R"(^gfnet[-_](ti|xs|s|b)(?:[-_](\d{2,5}))?$)");
  std::smatch m;
  if (!std::regex_match(arch, m, re)) return false;
  const std::string size = m[1];
  dim = size == "ti" ? 256 : size == "b" ? 512 : 384;
  depth = size == "ti" || size == "xs" ? 12 : 19;
  if (m[2].matched) img = std::stoi(m[2]);
  return true;
}

bool is_hierarchical_gfnet(const std::string& arch) { return arch.starts_with("gfnet-h") || arch.starts_with("gfnet_h"); }

// GFNet's model_args: img_size, patch_size, embed_dim, depth, mlp_ratio; a named size fills in what is absent.
void parse_gfnet_args(ModelConfig& c, const json& args, const std::string& source) {
  c.family = ModelFamily::GFNet;
  if (is_hierarchical_gfnet(c.architecture))
    bad(source, "architecture '" + c.architecture + "' is a hierarchical GFNet (gfnet-h-*), which is not supported");
  c.mlp_ratio = opt_num(args, "mlp_ratio", source);
  if (c.mlp_ratio && !(*c.mlp_ratio > 0.0 && *c.mlp_ratio <= 64.0)) bad(source, "mlp_ratio out of range (0, 64]");
  int dim = 0, depth = 0;
  std::optional<int> img;
  if (gfnet_named_size(c.architecture, dim, depth, img)) {
    if (!c.embed_dim) c.embed_dim = dim;
    if (!c.depth) c.depth = depth;
    if (!c.patch_size) c.patch_size = 16;
    if (!c.img_size && img) c.img_size = img;  // else pretrained_cfg.input_size, or 224
    if (!c.mlp_ratio) c.mlp_ratio = 4.0;
  }
  if (auto v = opt_bool(args, "class_token", source); v && *v) bad(source, "GFNet models have no class token");
  c.class_token = false;
  c.num_heads = 0;
  if (auto v = opt_num(args, "layer_norm_eps", source)) {
    if (!(*v > 0.0 && *v < 1.0)) bad(source, "layer_norm_eps out of range");  // before the float conversion
    c.ln_eps = static_cast<float>(*v);
  }
  if (!(c.ln_eps > 0.f && c.ln_eps < 1.f)) bad(source, "layer_norm_eps out of range");
  c.global_pool = opt_str(args, "global_pool", source).value_or("avg");
  if (c.global_pool != "avg") bad(source, "global_pool '" + c.global_pool + "' is not supported for GFNet (only 'avg')");
}

// EVA-02 (timm Eva): heads, tokens and pooling as for a ViT; the rope's settings and the layout switches. The
// name (timm's eva02_* registrations) decides what model_args leaves out; switches this family does not implement
// are refused here by name rather than loaded as a different model.
void parse_eva_args(ModelConfig& c, const json& j, const json& args, const std::string& source) {
  c.family = ModelFamily::Eva;
  c.num_heads = opt_int(args, "num_heads", source, 1, 4096).value_or(heads_from_architecture(c.architecture));
  if (c.num_heads <= 0)
    bad(source, "number of attention heads unknown: model_args.num_heads is missing and architecture '" +
                    c.architecture + "' names no standard size");
  c.class_token_arg = opt_bool(args, "class_token", source);
  if (c.class_token_arg) c.class_token = *c.class_token_arg;
  c.no_embed_class = opt_bool(args, "no_embed_class", source);
  c.reg_tokens = opt_int(args, "num_reg_tokens", source, 0, 1024);
  c.fc_norm = opt_bool(args, "use_fc_norm", source);
  c.ln_eps = 1e-6f;  // timm.layers.LayerNorm's default, which every Eva registration uses
  auto pool = opt_str(args, "global_pool", source);
  if (!pool) pool = opt_str(j, "global_pool", source);
  c.global_pool_given = pool.has_value();
  // Eva pools by the mean unless told otherwise; the EVA-02 CLIP towers register token pooling.
  c.global_pool = pool.value_or(c.architecture.find("_clip_") != std::string::npos ? "token" : "avg");
  if (c.global_pool != "token" && c.global_pool != "avg")
    bad(source, "global_pool '" + c.global_pool + "' is not supported for EVA-02 (token, avg)");
  c.mlp_ratio = opt_num(args, "mlp_ratio", source);
  if (c.mlp_ratio && !(*c.mlp_ratio > 0.0 && *c.mlp_ratio <= 64.0)) bad(source, "mlp_ratio out of range (0, 64]");

  ModelConfig::EvaArgs& e = c.eva;
  e.qkv_fused = opt_bool(args, "qkv_fused", source);
  e.scale_mlp = opt_bool(args, "scale_mlp", source);
  e.qkv_bias = opt_bool(args, "qkv_bias", source);
  if (auto v = opt_bool(args, "use_rot_pos_emb", source)) e.rope = *v;
  if (auto it = args.find("ref_feat_shape"); it != args.end()) {
    if (it->is_null()) {
      e.ref_h = e.ref_w = 0;
    } else if (it->is_number_integer()) {
      e.ref_h = e.ref_w = *opt_int(args, "ref_feat_shape", source, 1, 16384);
    } else if (it->is_array() && it->size() == 2 && (*it)[0].is_number_integer() && (*it)[1].is_number_integer() &&
               (*it)[0].get<int64_t>() >= 1 && (*it)[0].get<int64_t>() <= 16384 && (*it)[1].get<int64_t>() >= 1 &&
               (*it)[1].get<int64_t>() <= 16384) {
      e.ref_h = (*it)[0].get<int>();
      e.ref_w = (*it)[1].get<int>();
    } else {
      bad(source, "model_args.ref_feat_shape is not a grid size (an integer or [height, width] in [1, 16384])");
    }
  }
  if (auto v = opt_num(args, "rope_temperature", source)) {
    if (!(*v > 1.0 && *v < 1e12)) bad(source, "model_args.rope_temperature out of range (1, 1e12)");
    e.rope_temperature = *v;
  }
  if (auto v = opt_num(args, "rope_grid_offset", source)) {
    if (!(std::abs(*v) <= 1e4)) bad(source, "model_args.rope_grid_offset out of range [-1e4, 1e4]");
    e.rope_grid_offset = *v;
  }
  if (auto v = opt_bool(args, "rope_rotate_half", source)) e.rope_rotate_half = *v;

  // Switches that change the forward pass in ways this family does not implement.
  auto refuse_str = [&](const char* key, const char* only) {
    if (auto v = opt_str(args, key, source); v && *v != only)
      bad(source, std::string("model_args.") + key + " '" + *v + "' is not supported for EVA-02 (only '" + only + "')");
  };
  refuse_str("rope_type", "cat");
  refuse_str("rope_grid_indexing", "ij");
  refuse_str("attn_type", "eva");
  auto refuse_bool = [&](const char* key, bool only, const char* what) {
    if (auto v = opt_bool(args, key, source); v && *v != only)
      bad(source, std::string("model_args.") + key + " = " + (*v ? "true" : "false") + ": " + what + " is not supported");
  };
  refuse_bool("swiglu_mlp", true, "an EVA MLP without SwiGLU (EVA-01)");
  refuse_bool("use_post_norm", false, "the post-norm EVA block");
  refuse_bool("use_abs_pos_emb", true, "an EVA without its absolute position embedding");
  refuse_bool("use_pre_transformer_norm", false, "a norm before the blocks (Perception Encoder)");
  refuse_bool("scale_attn_inner", false, "a LayerNorm inside the attention (EVA-02 CLIP)");
  refuse_bool("gated_attn", false, "gated attention");
  if (auto v = opt_int(args, "attn_head_dim", source, 1, 65536)) {
    if (!c.embed_dim || *c.embed_dim != *v * c.num_heads)
      bad(source, "model_args.attn_head_dim = " + std::to_string(*v) + " is not embed_dim / num_heads, which is not supported");
  }
}

// Swin v1's named sizes (timm's registrations): embed dim, depths, heads per stage.
struct SwinSize {
  int dim;
  std::vector<int> depths, heads;
};
std::optional<SwinSize> swin_named_size(const std::string& size) {
  if (size == "tiny") return SwinSize{96, {2, 2, 6, 2}, {3, 6, 12, 24}};
  if (size == "small") return SwinSize{96, {2, 2, 18, 2}, {3, 6, 12, 24}};
  if (size == "base") return SwinSize{128, {2, 2, 18, 2}, {4, 8, 16, 32}};
  if (size == "large") return SwinSize{192, {2, 2, 18, 2}, {6, 12, 24, 48}};
  return std::nullopt;
}

std::vector<int> opt_int_list(const json& obj, const char* key, const std::string& source, int lo, int hi) {
  std::vector<int> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array() || it->empty() || it->size() > 16) bad(source, std::string("model_args.") + key + " is not a list of 1 to 16 integers");
  for (const auto& v : *it) {
    if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi)
      bad(source, std::string("model_args.") + key + " holds a value outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    out.push_back(v.get<int>());
  }
  return out;
}

// Swin v1's model_args: depths, num_heads (per stage), window_size, embed_dim, patch_size, mlp_ratio. Hub configs
// have none: the tensors give widths, depths and heads; the window comes from the name then.
void parse_swin_args(ModelConfig& c, const json& j, const json& args, const std::string& source) {
  c.family = ModelFamily::Swin;
  c.class_token = false;
  c.num_heads = 0;
  c.ln_eps = 1e-5f;  // timm's Swin uses nn.LayerNorm with its default eps
  c.depths = opt_int_list(args, "depths", source, 1, 1024);
  c.stage_heads = opt_int_list(args, "num_heads", source, 1, 4096);
  if (!c.depths.empty() && !c.stage_heads.empty() && c.depths.size() != c.stage_heads.size())
    bad(source, "model_args.depths has " + std::to_string(c.depths.size()) + " stages but model_args.num_heads " +
                    std::to_string(c.stage_heads.size()));
  if (auto it = args.find("window_size"); it != args.end() && it->is_array())
    bad(source, "model_args.window_size as a list (a window per stage, swin_s3_*) is not supported");
  static const std::regex win(R"(_window(\d{1,3})(_|$))");
  std::smatch m;
  if (auto w = opt_int(args, "window_size", source, 1, 256)) c.window_size = *w;
  else if (std::regex_search(c.architecture, m, win)) c.window_size = std::stoi(m[1]);
  else bad(source, "the window size is unknown: model_args.window_size is missing and architecture '" + c.architecture +
                       "' names none (swin_*_window7_*)");
  if (c.window_size < 1) bad(source, "window size 0");
  c.mlp_ratio = opt_num(args, "mlp_ratio", source);
  if (c.mlp_ratio && !(*c.mlp_ratio > 0.0 && *c.mlp_ratio <= 64.0)) bad(source, "mlp_ratio out of range (0, 64]");
  if (auto v = opt_bool(args, "always_partition", source); v && *v)
    bad(source, "model_args.always_partition = true (windows never clipped to the feature map) is not supported");
  auto pool = opt_str(args, "global_pool", source);
  if (!pool) pool = opt_str(j, "global_pool", source);
  c.global_pool = pool.value_or("avg");
  if (c.global_pool != "avg") bad(source, "global_pool '" + c.global_pool + "' is not supported for Swin (only 'avg')");
}

}  // namespace

float ln_eps_from_architecture(const std::string& a) {
  return a.find("_clip_") != std::string::npos ? 1e-5f : 1e-6f;
}

MlpActivation activation_from_architecture(const std::string& a) {
  if (a.find("quickgelu") != std::string::npos) return MlpActivation::QuickGelu;
  // The SigLIP(-2) towers timm registers with act_layer='gelu_tanh' (vision_transformer.py); the other SigLIP
  // towers use exact GELU. The name before any ".pretrained_tag" decides.
  static const std::set<std::string> tanh_gelu = {
      "vit_base_patch32_siglip_256",        "vit_large_patch16_siglip_512",       "vit_so400m_patch16_siglip_256",
      "vit_so400m_patch16_siglip_384",      "vit_so400m_patch16_siglip_512",      "vit_giantopt_patch16_siglip_256",
      "vit_giantopt_patch16_siglip_384",    "vit_base_patch32_siglip_gap_256",    "vit_large_patch16_siglip_gap_512",
      "vit_so400m_patch16_siglip_gap_256",  "vit_so400m_patch16_siglip_gap_384",  "vit_so400m_patch16_siglip_gap_512",
      "vit_giantopt_patch16_siglip_gap_256", "vit_giantopt_patch16_siglip_gap_384"};
  if (tanh_gelu.count(a.substr(0, a.find('.')))) return MlpActivation::GeluTanh;
  return MlpActivation::Gelu;
}

int heads_from_architecture(const std::string& a) {
  if (a.find("_tiny") != std::string::npos) return 3;
  if (a.find("_medium") != std::string::npos) return 8;
  if (a.find("_betwixt") != std::string::npos) return 10;
  if (a.find("_so150m") != std::string::npos) return 16;
  if (a.find("_so400m") != std::string::npos) return 16;
  if (a.find("_giant") != std::string::npos) return 24;
  if (a.find("_small") != std::string::npos) return 6;
  if (a.find("_base") != std::string::npos) return 12;
  if (a.find("_large") != std::string::npos) return 16;
  if (a.find("_huge") != std::string::npos) return 16;
  return 0;
}

ModelConfig parse_model_config(const std::string& text, const std::string& source) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad(source, "not valid JSON");
  if (!j.is_object()) bad(source, "top level is not a JSON object");

  ModelConfig c;
  c.architecture = opt_str(j, "architecture", source).value_or("");
  if (c.architecture.empty()) {
    // Hugging Face hub timm configs may spell it "architectures": ["..."].
    auto it = j.find("architectures");
    if (it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) c.architecture = (*it)[0];
  }
  if (c.architecture.empty()) bad(source, "no 'architecture'");
  const bool gfnet = c.architecture.starts_with("gfnet"), eva = c.architecture.starts_with("eva02_");
  const bool beit = c.architecture.starts_with("beit_") || c.architecture.starts_with("beitv2_");
  if (c.architecture.starts_with("swinv2"))
    bad(source, "architecture '" + c.architecture + "' is a Swin Transformer V2 (cosine attention, continuous "
                "position bias), which is not supported (Swin v1, swin_*, is)");
  if (c.architecture.starts_with("swin_s3_"))
    bad(source, "architecture '" + c.architecture + "' is a Swin-S3 (AutoFormerV2: a window size per stage), which "
                "is not supported (Swin v1, swin_*, is)");
  const bool swin = c.architecture.starts_with("swin_");
  if (!(c.architecture.starts_with("vit_") || c.architecture.starts_with("deit_") ||
        c.architecture.starts_with("deit3_") || gfnet || eva || beit || swin))
    bad(source, "architecture '" + c.architecture +
                    "' is not supported (vit_*, deit_*, deit3_*, eva02_*, beit_*, beitv2_*, swin_* and gfnet* are)");
  c.distilled = !gfnet && !eva && !beit && !swin && c.architecture.find("distilled") != std::string::npos;

  json args = json::object();
  if (auto it = j.find("model_args"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) bad(source, "model_args is not an object");
    args = *it;
  }
  c.img_size = opt_int(args, "img_size", source, 1, 16384);
  c.patch_size = opt_int(args, "patch_size", source, 1, 4096);
  c.embed_dim = opt_int(args, "embed_dim", source, 1, 65536);
  c.depth = opt_int(args, "depth", source, 1, 1024);
  if (gfnet) parse_gfnet_args(c, args, source);
  else if (eva) parse_eva_args(c, j, args, source);
  else if (beit) parse_beit_args(c, j, args, source);
  else if (swin) parse_swin_args(c, j, args, source);
  else parse_vit_args(c, j, args, source);
  // 0: no classifier (DINOv2, CLIP image towers): embeddings only.
  c.num_classes = opt_int(j, "num_classes", source, 0, 1 << 20);
  if (auto v = opt_int(args, "num_classes", source, 0, 1 << 20)) c.num_classes = v;

  PreprocessConfig& p = c.preprocess;
  if (auto it = j.find("pretrained_cfg"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) bad(source, "pretrained_cfg is not an object");
    const json& pc = *it;
    if (auto is = pc.find("input_size"); is != pc.end() && !is->is_null()) {
      if (!is->is_array() || is->size() != 3) bad(source, "pretrained_cfg.input_size is not [C, H, W]");
      int v[3];
      for (int i = 0; i < 3; ++i) {
        if (!(*is)[i].is_number_integer() || (*is)[i].get<int64_t>() < 1 || (*is)[i].get<int64_t>() > 16384)
          bad(source, "pretrained_cfg.input_size holds an invalid dimension");
        v[i] = (*is)[i].get<int>();
      }
      p.channels = v[0];
      p.height = v[1];
      p.width = v[2];
      if (p.channels != 3) bad(source, "pretrained_cfg.input_size: only 3-channel (RGB) models are supported");
    } else if (c.img_size) {
      p.height = p.width = *c.img_size;
    }
    p.mean = triple(pc, "mean", source, p.mean, false);
    p.std = triple(pc, "std", source, p.std, true);
    if (auto v = opt_num(pc, "crop_pct", source)) {
      if (!(*v > 0.0 && *v <= 4.0)) bad(source, "pretrained_cfg.crop_pct out of range (0, 4]");
      p.crop_pct = static_cast<float>(*v);
      // A positive double can still become 0 as a float (1e-50), which the eval transform would divide by.
      if (!(p.crop_pct > 0.f)) bad(source, "pretrained_cfg.crop_pct out of range (0, 4]");
    }
    if (auto v = opt_str(pc, "interpolation", source)) {
      if (*v != "bicubic" && *v != "bilinear")
        bad(source, "pretrained_cfg.interpolation '" + *v + "' is not supported (bicubic, bilinear)");
      p.interpolation = *v;
    }
    if (auto v = opt_str(pc, "crop_mode", source)) {
      if (*v != "center") bad(source, "pretrained_cfg.crop_mode '" + *v + "' is not supported (center)");
      p.crop_mode = *v;
    }
    if (!c.num_classes) c.num_classes = opt_int(pc, "num_classes", source, 0, 1 << 20);
  } else if (c.img_size) {
    p.height = p.width = *c.img_size;
  }
  if (c.img_size && (*c.img_size != p.height || *c.img_size != p.width))
    bad(source, "model_args.img_size disagrees with pretrained_cfg.input_size");

  if (auto it = j.find("label_names"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) bad(source, "label_names is not a list");
    for (const auto& l : *it) {
      if (!l.is_string()) bad(source, "label_names holds a non-string");
      c.labels.push_back(l.get<std::string>());
    }
    if (c.num_classes && static_cast<int>(c.labels.size()) != *c.num_classes)
      bad(source, "label_names has " + std::to_string(c.labels.size()) + " entries but num_classes is " +
                      std::to_string(*c.num_classes));
  }
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  return parse_model_config(read_text_file(path, 64u << 20), path.string());
}

ModelConfig config_for_architecture(const std::string& arch) {
  if (arch.starts_with("gfnet")) {
    ModelConfig c;
    c.architecture = arch;
    int dim = 0, depth = 0;
    std::optional<int> img;
    if (is_hierarchical_gfnet(arch) || !gfnet_named_size(arch, dim, depth, img))
      throw Error(ErrorCode::InvalidArgument, "unknown architecture '" + arch +
                                                  "' (GFNet sizes: gfnet_ti, gfnet_xs, gfnet_s, gfnet_b, e.g. gfnet_xs_384)");
    parse_gfnet_args(c, json::object(), "<" + arch + ">");
    c.img_size = c.img_size.value_or(224);
    c.num_classes = 1000;
    c.preprocess.height = c.preprocess.width = *c.img_size;
    return c;
  }
  if (arch.starts_with("eva02_")) {
    // timm's eva02_* registrations: patch 14, SwiGLU of 4 * 2/3 the width, rope scaled to a 16x16 grid; tiny and
    // small fuse qkv (with q_bias / v_bias) and pack the SwiGLU's fc1, base and large project q, k, v apart and
    // norm the SwiGLU's hidden layer. Average pooling with fc_norm.
    static const std::regex eva_re(R"(^eva02_(tiny|small|base|large)_patch14_(224|336|448)$)");
    std::smatch m;
    if (!std::regex_match(arch, m, eva_re))
      throw Error(ErrorCode::InvalidArgument, "unknown architecture '" + arch +
                                                  "' (EVA-02: eva02_{tiny,small,base,large}_patch14_{224,336,448})");
    ModelConfig c;
    c.architecture = arch;
    parse_eva_args(c, json::object(), json::object(), "<" + arch + ">");
    const std::string size = m[1];
    c.embed_dim = size == "tiny" ? 192 : size == "small" ? 384 : size == "base" ? 768 : 1024;
    c.depth = size == "large" ? 24 : 12;
    c.patch_size = 14;
    c.mlp_ratio = 4.0 * 2.0 / 3.0;
    const bool big = size == "base" || size == "large";
    c.eva.qkv_fused = !big;
    c.eva.scale_mlp = big;
    c.img_size = std::stoi(m[2]);
    c.num_classes = 1000;
    c.preprocess.height = c.preprocess.width = *c.img_size;
    c.preprocess.mean = {0.48145466f, 0.4578275f, 0.40821073f};  // OpenAI CLIP's, as timm's EVA configs
    c.preprocess.std = {0.26862954f, 0.26130258f, 0.27577711f};
    c.preprocess.crop_pct = *c.img_size == 224 ? 0.9f : 1.0f;
    return c;
  }
  if (arch.starts_with("beit")) {
    // timm's beit_* / beitv2_* registrations: patch 16, MLP ratio 4, layer scale, a relative position bias per
    // block, q/v biases, mean pooling with fc_norm (the BEiT loader reads all of it off the tensors).
    static const std::regex bre(
        R"(^(beit_base_patch16_(224|384)|beit_large_patch16_(224|384|512)|beitv2_(base|large)_patch16_224)$)");
    if (!std::regex_match(arch, bre))
      throw Error(ErrorCode::InvalidArgument, "unknown architecture '" + arch +
                                                  "' (BEiT: beit_base_patch16_{224,384}, beit_large_patch16_{224,384,512}, "
                                                  "beitv2_{base,large}_patch16_224)");
    ModelConfig c;
    c.architecture = arch;
    parse_beit_args(c, json::object(), json::object(), "<" + arch + ">");
    const bool large = arch.find("_large_") != std::string::npos;
    c.embed_dim = large ? 1024 : 768;
    c.depth = large ? 24 : 12;
    c.patch_size = 16;
    c.mlp_ratio = 4.0;
    c.img_size = std::stoi(arch.substr(arch.size() - 3));
    c.num_classes = 1000;
    c.preprocess.height = c.preprocess.width = *c.img_size;
    if (!arch.starts_with("beitv2")) c.preprocess.mean = c.preprocess.std = {0.5f, 0.5f, 0.5f};  // beitv2: ImageNet's
    c.preprocess.crop_pct = *c.img_size == 224 ? 0.9f : 1.0f;
    return c;
  }
  if (arch.starts_with("swin")) {
    static const std::regex sre(R"(^swin_(tiny|small|base|large)_patch(\d+)_window(\d+)_(\d+)$)");
    std::smatch sm;
    if (!std::regex_match(arch, sm, sre))
      throw Error(ErrorCode::InvalidArgument, "unknown architecture '" + arch +
                                                  "' (Swin: swin_{tiny,small,base,large}_patch4_window{7,12}_{224,384})");
    ModelConfig c;
    c.architecture = arch;
    parse_swin_args(c, json::object(), json::object(), "<" + arch + ">");
    const SwinSize s = *swin_named_size(sm[1]);
    c.embed_dim = s.dim;
    c.depths = s.depths;
    c.stage_heads = s.heads;
    c.patch_size = std::stoi(sm[2]);
    c.img_size = std::stoi(sm[4]);
    c.mlp_ratio = 4.0;
    int depth = 0;
    for (int d : s.depths) depth += d;
    c.depth = depth;
    c.num_classes = 1000;
    c.preprocess.height = c.preprocess.width = *c.img_size;
    c.preprocess.crop_pct = *c.img_size == 224 ? 0.9f : 1.0f;
    return c;
  }
  static const std::regex re(R"(^(vit|deit)_(tiny|small|base|large|huge)(_distilled)?_patch(\d+)_(\d+)$)");
  std::smatch m;
  if (!std::regex_match(arch, m, re))
    throw Error(ErrorCode::InvalidArgument, "unknown architecture '" + arch +
                                                "' (expected e.g. vit_tiny_patch16_224, vit_base_patch32_384)");
  ModelConfig c;
  c.architecture = arch;
  const std::string size = m[2];
  const int dims[] = {192, 384, 768, 1024, 1280};
  const int depths[] = {12, 12, 12, 24, 32};
  const char* sizes[] = {"tiny", "small", "base", "large", "huge"};
  for (int i = 0; i < 5; ++i)
    if (size == sizes[i]) {
      c.embed_dim = dims[i];
      c.depth = depths[i];
    }
  c.num_heads = heads_from_architecture(arch);
  c.distilled = m[3].matched;
  c.patch_size = std::stoi(m[4]);
  c.img_size = std::stoi(m[5]);
  c.num_classes = 1000;
  c.preprocess.height = c.preprocess.width = *c.img_size;
  if (m[1] == "vit") {
    c.preprocess.mean = {0.5f, 0.5f, 0.5f};
    c.preprocess.std = {0.5f, 0.5f, 0.5f};
    c.preprocess.crop_pct = 0.9f;
  }
  return c;
}

std::string model_config_to_json(const ModelConfig& c) {
  // What the config leaves to the tensors stays out (BEiT's heads of an unnamed size, Swin's depths in a hub
  // config): written as 0 or [], they would not parse back (fuzz_config found it).
  json args = {{"global_pool", c.global_pool}};
  if (c.family == ModelFamily::Swin) {
    if (!c.depths.empty()) args["depths"] = c.depths;
    if (!c.stage_heads.empty()) args["num_heads"] = c.stage_heads;
    args["window_size"] = c.window_size;
  } else if (c.family != ModelFamily::GFNet) {
    if (c.num_heads > 0) args["num_heads"] = c.num_heads;
    args["class_token"] = c.class_token;
  }
  if (c.mlp_ratio) args["mlp_ratio"] = *c.mlp_ratio;
  if (c.img_size) args["img_size"] = *c.img_size;
  if (c.patch_size) args["patch_size"] = *c.patch_size;
  if (c.embed_dim) args["embed_dim"] = *c.embed_dim;
  if (c.depth && c.family != ModelFamily::Swin) args["depth"] = *c.depth;
  if (c.family != ModelFamily::Swin) args["layer_norm_eps"] = c.ln_eps;
  const auto& p = c.preprocess;
  json j = {{"architecture", c.architecture},
            {"model_args", args},
            {"pretrained_cfg",
             {{"input_size", {p.channels, p.height, p.width}},
              {"mean", p.mean},
              {"std", p.std},
              {"crop_pct", p.crop_pct},
              {"interpolation", p.interpolation},
              {"crop_mode", p.crop_mode}}}};
  if (c.num_classes) j["num_classes"] = *c.num_classes;
  if (!c.labels.empty()) j["label_names"] = c.labels;
  return j.dump(2);
}

}  // namespace vitvk
