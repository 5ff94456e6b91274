// `vitvk info --model DIR`: what a checkpoint is, as loaded and checked.
#include <fmt/core.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "cli/commands.hpp"
#include "model/labels.hpp"
#include "model/model.hpp"
#include "model/quantize.hpp"
#include "model/resolve.hpp"

namespace vitvk::cli {
namespace {

// How the weights are stored: the file's size and, for a `vitvk quantize` copy, its int8 layers and scales.
std::string weights_line(const Model& m) {
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(m.dir / "model.safetensors", ec);
  const std::string size = ec ? std::string() : fmt::format("{:.1f} MiB on disk; ", bytes / 1048576.0);
  if (!has_int8_weights(m))
    return size + (m.dims.family == ModelFamily::ViT ? "float (--precision int8 quantizes at load)" : "float");
  int int8 = 0, all = 0;
  for_each_int8_linear(m, [&](const LinearWeights& l) {
    ++all;
    if (l.quantized()) ++int8;
  });
  const int group = int8_weights_group(m);
  return fmt::format("{}int8: {} the blocks' {} linear layers (qkv, proj, fc1, fc2), a scale per channel{}; the "
                     "rest float (--precision auto runs int8)",
                     size, int8 == all ? std::string("all") : fmt::format("{} of", int8), all,
                     group ? fmt::format(" and {} inputs", group) : std::string());
}

}  // namespace

void add_info_command(CLI::App& app, Registry& reg) {
  auto* sub = app.add_subcommand("info", "Load a model directory and print its architecture and preprocessing");
  auto dir = std::make_shared<std::string>();
  auto img_size = std::make_shared<std::optional<int>>();
  sub->add_option("-m,--model", *dir,
                  std::string("Model directory or name, as for classify (default ") + kDefaultModelName + ")");
  sub->add_option("--img-size", *img_size, "Input size in pixels (position embeddings resampled; default: the model's)")
      ->check(CLI::PositiveNumber);
  reg.add(sub, [dir, img_size] {
    const Model m = Model::load(resolve_model(dir->empty() ? kDefaultModelName : *dir), *img_size);
    const ModelDims& d = m.dims;
    const PreprocessConfig& p = m.config.preprocess;
    fmt::print("model         {}\n", m.dir.string());
    fmt::print("architecture  {}\n", m.config.architecture);
    fmt::print("input         {}x{}x{}, patch {} -> {}x{} grid, {} tokens ({} prefix)\n", d.channels, d.img_h, d.img_w,
               d.patch, d.grid_h, d.grid_w, d.tokens, d.prefix);
    if (d.family == ModelFamily::GFNet)
      fmt::print("gfnet         dim {}, depth {}, global filter {}x{} per channel, mlp {}, mean-pooled head\n", d.dim,
                 d.depth, d.grid_h, d.grid_w / 2 + 1, d.mlp_hidden);
    else
    {
      const ViTWeights& w = m.weights;
      fmt::print("transformer   dim {}, depth {}, heads {} (head dim {}), mlp {} ({}), layer norm eps {:g}\n", d.dim,
                 d.depth, d.heads, d.head_dim, d.mlp_hidden,
                 d.family == ModelFamily::Eva           ? "swiglu"
                 : d.act == MlpActivation::QuickGelu    ? "quick_gelu"
                 : d.act == MlpActivation::GeluTanh     ? "gelu_tanh"
                                                        : "gelu",
                 d.ln_eps);
      fmt::print("tokens        class {}, registers {}, distillation {}, pos_embed over {}\n", d.class_token ? 1 : 0,
                 d.reg_tokens, w.dist_token.empty() ? 0 : 1, d.pos_rows == d.tokens ? "all tokens" : "the patches");
      if (d.family == ModelFamily::Eva)
        fmt::print("eva-02        SwiGLU norm {}, rotary embedding {}\n",
                   w.blocks[0].mlp_norm.weight.empty() ? "no" : "yes (scale_mlp)",
                   w.rope_sin.empty() ? std::string("off")
                                      : fmt::format("on ({}x{} grid scaled to {}x{})", d.grid_h, d.grid_w,
                                                    m.config.eva.ref_h, m.config.eva.ref_w));
      fmt::print("switches      pre-norm {}, layer scale {}, qk-norm {}, qkv bias {}, pool {}{}\n",
                 w.norm_pre.weight.empty() ? "no" : "yes", w.blocks[0].ls1.empty() ? "no" : "yes",
                 w.blocks[0].q_norm.weight.empty() ? "no" : "yes", w.has_qkv_bias ? "yes" : "no", d.pool,
                 w.fc_norm.weight.empty() ? "" : " + fc_norm");
    }
    fmt::print("classes       {}\n", d.num_classes);
    const std::string tag = pretrained_tag(m.dir);
    const LabelSet labels = choose_label_set(m.config.labels, d.num_classes, tag);
    if (labels.source == "config.json")
      fmt::print("labels        config.json label_names\n");
    else if (labels.source == "none")
      fmt::print("labels        none known for {} classes{}: \"class N\"\n", d.num_classes,
                 tag.empty() ? std::string() : " and tag '" + tag + "'");
    else
      fmt::print("labels        {} (built in; {} classes{})\n", labels.source, d.num_classes,
                 tag.empty() ? std::string() : ", tag '" + tag + "'");
    fmt::print("preprocess    resize {} crop_pct {:.4g}, mean [{:.4g}, {:.4g}, {:.4g}], std [{:.4g}, {:.4g}, {:.4g}]\n",
               p.interpolation, p.crop_pct, p.mean[0], p.mean[1], p.mean[2], p.std[0], p.std[1], p.std[2]);
    fmt::print("weights       {}\n", weights_line(m));
    fmt::print("compute       {:.3f} GFLOP per image\n", d.flops_per_image() / 1e9);
    return 0;
  });
}

}  // namespace vitvk::cli
