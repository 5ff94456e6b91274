// EVA-02 (timm's Eva as the eva02_* names register it) from timm's state_dict names. The block is a ViT block
// with three changes, each read off the tensors:
//   attention: one fused attn.qkv.weight with attn.q_bias and attn.v_bias (no k bias: timm keeps a zero buffer),
//     or attn.q_proj / attn.k_proj (no bias) / attn.v_proj; either way fused here into one qkv linear with a zero
//     k bias, so that the attention op runs unchanged. A 2-D rotary embedding turns q and k of the patch tokens
//     (ops/rope.hpp) besides the absolute pos_embed; its tables come from the grid (model/rope_tables.hpp), not the file.
//   MLP: SwiGLU, packed (GluMlp: mlp.fc1 [2h, D], gate rows first) or split (SwiGLU: mlp.fc1_g, mlp.fc1_x, and with
//     scale_mlp mlp.norm over h); the split form is stacked into the packed one at load.
//   layer scale: gamma_1 / gamma_2 (EVA's names for ViT's ls1 / ls2), folded into proj / fc2 by the builder.
// Tokens, pos_embed (resampled to another input size as timm does) and the pooling (avg with fc_norm, or token
// with the final norm) follow the ViT loader's rules.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/binder.hpp"
#include "model/rope_tables.hpp"

namespace vitvk {
namespace {

std::string yes_no(bool b) { return b ? "true" : "false"; }

// Linears over the same input stacked by rows (q; k; v or gate; value), all fp32 or all int8 with their per-row
// scales (which stack with them). Absent biases were loaded as zeros.
LinearWeights stack_rows(Binder& b, const std::string& what, const std::vector<const LinearWeights*>& parts) {
  LinearWeights out;
  out.in = parts.front()->in;
  const bool q = parts.front()->quantized();
  out.qgroup = parts.front()->qgroup;
  for (const LinearWeights* p : parts) {
    if (p->quantized() != q) b.fail(what + " mixes int8 and floating-point weights");
    if (p->qgroup != out.qgroup) b.fail(what + " mixes int8 scale groups");
    out.out += p->out;
    out.weight.insert(out.weight.end(), p->weight.begin(), p->weight.end());
    out.qweight.insert(out.qweight.end(), p->qweight.begin(), p->qweight.end());
    out.qscale.insert(out.qscale.end(), p->qscale.begin(), p->qscale.end());
    out.bias.insert(out.bias.end(), p->bias.begin(), p->bias.end());
  }
  return out;
}

std::vector<float> zeros(int n) { return std::vector<float>(static_cast<std::size_t>(n), 0.f); }

RopeGrid rope_grid(const ModelConfig& c, int grid_h, int grid_w) {
  return {grid_h, grid_w, c.eva.ref_h, c.eva.ref_w, c.eva.rope_temperature, c.eva.rope_grid_offset,
          c.eva.rope_rotate_half};
}

// timm keeps the rope's tables out of its state_dict (a non-persistent buffer; its checkpoint filter drops any
// 'rope' key), so the tables are derived from the grid. A file that does carry them (rope.pos_embed, [patches,
// 2 head_dim]: sines then cosines) must hold the tables of its own grid, or it was made for another model.
void check_rope_tensor(Binder& b, const ModelConfig& c, const ModelDims& d, int ckpt_h, int ckpt_w) {
  const std::string name = "rope.pos_embed";
  const TensorView& t = b.get(name);
  const int64_t N = int64_t(ckpt_h) * ckpt_w;
  if (t.shape.size() != 2 || t.shape[1] != 2 * d.head_dim)
    b.fail("tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected [patches, " +
           std::to_string(2 * d.head_dim) + "] (the sines and cosines of " + std::to_string(d.head_dim) + "-wide heads)");
  if (t.shape[0] != N)
    b.fail("tensor '" + name + "' has " + std::to_string(t.shape[0]) + " rows, but the checkpoint's patch grid is " +
           std::to_string(ckpt_h) + "x" + std::to_string(ckpt_w) + " (" + std::to_string(N) +
           " patches): its rope grid does not match the patch grid");
  const std::vector<float> v = b.take(name, t.shape);
  const RopeTables want = rope_tables_2d(rope_grid(c, ckpt_h, ckpt_w), d.head_dim);
  double worst = 0;
  for (int64_t r = 0; r < N; ++r)
    for (int e = 0; e < d.head_dim; ++e) {
      const std::size_t at = static_cast<std::size_t>(r) * d.head_dim + e;
      worst = std::max({worst, std::abs(double(v[r * 2 * d.head_dim + e]) - want.sin[at]),
                        std::abs(double(v[r * 2 * d.head_dim + d.head_dim + e]) - want.cos[at])});
    }
  if (!(worst <= 1e-4))
    b.fail("tensor '" + name + "' is not the rotary table of the " + std::to_string(ckpt_h) + "x" +
           std::to_string(ckpt_w) + " grid with ref_feat_shape (" + std::to_string(c.eva.ref_h) + ", " +
           std::to_string(c.eva.ref_w) + ") and temperature " + std::to_string(c.eva.rope_temperature) +
           " (max |diff| " + std::to_string(worst) + ")");
}

}  // namespace

Model eva_from_tensors(const ModelConfig& config, const SafeTensors& st, std::optional<int> img_size) {
  Binder b(st);
  Model m;
  m.config = config;
  if (img_size) {
    if (*img_size < 1 || *img_size > 16384)
      throw Error(ErrorCode::InvalidArgument, st.source() + ": img_size " + std::to_string(*img_size) + " is out of range");
    m.config.preprocess.height = m.config.preprocess.width = *img_size;
    m.config.img_size = *img_size;
  }
  const ModelConfig& c = m.config;
  ModelDims& d = m.dims;
  d.family = ModelFamily::Eva;
  bind_patch_dims(b, c, d);
  const int D = d.dim;

  // Prefix tokens: class token and registers (no distillation token in EVA).
  d.class_token = b.has("cls_token");
  if (c.class_token_arg && *c.class_token_arg != d.class_token)
    b.fail("model_args.class_token = " + yes_no(*c.class_token_arg) + " but the file " +
           (d.class_token ? "has" : "has no") + " 'cls_token'");
  if (b.has("reg_token")) {
    const TensorView& r = b.get("reg_token");
    if (r.shape.size() != 3 || r.shape[0] != 1 || r.shape[1] < 1 || r.shape[1] > 1024 || r.shape[2] != D)
      b.fail("tensor 'reg_token' has shape " + shape_str(r.shape) + ", expected [1, registers, " + std::to_string(D) + "]");
    d.reg_tokens = as_int(r.shape[1]);
  }
  if (c.reg_tokens && *c.reg_tokens != d.reg_tokens)
    b.fail("model_args.num_reg_tokens = " + std::to_string(*c.reg_tokens) + " but the file has " +
           std::to_string(d.reg_tokens) + " register tokens");
  d.prefix = (d.class_token ? 1 : 0) + d.reg_tokens;
  d.tokens = d.prefix + d.num_patches;
  d.pool = c.global_pool;
  if (d.pool == "token" && !d.class_token) b.fail("global_pool 'token' needs a class token, and the file has no 'cls_token'");

  d.heads = c.num_heads;
  if (D % d.heads) b.fail("embed dim " + std::to_string(D) + " is not divisible by " + std::to_string(d.heads) + " heads");
  d.head_dim = D / d.heads;
  if (c.eva.rope && d.head_dim % 4)
    b.fail("head_dim " + std::to_string(d.head_dim) + " (" + std::to_string(D) + " / " + std::to_string(d.heads) +
           " heads) is not a multiple of 4, which the 2-D rotary embedding needs (a sine and a cosine per axis)");
  const int depth = d.depth = count_blocks(b, c);

  // The layout, from block 0 (every block must agree): qkv fused or apart, the MLP packed or split, its norm.
  const bool fused = b.has("blocks.0.attn.qkv.weight");
  if (!fused && !b.has("blocks.0.attn.q_proj.weight"))
    b.fail("missing tensor 'blocks.0.attn.qkv.weight' (or the separate 'blocks.0.attn.q_proj.weight')");
  if (c.eva.qkv_fused && *c.eva.qkv_fused != fused)
    b.fail("model_args.qkv_fused = " + yes_no(*c.eva.qkv_fused) + " but the file has " +
           (fused ? "a fused attn.qkv" : "separate attn.q_proj / k_proj / v_proj"));
  const bool qkv_bias = fused ? b.has("blocks.0.attn.q_bias") || b.has("blocks.0.attn.v_bias")
                              : b.has("blocks.0.attn.q_proj.bias") || b.has("blocks.0.attn.v_proj.bias");
  if (c.eva.qkv_bias && *c.eva.qkv_bias != qkv_bias)
    b.fail("model_args.qkv_bias = " + yes_no(*c.eva.qkv_bias) + " but the file " + (qkv_bias ? "has" : "has no") +
           " q/v biases");
  const bool packed = b.has("blocks.0.mlp.fc1.weight");
  if (!packed && !b.has("blocks.0.mlp.fc1_g.weight"))
    b.fail("missing tensor 'blocks.0.mlp.fc1.weight' (or the SwiGLU's 'blocks.0.mlp.fc1_g.weight')");
  const bool mlp_norm = b.has("blocks.0.mlp.norm.weight");
  if (c.eva.scale_mlp && *c.eva.scale_mlp != mlp_norm)
    b.fail("model_args.scale_mlp = " + yes_no(*c.eva.scale_mlp) + " but the file " + (mlp_norm ? "has" : "has no") +
           " 'blocks.0.mlp.norm.weight'");
  {
    const TensorView& fc2 = b.get("blocks.0.mlp.fc2.weight");
    if (fc2.shape.size() != 2 || fc2.shape[0] != D || fc2.shape[1] < 1)
      b.fail("tensor 'blocks.0.mlp.fc2.weight' has shape " + shape_str(fc2.shape) + ", expected [" + std::to_string(D) + ", hidden]");
    d.mlp_hidden = as_int(fc2.shape[1]);
  }
  const int H = d.mlp_hidden;
  if (packed) {  // GluMlp: fc1 makes the gate and the value, fc2 reads their product
    const TensorView& fc1 = b.get("blocks.0.mlp.fc1.weight");
    if (fc1.shape.size() != 2 || fc1.shape[0] != 2 * int64_t(H))
      b.fail("tensor 'blocks.0.mlp.fc1.weight' has shape " + shape_str(fc1.shape) + ", expected [" +
             std::to_string(2 * H) + ", " + std::to_string(D) + "]: a SwiGLU's fc1 is twice as wide as fc2's input (" +
             std::to_string(H) + "), gate and value");
  }
  if (c.mlp_ratio && std::abs(*c.mlp_ratio * D - H) >= 1.0)
    b.fail("model_args.mlp_ratio = " + std::to_string(*c.mlp_ratio) + " but blocks.0.mlp.fc2.weight reads " +
           std::to_string(H) + " hidden units for dim " + std::to_string(D));

  // The classifier: absent in the MIM-pretrained checkpoints (num_classes 0).
  if (b.has("head.weight")) {
    const TensorView& hw = b.get("head.weight");
    if (hw.shape.size() != 2 || hw.shape[0] <= 0) b.fail("tensor 'head.weight' has shape " + shape_str(hw.shape) + ", expected [classes, dim]");
    d.num_classes = as_int(hw.shape[0]);
  }
  if (c.num_classes && *c.num_classes != d.num_classes)
    b.fail("num_classes = " + std::to_string(*c.num_classes) + " but the file has " +
           (d.num_classes ? "a head.weight of " + std::to_string(d.num_classes) + " rows" : std::string("no head.weight")));
  if (!c.labels.empty() && static_cast<int>(c.labels.size()) != d.num_classes)
    b.fail("label_names has " + std::to_string(c.labels.size()) + " entries but the model has " + std::to_string(d.num_classes) + " classes");

  ViTWeights& w = m.weights;
  w.patch_embed.out = D;
  w.patch_embed.in = d.channels * d.patch * d.patch;
  w.patch_embed.weight = b.take("patch_embed.proj.weight", {D, d.channels, d.patch, d.patch});
  w.patch_embed.bias = b.take("patch_embed.proj.bias", {D});
  if (d.class_token) w.cls_token = b.take("cls_token", {1, 1, D});
  if (d.reg_tokens) w.reg_token = b.take("reg_token", {1, d.reg_tokens, D});

  // pos_embed: over all tokens or the patches only (no_embed_class); the input's grid, or a square one of the
  // checkpoint's that is resampled to the input's as timm's checkpoint filter does.
  int pos_grid = 0;
  {
    const TensorView& pe = b.get("pos_embed");
    const int N = d.num_patches, P = d.prefix;
    if (pe.shape.size() != 3 || pe.shape[0] != 1 || pe.shape[2] != D || pe.shape[1] < 1)
      b.fail("tensor 'pos_embed' has shape " + shape_str(pe.shape) + ", expected [1, tokens, " + std::to_string(D) + "]");
    const int64_t L = pe.shape[1];
    auto square_side = [](int64_t n) {
      if (n < 1) return 0;
      const auto s = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
      return s * s == n ? static_cast<int>(s) : 0;
    };
    const bool prefix_may = P > 0 && !c.no_embed_class.value_or(false);  // pos_embed may cover the prefix
    const bool patches_may = !(P > 0 && c.no_embed_class == false);     // it may cover the patches alone
    if (prefix_may && L == N + P) {
    } else if (patches_may && L == N) {
    } else if (prefix_may && square_side(L - P)) {
      pos_grid = square_side(L - P);
    } else if (patches_may && square_side(L)) {
      pos_grid = square_side(L);
    } else {
      b.fail("tensor 'pos_embed' has " + std::to_string(L) + " rows, which fit no grid: neither the " + std::to_string(N) +
             " patches of the " + std::to_string(d.grid_h) + "x" + std::to_string(d.grid_w) +
             " input grid nor a square grid, alone or after the " + std::to_string(P) + " prefix tokens");
    }
    d.pos_rows = static_cast<int>(L);
    w.pos_embed = b.take("pos_embed", {1, L, D});
    if (pos_grid == d.grid_h && pos_grid == d.grid_w) pos_grid = 0;
  }

  const bool ls = b.has("blocks.0.gamma_1");
  for (int i = 0; i < depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    // Per-block switches hold for every block: a partial one is a malformed checkpoint, not a variant.
    auto same = [&](bool here, bool first, const std::string& what) {
      if (here != first)
        b.fail(what + " on some blocks only: block " + std::to_string(i) + (first ? " lacks it" : " has it but block 0 does not"));
    };
    same(b.has(p + "gamma_1") || b.has(p + "gamma_2"), ls, "layer scale (gamma_1 / gamma_2)");
    same(b.has(p + "attn.qkv.weight"), fused, "a fused attn.qkv");
    same(b.has(p + "mlp.fc1.weight"), packed, "a packed SwiGLU fc1 (mlp.fc1)");
    same(b.has(p + "mlp.norm.weight"), mlp_norm, "the SwiGLU's norm (mlp.norm, scale_mlp)");
    BlockWeights blk;
    blk.norm1 = b.norm(p + "norm1", D);
    // q, k, v into one linear, [q; k; v] rows, bias [q_bias; 0; v_bias]: timm's k bias is a zero buffer.
    const std::string q_b = fused ? p + "attn.q_bias" : p + "attn.q_proj.bias";
    const std::string v_b = fused ? p + "attn.v_bias" : p + "attn.v_proj.bias";
    if (b.has(q_b) != qkv_bias || b.has(v_b) != qkv_bias)
      b.fail(qkv_bias ? "missing tensor '" + (b.has(q_b) ? v_b : q_b) + "' (the q and v biases come as a pair" +
                            (i ? ", as in block 0)" : ")")
                      : "tensor '" + (b.has(q_b) ? q_b : v_b) + "' where block 0 has no q/v biases");
    const std::vector<float> qb = qkv_bias ? b.take(q_b, {D}) : zeros(D), vb = qkv_bias ? b.take(v_b, {D}) : zeros(D);
    if (fused) {
      blk.qkv = b.linear_weight(p + "attn.qkv", 3 * D, D);
      blk.qkv.bias = qb;
      blk.qkv.bias.resize(std::size_t(2) * D, 0.f);
      blk.qkv.bias.insert(blk.qkv.bias.end(), vb.begin(), vb.end());
    } else {
      LinearWeights q = b.linear_weight(p + "attn.q_proj", D, D), k = b.linear_weight(p + "attn.k_proj", D, D),
                    v = b.linear_weight(p + "attn.v_proj", D, D);
      q.bias = qb;
      k.bias = zeros(D);
      v.bias = vb;
      blk.qkv = stack_rows(b, p + "attn.q_proj / k_proj / v_proj", {&q, &k, &v});
    }
    if (i == 0) w.has_qkv_bias = qkv_bias;
    blk.proj = b.linear(p + "attn.proj", D, D);
    if (ls) blk.ls1 = b.take(p + "gamma_1", {D});
    blk.norm2 = b.norm(p + "norm2", D);
    if (packed) {
      blk.fc1 = b.linear(p + "mlp.fc1", 2 * H, D);
    } else {
      const LinearWeights g = b.linear(p + "mlp.fc1_g", H, D), x = b.linear(p + "mlp.fc1_x", H, D);
      blk.fc1 = stack_rows(b, p + "mlp.fc1_g / fc1_x", {&g, &x});
    }
    if (mlp_norm) blk.mlp_norm = b.norm(p + "mlp.norm", H);
    blk.fc2 = b.linear(p + "mlp.fc2", D, H);
    if (ls) blk.ls2 = b.take(p + "gamma_2", {D});
    w.blocks.push_back(std::move(blk));
  }
  if (b.has("norm.weight")) w.norm = b.norm("norm", D);
  if (b.has("fc_norm.weight")) w.fc_norm = b.norm("fc_norm", D);
  if (c.fc_norm && *c.fc_norm != !w.fc_norm.weight.empty())
    b.fail("model_args.use_fc_norm = " + yes_no(*c.fc_norm) + " but the file " +
           (w.fc_norm.weight.empty() ? "has no" : "has") + " 'fc_norm.weight'");
  if (d.num_classes) w.head = b.linear("head", d.num_classes, D);

  if (c.eva.rope) {
    // The checkpoint's own grid is its pos_embed's (the input's, unless that is resampled).
    if (b.has("rope.pos_embed"))
      check_rope_tensor(b, c, d, pos_grid ? pos_grid : d.grid_h, pos_grid ? pos_grid : d.grid_w);
    // The tables of the input's grid: another img_size rebuilds them as timm's set_input_size does.
    RopeTables t = rope_tables_2d(rope_grid(c, d.grid_h, d.grid_w), d.head_dim);
    w.rope_sin = std::move(t.sin);
    w.rope_cos = std::move(t.cos);
  }
  b.check_all_used();
  fill_labels(m);
  if (pos_grid) resample_pos_embed(m, pos_grid);
  return m;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> eva_tensor_shapes(const Model& m) {
  const ModelDims& d = m.dims;
  const int64_t D = d.dim, H = d.mlp_hidden;
  const bool fused = m.config.eva.qkv_fused.value_or(true), split_mlp = m.config.eva.scale_mlp.value_or(false);
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {"patch_embed.proj.weight", {D, d.channels, d.patch, d.patch}},
      {"patch_embed.proj.bias", {D}},
      {"cls_token", {1, 1, D}},
      {"pos_embed", {1, d.pos_rows ? d.pos_rows : d.tokens, D}},
  };
  for (int i = 0; i < d.depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    out.push_back({p + "norm1.weight", {D}});
    out.push_back({p + "norm1.bias", {D}});
    if (fused) {
      out.push_back({p + "attn.qkv.weight", {3 * D, D}});
      out.push_back({p + "attn.q_bias", {D}});
      out.push_back({p + "attn.v_bias", {D}});
    } else {
      for (const char* n : {"q_proj", "k_proj", "v_proj"}) out.push_back({p + "attn." + n + ".weight", {D, D}});
      out.push_back({p + "attn.q_proj.bias", {D}});
      out.push_back({p + "attn.v_proj.bias", {D}});
    }
    out.push_back({p + "attn.proj.weight", {D, D}});
    out.push_back({p + "attn.proj.bias", {D}});
    out.push_back({p + "norm2.weight", {D}});
    out.push_back({p + "norm2.bias", {D}});
    if (split_mlp) {
      for (const char* n : {"fc1_g", "fc1_x"}) {
        out.push_back({p + "mlp." + n + ".weight", {H, D}});
        out.push_back({p + "mlp." + n + ".bias", {H}});
      }
      out.push_back({p + "mlp.norm.weight", {H}});
      out.push_back({p + "mlp.norm.bias", {H}});
    } else {
      out.push_back({p + "mlp.fc1.weight", {2 * H, D}});
      out.push_back({p + "mlp.fc1.bias", {2 * H}});
    }
    out.push_back({p + "mlp.fc2.weight", {D, H}});
    out.push_back({p + "mlp.fc2.bias", {D}});
  }
  out.push_back({"fc_norm.weight", {D}});
  out.push_back({"fc_norm.bias", {D}});
  out.push_back({"head.weight", {d.num_classes, D}});
  out.push_back({"head.bias", {d.num_classes}});
  return out;
}

}  // namespace vitvk
