// Swin Transformer v1 from timm's state_dict layout (swin_transformer.py; hub checkpoints): widths, depths,
// heads and MLP widths from the tensors, the window from model_args or the name, and per stage the window and
// shift timm's blocks run with at this input size (_calc_window_shift), checked against the bias tables.
#include <algorithm>
#include <cmath>
#include <string>

#include "model/binder.hpp"
#include "model/quantize.hpp"

namespace vitvk {
namespace {

std::string dims_str(int h, int w) { return std::to_string(h) + "x" + std::to_string(w); }

// timm's window and shift for one side of a stage: its blocks are built for input_resolution = grid >> stage
// (the floor: SwinTransformerStage's output_resolution halves with //), the window clipped to it where it is no
// larger, and then no shift.
void window_and_shift(int res, int window, int& w, int& shift) {
  w = std::min(res, window);
  shift = res <= w ? 0 : window / 2;
}

}  // namespace

void place_swin_stage(SwinStageDims& sd, int stage, int grid_h, int grid_w, int window) {
  sd.height = grid_h;
  sd.width = grid_w;
  for (int s = 0; s < stage; ++s) {  // patch merging pads odd sizes
    sd.height = (sd.height + 1) / 2;
    sd.width = (sd.width + 1) / 2;
  }
  window_and_shift(std::max(grid_h >> stage, 1), window, sd.window_h, sd.shift_h);
  window_and_shift(std::max(grid_w >> stage, 1), window, sd.window_w, sd.shift_w);
}

Model swin_from_tensors(const ModelConfig& config, const SafeTensors& st, std::optional<int> img_size) {
  Binder b(st);
  Model m;
  m.config = config;
  if (img_size) {
    if (*img_size < 1 || *img_size > 16384)
      throw Error(ErrorCode::InvalidArgument, st.source() + ": img_size " + std::to_string(*img_size) + " is out of range");
    m.config.preprocess.height = m.config.preprocess.width = *img_size;
    m.config.img_size = *img_size;
  }
  ModelDims& d = m.dims;
  d.family = ModelFamily::Swin;
  bind_patch_dims(b, m.config, d);
  d.prefix = 0;
  d.class_token = false;
  d.pool = "avg";
  d.window = config.window_size;
  const int E = d.dim;
  if (b.has("head.weight") && !b.has("head.fc.weight"))
    b.fail("'head.weight' without 'head.fc.weight': the original Microsoft layout (head, downsample at the end of "
           "each stage); convert it with timm's checkpoint_filter_fn (the hub layout is supported)");
  for (const auto& t : st.tensors()) {
    if (t.dtype == DType::I8)
      b.fail("tensor '" + t.name + "' is I8: int8 checkpoints are supported for " + kInt8Families + " only");
    // Buffers timm recomputes (its checkpoint_filter_fn drops them): accepted and ignored.
    if (t.name.ends_with("relative_position_index") || t.name.ends_with("attn_mask")) (void)b.get(t.name);
  }

  SwinWeights& w = m.swin;
  w.patch_embed.out = E;
  w.patch_embed.in = d.channels * d.patch * d.patch;
  w.patch_embed.weight = b.take("patch_embed.proj.weight", {E, d.channels, d.patch, d.patch});
  w.patch_embed.bias = b.has("patch_embed.proj.bias") ? b.take("patch_embed.proj.bias", {E}) : std::vector<float>(std::size_t(E), 0.f);
  w.patch_norm = b.norm("patch_embed.norm", E);

  int stages = 0;
  while (b.has("layers." + std::to_string(stages) + ".blocks.0.norm1.weight")) ++stages;
  if (stages == 0) b.fail("missing tensor 'layers.0.blocks.0.norm1.weight' (no Swin stages)");
  if (!config.depths.empty() && int(config.depths.size()) != stages)
    b.fail("model_args.depths has " + std::to_string(config.depths.size()) + " stages but the file has " +
           std::to_string(stages) + " (layers.0 .. layers." + std::to_string(stages - 1) + ")");
  if (!config.stage_heads.empty() && int(config.stage_heads.size()) != stages)
    b.fail("model_args.num_heads has " + std::to_string(config.stage_heads.size()) + " stages but the file has " +
           std::to_string(stages));

  // The feature map each stage's blocks see (patch merging pads odd sizes), and the size timm decides windows by.
  int prev = E, total_depth = 0;
  const int checkpoint_h = config.preprocess.height / d.patch, checkpoint_w = config.preprocess.width / d.patch;
  for (int s = 0; s < stages; ++s) {
    const std::string p = "layers." + std::to_string(s) + ".";
    SwinStageDims sd;
    SwinStageWeights sw;
    if (s > 0) {
      const TensorView& r = b.get(p + "downsample.reduction.weight");
      if (r.shape.size() != 2 || r.shape[1] != 4 * prev || r.shape[0] < 1)
        b.fail("tensor '" + p + "downsample.reduction.weight' has shape " + shape_str(r.shape) + ", expected [dim, " +
               std::to_string(4 * prev) + "] (the 2x2 patch merging of stage " + std::to_string(s - 1) + "'s " +
               std::to_string(prev) + " channels)");
      sd.dim = as_int(r.shape[0]);
      sw.merge_norm = b.norm(p + "downsample.norm", 4 * prev);
      sw.merge_reduction = b.linear_weight(p + "downsample.reduction", sd.dim, 4 * prev);
      sw.merge_reduction.bias.assign(std::size_t(sd.dim), 0.f);
    } else {
      sd.dim = E;
    }
    const int C = sd.dim;
    while (b.has(p + "blocks." + std::to_string(sd.depth) + ".norm1.weight")) ++sd.depth;
    if (!config.depths.empty() && config.depths[s] != sd.depth)
      b.fail("model_args.depths[" + std::to_string(s) + "] = " + std::to_string(config.depths[s]) + " but the file has " +
             std::to_string(sd.depth) + " blocks in stage " + std::to_string(s) + " (" + p + "blocks.*)");

    // Window and shift as timm's blocks decide them: from the floor-halved resolution (which patch merging's
    // padding can exceed by one; the padding to whole windows then covers it).
    const int res_h = d.grid_h >> s, res_w = d.grid_w >> s;
    if (res_h < 1 || res_w < 1)
      throw Error(ErrorCode::Unsupported, st.source() + ": the " + dims_str(d.img_h, d.img_w) + " input is too small for " +
                                              std::to_string(stages) + " stages (timm halves the " +
                                              dims_str(d.grid_h, d.grid_w) + " patch grid to nothing)");
    place_swin_stage(sd, s, d.grid_h, d.grid_w, config.window_size);
    const int fh = sd.height, fw = sd.width;
    // timm computes the shift mask on the padded floor-size map: where that has fewer windows than the real map,
    // timm itself fails (or misreads the mask), so there is no reference to follow.
    if (sd.shifted() && ((res_h + sd.window_h - 1) / sd.window_h != (fh + sd.window_h - 1) / sd.window_h ||
                         (res_w + sd.window_w - 1) / sd.window_w != (fw + sd.window_w - 1) / sd.window_w))
      throw Error(ErrorCode::Unsupported, st.source() + ": at " + dims_str(d.img_h, d.img_w) + " stage " + std::to_string(s) +
                                              "'s feature map is " + dims_str(fh, fw) + " but timm builds its shift mask for " +
                                              dims_str(res_h, res_w) + " (fewer windows): timm cannot run this size either");

    // Heads from the bias table; its rows must fit the window (clipped windows have smaller tables).
    const long rows = long(2 * sd.window_h - 1) * (2 * sd.window_w - 1);
    for (int i = 0; i < sd.depth; ++i) {
      const std::string bp = p + "blocks." + std::to_string(i) + ".";
      const std::string tn = bp + "attn.relative_position_bias_table";
      const TensorView& t = b.get(tn);
      if (t.shape.size() != 2 || t.shape[1] < 1) b.fail("tensor '" + tn + "' has shape " + shape_str(t.shape) + ", expected [positions, heads]");
      if (i == 0) sd.heads = as_int(t.shape[1]);
      if (t.shape[1] != sd.heads)
        b.fail("tensor '" + tn + "' has " + std::to_string(t.shape[1]) + " heads but block 0 of stage " +
               std::to_string(s) + " has " + std::to_string(sd.heads));
      if (t.shape[0] != rows) {
        // A table made for the window at the checkpoint's own input size: timm would resample it
        // (resize_rel_pos_bias_table, whose result depends on whether scipy is installed).
        int cw_h = 0, cw_w = 0, unused = 0;
        window_and_shift(std::max(checkpoint_h >> s, 1), config.window_size, cw_h, unused);
        window_and_shift(std::max(checkpoint_w >> s, 1), config.window_size, cw_w, unused);
        if (img_size && t.shape[0] == long(2 * cw_h - 1) * (2 * cw_w - 1))
          throw Error(ErrorCode::Unsupported,
                      st.source() + ": at " + dims_str(d.img_h, d.img_w) + " stage " + std::to_string(s) + "'s window is " +
                          dims_str(sd.window_h, sd.window_w) + " (clipped to its " + dims_str(res_h, res_w) +
                          " feature map) but '" + tn + "' is for the checkpoint's " + dims_str(cw_h, cw_w) +
                          " window: resampling bias tables is not supported (choose a size whose stages are at "
                          "least the window, or the checkpoint's)");
        b.fail("tensor '" + tn + "' has " + std::to_string(t.shape[0]) + " rows, expected (2*" +
               std::to_string(sd.window_h) + "-1) x (2*" + std::to_string(sd.window_w) + "-1) = " + std::to_string(rows) +
               " for stage " + std::to_string(s) + "'s " + dims_str(sd.window_h, sd.window_w) + " window");
      }
    }
    if (!config.stage_heads.empty() && config.stage_heads[s] != sd.heads)
      b.fail("model_args.num_heads[" + std::to_string(s) + "] = " + std::to_string(config.stage_heads[s]) +
             " but stage " + std::to_string(s) + "'s relative_position_bias_table has " + std::to_string(sd.heads) + " heads");
    const TensorView& qkv = b.get(p + "blocks.0.attn.qkv.weight");
    if (qkv.shape.size() != 2 || qkv.shape[1] != C || qkv.shape[0] < 3 || qkv.shape[0] % (3 * sd.heads))
      b.fail("tensor '" + p + "blocks.0.attn.qkv.weight' has shape " + shape_str(qkv.shape) + ", expected [3 * " +
             std::to_string(sd.heads) + " heads * head_dim, " + std::to_string(C) + "]");
    sd.head_dim = as_int(qkv.shape[0] / (3 * sd.heads));
    const int A = sd.heads * sd.head_dim;
    const TensorView& fc1 = b.get(p + "blocks.0.mlp.fc1.weight");
    if (fc1.shape.size() != 2 || fc1.shape[0] < 1) b.fail("tensor '" + p + "blocks.0.mlp.fc1.weight' has shape " + shape_str(fc1.shape));
    sd.mlp_hidden = as_int(fc1.shape[0]);
    if (config.mlp_ratio && std::abs(*config.mlp_ratio * C - sd.mlp_hidden) >= 1.0)
      b.fail("model_args.mlp_ratio = " + std::to_string(*config.mlp_ratio) + " but " + p + "blocks.0.mlp.fc1.weight has " +
             std::to_string(sd.mlp_hidden) + " rows for dim " + std::to_string(C));
    for (int i = 0; i < sd.depth; ++i) {
      const std::string bp = p + "blocks." + std::to_string(i) + ".";
      SwinBlockWeights blk;
      blk.norm1 = b.norm(bp + "norm1", C);
      blk.qkv = linear_opt_bias(b, bp + "attn.qkv", 3 * A, C);
      blk.rel_pos_table = b.take(bp + "attn.relative_position_bias_table", {rows, sd.heads});
      blk.proj = b.linear(bp + "attn.proj", C, A);
      blk.norm2 = b.norm(bp + "norm2", C);
      blk.fc1 = b.linear(bp + "mlp.fc1", sd.mlp_hidden, C);
      blk.fc2 = b.linear(bp + "mlp.fc2", C, sd.mlp_hidden);
      sw.blocks.push_back(std::move(blk));
    }
    total_depth += sd.depth;
    prev = C;
    d.stages.push_back(sd);
    w.stages.push_back(std::move(sw));
  }
  if (config.depth && *config.depth != total_depth)
    b.fail("model_args.depth = " + std::to_string(*config.depth) + " but the file has " + std::to_string(total_depth) + " blocks");

  const SwinStageDims& last = d.stages.back();
  d.dim = last.dim;
  d.depth = total_depth;
  d.heads = last.heads;
  d.head_dim = last.head_dim;
  d.mlp_hidden = last.mlp_hidden;
  d.tokens = last.height * last.width;
  w.norm = b.norm("norm", d.dim);
  if (b.has("head.fc.weight")) {
    const TensorView& hw = b.get("head.fc.weight");
    if (hw.shape.size() != 2 || hw.shape[0] <= 0) b.fail("tensor 'head.fc.weight' has shape " + shape_str(hw.shape) + ", expected [classes, dim]");
    d.num_classes = as_int(hw.shape[0]);
    w.head = b.linear("head.fc", d.num_classes, d.dim);
  }
  if (config.num_classes && *config.num_classes != d.num_classes)
    b.fail("num_classes = " + std::to_string(*config.num_classes) + " but the file has " +
           (d.num_classes ? "a head.fc.weight of " + std::to_string(d.num_classes) + " rows" : std::string("no head.fc.weight")));
  if (!config.labels.empty() && static_cast<int>(config.labels.size()) != d.num_classes)
    b.fail("label_names has " + std::to_string(config.labels.size()) + " entries but the model has " +
           std::to_string(d.num_classes) + " classes");
  b.check_all_used();
  fill_labels(m);
  return m;
}

}  // namespace vitvk
