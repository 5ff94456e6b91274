// `vitvk info --model DIR`: what a checkpoint is, as loaded and checked.
#include <fmt/core.h>

#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "model/labels.hpp"
#include "model/model.hpp"
#include "model/resolve.hpp"

namespace vitvk::cli {

void add_info_command(CLI::App& app, Registry& reg) {
  auto* sub = app.add_subcommand("info", "Load a model directory and print its architecture and preprocessing");
  auto dir = std::make_shared<std::string>();
  sub->add_option("-m,--model", *dir,
                  std::string("Model directory or name, as for classify (default ") + kDefaultModelName + ")");
  reg.add(sub, [dir] {
    const Model m = Model::load(resolve_model(dir->empty() ? kDefaultModelName : *dir));
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
      fmt::print("transformer   dim {}, depth {}, heads {} (head dim {}), mlp {}\n", d.dim, d.depth, d.heads, d.head_dim,
                 d.mlp_hidden);
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
    fmt::print("compute       {:.3f} GFLOP per image\n", d.flops_per_image() / 1e9);
    return 0;
  });
}

}  // namespace vitvk::cli
