#include "model/model.hpp"
#include "model/labels.hpp"
#include "model/binder.hpp"
#include "model/load_beit.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "core/file.hpp"
#include "model/quantize.hpp"
#include "model/safetensors.hpp"
#include "vitvk/error.hpp"

namespace vitvk {

double ModelDims::flops_per_image() const {
  const double n = tokens, d = dim, h = mlp_hidden;
  if (family == ModelFamily::Swin) {
    // Window attention: per window N^2 scores over its N = window area tokens (not the map's tokens squared);
    // qkv, proj and attention over the padded window rows (the work done), the MLP over the map's tokens.
    double f = 2.0 * num_patches * stages.at(0).dim * channels * patch * patch;
    int prev = 0;
    for (const SwinStageDims& s : stages) {
      const double C = s.dim, A = double(s.heads) * s.head_dim, rows = s.window_rows(), N = s.window_area(),
                   px = double(s.height) * s.width;
      if (prev) f += 2.0 * px * 4 * prev * C;  // patch merging's reduction
      f += s.depth * (2 * rows * C * 3 * A + 2 * s.windows() * N * N * A * 2 + 2 * rows * A * C + 2 * px * C * s.mlp_hidden * 2);
      prev = s.dim;
    }
    return f + 2.0 * d * num_classes;
  }
  if (family == ModelFamily::GFNet) {
    // Per channel: a real 2-D FFT and its inverse (nominally 2.5 N log2 N each, half of a complex one) and the
    // complex product over the half spectrum (6 flops per bin).
    const double filter = d * (2 * 2.5 * n * std::log2(std::max(n, 2.0)) + 6.0 * grid_h * (grid_w / 2 + 1));
    const double block = filter + 2 * n * d * h * 2;  // + fc1, fc2
    return 2.0 * num_patches * d * channels * patch * patch + depth * block + 2.0 * d * num_classes;
  }
  // EVA-02's SwiGLU: fc1 makes the gate and the value (2h wide), fc2 reads h (the rope and the gating are
  // O(n d) and O(n h), below the rounding of these figures).
  const double mlp = family == ModelFamily::Eva ? 2 * n * d * 2 * h + 2 * n * h * d : 2 * n * d * h * 2;
  double per_block = 2 * n * d * 3 * d      // qkv
                     + 2 * n * n * d * 2    // QK^T and PV over all heads
                     + 2 * n * d * d        // proj
                     + mlp;                 // fc1 + fc2
  double embed = 2.0 * num_patches * d * channels * patch * patch;
  double head = 2.0 * d * num_classes * (prefix > 1 ? 2 : 1);
  return embed + depth * per_block + head;
}

namespace {

// MLP width and class count from the tensors, checked against the config and labels.
void bind_mlp_head_dims(Binder& b, const ModelConfig& config, ModelDims& d) {
  const TensorView& fc1 = b.get("blocks.0.mlp.fc1.weight");
  if (fc1.shape.size() != 2 || fc1.shape[0] <= 0) b.fail("tensor 'blocks.0.mlp.fc1.weight' has shape " + shape_str(fc1.shape));
  d.mlp_hidden = as_int(fc1.shape[0]);
  const TensorView& hw = b.get("head.weight");
  if (hw.shape.size() != 2 || hw.shape[0] <= 0) b.fail("tensor 'head.weight' has shape " + shape_str(hw.shape) + ", expected [classes, dim]");
  d.num_classes = as_int(hw.shape[0]);
  if (config.num_classes && *config.num_classes != d.num_classes)
    b.fail("num_classes = " + std::to_string(*config.num_classes) + " but head.weight has " + std::to_string(d.num_classes) + " rows");
  if (!config.labels.empty() && static_cast<int>(config.labels.size()) != d.num_classes)
    b.fail("label_names has " + std::to_string(config.labels.size()) + " entries but head.weight has " + std::to_string(d.num_classes) + " rows");
}

// Antialiased bicubic weights (Keys a = -0.5, support widened by the scale when shrinking), the resampling
// torch's interpolate(mode="bicubic", antialias=True, align_corners=False) does, which timm's
// resample_abs_pos_embed uses: out[i] = sum_j w[i][j] in[first[i] + j].
struct Taps {
  std::vector<int> first;
  std::vector<std::vector<double>> w;
};
Taps aa_bicubic_taps(int in, int out) {
  auto cubic = [](double x) {
    const double a = -0.5;
    x = std::abs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
  };
  const double scale = static_cast<double>(in) / out, support = 2.0 * std::max(scale, 1.0);
  const double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
  Taps t;
  for (int i = 0; i < out; ++i) {
    const double center = scale * (i + 0.5);
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in);
    std::vector<double> w;
    double sum = 0.0;
    for (int j = lo; j < hi; ++j) {
      w.push_back(cubic((j - center + 0.5) * inv));
      sum += w.back();
    }
    for (double& v : w) v = sum != 0.0 ? v / sum : 0.0;
    t.first.push_back(lo);
    t.w.push_back(std::move(w));
  }
  return t;
}

}  // namespace

// pos_embed's patch rows resampled from the checkpoint's old x old grid to the input's grid (the prefix rows
// kept), as timm's resample_abs_pos_embed does.
void resample_pos_embed(Model& m, int old) {
  ModelDims& d = m.dims;
  const int gh0 = old, gw0 = old, gh = d.grid_h, gw = d.grid_w, D = d.dim;
  const int keep = d.pos_rows - old * old;  // prefix rows of pos_embed (0 with no_embed_class)
  const std::vector<float>& src_pe = m.weights.pos_embed;
  const Taps ty = aa_bicubic_taps(gh0, gh), tx = aa_bicubic_taps(gw0, gw);
  std::vector<float> pe(src_pe.begin(), src_pe.begin() + static_cast<long>(keep) * D);
  pe.resize(static_cast<std::size_t>(keep + gh * gw) * D);
  std::vector<double> rows(static_cast<std::size_t>(gh0) * gw * D, 0.0);  // after the horizontal pass
  for (int y = 0; y < gh0; ++y)
    for (int x = 0; x < gw; ++x) {
      double* dst = rows.data() + (static_cast<std::size_t>(y) * gw + x) * D;
      for (std::size_t j = 0; j < tx.w[x].size(); ++j) {
        const float* src = src_pe.data() + (keep + static_cast<std::size_t>(y) * gw0 + tx.first[x] + j) * D;
        for (int c = 0; c < D; ++c) dst[c] += tx.w[x][j] * src[c];
      }
    }
  std::vector<double> acc(D);
  for (int y = 0; y < gh; ++y)
    for (int x = 0; x < gw; ++x) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::size_t j = 0; j < ty.w[y].size(); ++j) {
        const double* src = rows.data() + ((ty.first[y] + j) * gw + x) * D;
        for (int c = 0; c < D; ++c) acc[c] += ty.w[y][j] * src[c];
      }
      float* dst = pe.data() + (keep + static_cast<std::size_t>(y) * gw + x) * D;
      for (int c = 0; c < D; ++c) dst[c] = static_cast<float>(acc[c]);
    }
  m.weights.pos_embed = std::move(pe);
  d.pos_rows = keep + gh * gw;
}

namespace {

// GFNet: no class token, a global filter per block in place of attention, mean-pooled head.
Model gfnet_from_tensors(const ModelConfig& config, const SafeTensors& st) {
  Binder b(st);
  Model m;
  m.config = config;
  ModelDims& d = m.dims;
  d.family = ModelFamily::GFNet;
  bind_patch_dims(b, config, d);
  d.prefix = 0;
  d.tokens = d.num_patches;
  d.depth = count_blocks(b, config);
  bind_mlp_head_dims(b, config, d);
  if (config.mlp_ratio && std::abs(*config.mlp_ratio * d.dim - d.mlp_hidden) >= 1.0)
    b.fail("model_args.mlp_ratio = " + std::to_string(*config.mlp_ratio) + " but blocks.0.mlp.fc1.weight has " +
           std::to_string(d.mlp_hidden) + " rows for dim " + std::to_string(d.dim));
  const int D = d.dim, fw = d.grid_w / 2 + 1;
  GFNetWeights& w = m.gfnet;
  w.patch_embed.out = D;
  w.patch_embed.in = d.channels * d.patch * d.patch;
  w.patch_embed.weight = b.take("patch_embed.proj.weight", {D, d.channels, d.patch, d.patch});
  w.patch_embed.bias = b.take("patch_embed.proj.bias", {D});
  w.pos_embed = b.take("pos_embed", {1, d.num_patches, D});
  for (int i = 0; i < d.depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    GFNetBlockWeights blk;
    blk.norm1 = b.norm(p + "norm1", D);
    // The filter's grid is the input's (as pos_embed's is): another input size fails by tensor name.
    blk.filter = b.take(p + "filter.complex_weight", {d.grid_h, fw, D, 2});
    blk.norm2 = b.norm(p + "norm2", D);
    blk.fc1 = b.linear(p + "mlp.fc1", d.mlp_hidden, D);
    blk.fc2 = b.linear(p + "mlp.fc2", D, d.mlp_hidden);
    w.blocks.push_back(std::move(blk));
  }
  w.norm = b.norm("norm", D);
  w.head = b.linear("head", d.num_classes, D);
  b.check_all_used();
  fill_labels(m);
  return m;
}

}  // namespace

std::vector<float> ViTWeights::prefix_tokens() const {
  std::vector<float> out = cls_token;
  out.insert(out.end(), reg_token.begin(), reg_token.end());
  out.insert(out.end(), dist_token.begin(), dist_token.end());
  return out;
}

namespace {

std::string yes_no(bool b) { return b ? "true" : "false"; }

}  // namespace

Model Model::from_tensors(const ModelConfig& config, const SafeTensors& st, std::optional<int> img_size) {
  if (config.family == ModelFamily::Eva) return eva_from_tensors(config, st, img_size);  // load_eva.cpp
  if (config.family == ModelFamily::Swin) return swin_from_tensors(config, st, img_size);
  if (config.family == ModelFamily::GFNet) {
    if (img_size && (*img_size != config.preprocess.height || *img_size != config.preprocess.width))
      throw Error(ErrorCode::Unsupported, st.source() + ": GFNet's filters are tied to the checkpoint's input size; "
                                                        "another img_size is not supported");
    return gfnet_from_tensors(config, st);
  }
  if (config.family == ModelFamily::BEiT) return beit_from_tensors(config, st, img_size);
  Binder b(st);
  Model m;
  m.config = config;
  // Another input size: the model is built for it (pos_embed resampled below), the preprocessing follows.
  if (img_size) {
    if (*img_size < 1 || *img_size > 16384)
      throw Error(ErrorCode::InvalidArgument, st.source() + ": img_size " + std::to_string(*img_size) + " is out of range");
    m.config.preprocess.height = m.config.preprocess.width = *img_size;
    m.config.img_size = *img_size;
  }
  ModelDims& d = m.dims;
  bind_patch_dims(b, m.config, d);
  const int D = d.dim;

  // Prefix tokens: class token, registers, distillation token, decided by the tensors present.
  d.class_token = b.has("cls_token");
  if (config.class_token_arg && *config.class_token_arg != d.class_token)
    b.fail("model_args.class_token = " + yes_no(*config.class_token_arg) + " but the file " +
           (d.class_token ? "has" : "has no") + " 'cls_token'");
  if (b.has("reg_token")) {
    const TensorView& r = b.get("reg_token");
    if (r.shape.size() != 3 || r.shape[0] != 1 || r.shape[1] < 1 || r.shape[1] > 1024 || r.shape[2] != D)
      b.fail("tensor 'reg_token' has shape " + shape_str(r.shape) + ", expected [1, registers, " + std::to_string(D) + "]");
    d.reg_tokens = as_int(r.shape[1]);
  }
  if (config.reg_tokens && *config.reg_tokens != d.reg_tokens)
    b.fail("model_args.reg_tokens = " + std::to_string(*config.reg_tokens) + " but the file has " +
           std::to_string(d.reg_tokens) + " register tokens");
  const bool distilled = config.distilled || b.has("dist_token");
  if (distilled && (!d.class_token || d.reg_tokens))
    b.fail("a distillation token needs a class token and no register tokens");
  d.prefix = (d.class_token ? 1 : 0) + d.reg_tokens + (distilled ? 1 : 0);
  d.tokens = d.prefix + d.num_patches;

  // Pooling: the attention-pool tensors mean "map"; else what the config (or the name: *_gap_*) says; a model
  // without a class token, or with fc_norm, pools by the mean.
  const bool has_pool = b.has("attn_pool.latent");
  if (has_pool) {
    if (config.global_pool_given && config.global_pool != "map")
      b.fail("the file has attention-pool tensors (attn_pool.*) but global_pool is '" + config.global_pool + "'");
    d.pool = "map";
  } else if (config.global_pool == "map") {
    b.fail("global_pool is 'map' but the file has no attention-pool tensors (missing tensor 'attn_pool.latent')");
  } else if (config.global_pool_given) {
    d.pool = config.global_pool;
  } else {
    d.pool = !d.class_token || b.has("fc_norm.weight") ? "avg" : config.global_pool;
  }
  if (d.pool == "token" && !d.class_token) b.fail("global_pool 'token' needs a class token, and the file has no 'cls_token'");
  if (distilled && d.pool != "token") b.fail("a distilled model must pool the class token, not '" + d.pool + "'");

  d.heads = config.num_heads;
  // qk-norm weights give head_dim: cross-check the head count.
  if (b.has("blocks.0.attn.q_norm.weight")) {
    const TensorView& q = b.get("blocks.0.attn.q_norm.weight");
    if (q.shape.size() != 1 || q.shape[0] < 1 || D % q.shape[0])
      b.fail("tensor 'blocks.0.attn.q_norm.weight' has shape " + shape_str(q.shape) + ", expected [head_dim]");
    if (d.heads * q.shape[0] != D)
      b.fail("blocks.0.attn.q_norm.weight gives head_dim " + std::to_string(q.shape[0]) + ", which does not fit " +
             std::to_string(d.heads) + " heads of width " + std::to_string(D));
  }
  if (D % d.heads) b.fail("embed dim " + std::to_string(D) + " is not divisible by " + std::to_string(d.heads) + " heads");
  d.head_dim = D / d.heads;
  const int depth = d.depth = count_blocks(b, config);
  {
    const TensorView& fc1 = b.get("blocks.0.mlp.fc1.weight");
    if (fc1.shape.size() != 2 || fc1.shape[0] <= 0) b.fail("tensor 'blocks.0.mlp.fc1.weight' has shape " + shape_str(fc1.shape));
    d.mlp_hidden = as_int(fc1.shape[0]);
  }
  // The classifier: absent in embedding checkpoints (num_classes 0).
  if (b.has("head.weight")) {
    const TensorView& hw = b.get("head.weight");
    if (hw.shape.size() != 2 || hw.shape[0] <= 0) b.fail("tensor 'head.weight' has shape " + shape_str(hw.shape) + ", expected [classes, dim]");
    d.num_classes = as_int(hw.shape[0]);
  } else {
    d.num_classes = 0;
    if (distilled) b.fail("missing tensor 'head.weight' (a distilled model needs both heads)");
  }
  if (config.num_classes && *config.num_classes != d.num_classes)
    b.fail("num_classes = " + std::to_string(*config.num_classes) + " but the file has " +
           (d.num_classes ? "a head.weight of " + std::to_string(d.num_classes) + " rows" : std::string("no head.weight")));
  if (!config.labels.empty() && static_cast<int>(config.labels.size()) != d.num_classes)
    b.fail("label_names has " + std::to_string(config.labels.size()) + " entries but the model has " + std::to_string(d.num_classes) + " classes");
  d.act = config.act;

  ViTWeights& w = m.weights;
  w.patch_embed.out = D;
  w.patch_embed.in = d.channels * d.patch * d.patch;
  w.patch_embed.weight = b.take("patch_embed.proj.weight", {D, d.channels, d.patch, d.patch});
  w.has_patch_bias = b.has("patch_embed.proj.bias");
  w.patch_embed.bias = w.has_patch_bias ? b.take("patch_embed.proj.bias", {D}) : std::vector<float>(std::size_t(D), 0.f);
  if (d.class_token) w.cls_token = b.take("cls_token", {1, 1, D});
  if (d.reg_tokens) w.reg_token = b.take("reg_token", {1, d.reg_tokens, D});
  if (distilled) w.dist_token = b.take("dist_token", {1, 1, D});

  // pos_embed: over all tokens, or over the patches only (no_embed_class: DeiT-III, DINOv2-reg). Its grid is
  // the input's, or (a checkpoint made at another size, e.g. DINOv2's 518 px) a square one that is resampled
  // to the input's as timm does when it loads a checkpoint at another img_size.
  int pos_grid = 0;  // > 0: the checkpoint's square grid side, to resample from
  {
    const TensorView& pe = b.get("pos_embed");
    const int N = d.num_patches;
    if (pe.shape.size() != 3 || pe.shape[0] != 1 || pe.shape[2] != D || pe.shape[1] < 1)
      b.fail("tensor 'pos_embed' has shape " + shape_str(pe.shape) + ", expected [1, tokens, " + std::to_string(D) + "]");
    const int64_t L = pe.shape[1];
    auto square_side = [](int64_t n) {
      if (n < 1) return 0;
      auto s = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
      return s * s == n ? static_cast<int>(s) : 0;
    };
    bool patches_only;
    if (L == N + d.prefix && d.prefix > 0 && !config.no_embed_class.value_or(false)) {
      patches_only = false;
    } else if (L == N && !(d.prefix > 0 && config.no_embed_class == false)) {
      patches_only = true;
    } else if (d.prefix > 0 && !config.no_embed_class.value_or(false) && square_side(L - d.prefix)) {
      patches_only = false;
      pos_grid = square_side(L - d.prefix);
    } else if (!(d.prefix > 0 && config.no_embed_class == false) && square_side(L)) {
      patches_only = true;
      pos_grid = square_side(L);
    } else {
      b.fail("tensor 'pos_embed' has " + std::to_string(L) + " rows, which fit no grid: neither the " + std::to_string(N) +
             " patches of the " + std::to_string(d.grid_h) + "x" + std::to_string(d.grid_w) +
             " input grid nor a square grid, alone or after the " + std::to_string(d.prefix) + " prefix tokens (class " +
             (d.class_token ? "1" : "0") + ", registers " + std::to_string(d.reg_tokens) + (distilled ? ", distillation 1" : "") + ")");
    }
    d.pos_rows = static_cast<int>(L);
    w.pos_embed = b.take("pos_embed", {1, L, D});
    if (pos_grid == d.grid_h && pos_grid == d.grid_w) pos_grid = 0;
    if (!patches_only && d.pos_rows != d.prefix + (pos_grid ? pos_grid * pos_grid : N)) b.fail("pos_embed: internal");
  }
  if (b.has("norm_pre.weight")) w.norm_pre = b.norm("norm_pre", D);

  // Per-block switches must hold for every block: a partial one is a malformed checkpoint, not a variant.
  const bool ls = b.has("blocks.0.ls1.gamma"), qkn = b.has("blocks.0.attn.q_norm.weight");
  for (int i = 0; i < depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    if (b.has(p + "ls1.gamma") != ls || b.has(p + "ls2.gamma") != ls)
      b.fail(std::string("layer scale (ls1.gamma / ls2.gamma) on some blocks only: block ") + std::to_string(i) +
             (ls ? " lacks it" : " has it but block 0 does not"));
    if (b.has(p + "attn.q_norm.weight") != qkn || b.has(p + "attn.k_norm.weight") != qkn)
      b.fail(std::string("qk-norm (attn.q_norm / attn.k_norm) on some blocks only: block ") + std::to_string(i) +
             (qkn ? " lacks it" : " has it but block 0 does not"));
    BlockWeights blk;
    blk.norm1 = b.norm(p + "norm1", D);
    bool qkv_bias = true;
    blk.qkv = linear_opt_bias(b, p + "attn.qkv", 3 * D, D, &qkv_bias);
    if (i == 0) w.has_qkv_bias = qkv_bias;
    if (qkn) {
      blk.q_norm = b.norm(p + "attn.q_norm", d.head_dim);
      blk.k_norm = b.norm(p + "attn.k_norm", d.head_dim);
    }
    blk.proj = linear_opt_bias(b, p + "attn.proj", D, D);
    if (ls) blk.ls1 = b.take(p + "ls1.gamma", {D});
    blk.norm2 = b.norm(p + "norm2", D);
    blk.fc1 = linear_opt_bias(b, p + "mlp.fc1", d.mlp_hidden, D);
    blk.fc2 = linear_opt_bias(b, p + "mlp.fc2", D, d.mlp_hidden);
    if (ls) blk.ls2 = b.take(p + "ls2.gamma", {D});
    w.blocks.push_back(std::move(blk));
  }
  if (b.has("norm.weight")) w.norm = b.norm("norm", D);
  if (b.has("fc_norm.weight")) {
    if (d.pool == "token") b.fail("the file has fc_norm, which timm uses with average pooling only, but global_pool is 'token'");
    w.fc_norm = b.norm("fc_norm", D);
  }
  if (has_pool) {
    AttnPoolWeights& ap = w.attn_pool;
    ap.latent = b.take("attn_pool.latent", {1, 1, D});
    ap.q = linear_opt_bias(b, "attn_pool.q", D, D);
    ap.kv = linear_opt_bias(b, "attn_pool.kv", 2 * D, D);
    ap.proj = linear_opt_bias(b, "attn_pool.proj", D, D);
    ap.norm = b.norm("attn_pool.norm", D);
    const TensorView& f1 = b.get("attn_pool.mlp.fc1.weight");
    if (f1.shape.size() != 2 || f1.shape[0] <= 0) b.fail("tensor 'attn_pool.mlp.fc1.weight' has shape " + shape_str(f1.shape));
    ap.fc1 = linear_opt_bias(b, "attn_pool.mlp.fc1", as_int(f1.shape[0]), D);
    ap.fc2 = linear_opt_bias(b, "attn_pool.mlp.fc2", D, as_int(f1.shape[0]));
  }
  if (d.num_classes) w.head = b.linear("head", d.num_classes, D);
  if (distilled) w.head_dist = b.linear("head_dist", d.num_classes, D);
  b.check_all_used();
  fill_labels(m);
  if (pos_grid) resample_pos_embed(m, pos_grid);
  return m;
}

std::string Model::no_attention_maps_reason() const {
  const std::string name = "'" + config.architecture + "'";
  switch (dims.family) {
    case ModelFamily::GFNet:
      return name + " is a GFNet: it mixes tokens with a global frequency-domain filter, not attention, so there are "
                    "no maps to roll out";
    case ModelFamily::Swin:
      return name + " is a Swin Transformer: it attends only within local (shifted) windows, so there is no "
                    "token-to-token map over the image to roll out";
    case ModelFamily::ViT:
    case ModelFamily::Eva:
    case ModelFamily::BEiT:
      break;
  }
  return {};
}

Model Model::load(const std::filesystem::path& dir, std::optional<int> img_size) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw Error(ErrorCode::Io, dir.string() + ": not a model directory");
  ModelConfig cfg = load_model_config(dir / "config.json");
  SafeTensors st = SafeTensors::open(dir / "model.safetensors");
  Model m = from_tensors(cfg, st, img_size);
  m.dir = dir;
  m.labels = choose_label_set(m.config.labels, m.dims.num_classes, pretrained_tag(dir)).names;  // model/labels.hpp
  return m;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Model::tensor_shapes() const {
  const ModelDims& d = dims;
  const int64_t D = d.dim;
  if (d.family == ModelFamily::Eva) return eva_tensor_shapes(*this);  // load_eva.cpp
  if (d.family == ModelFamily::BEiT) return beit_tensor_shapes(*this);  // load_beit.cpp
  if (d.family == ModelFamily::Swin) {
    const int64_t E = d.stages.at(0).dim;
    std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
        {"patch_embed.proj.weight", {E, d.channels, d.patch, d.patch}},
        {"patch_embed.proj.bias", {E}},
        {"patch_embed.norm.weight", {E}},
        {"patch_embed.norm.bias", {E}},
    };
    int64_t prev = 0;
    for (std::size_t s = 0; s < d.stages.size(); ++s) {
      const SwinStageDims& sd = d.stages[s];
      const int64_t C = sd.dim, A = int64_t(sd.heads) * sd.head_dim;
      const std::string p = "layers." + std::to_string(s) + ".";
      if (s > 0) {
        out.push_back({p + "downsample.norm.weight", {4 * prev}});
        out.push_back({p + "downsample.norm.bias", {4 * prev}});
        out.push_back({p + "downsample.reduction.weight", {C, 4 * prev}});
      }
      for (int i = 0; i < sd.depth; ++i) {
        const std::string bp = p + "blocks." + std::to_string(i) + ".";
        out.push_back({bp + "norm1.weight", {C}});
        out.push_back({bp + "norm1.bias", {C}});
        out.push_back({bp + "attn.relative_position_bias_table",
                       {int64_t(2 * sd.window_h - 1) * (2 * sd.window_w - 1), sd.heads}});
        out.push_back({bp + "attn.qkv.weight", {3 * A, C}});
        out.push_back({bp + "attn.qkv.bias", {3 * A}});
        out.push_back({bp + "attn.proj.weight", {C, A}});
        out.push_back({bp + "attn.proj.bias", {C}});
        out.push_back({bp + "norm2.weight", {C}});
        out.push_back({bp + "norm2.bias", {C}});
        out.push_back({bp + "mlp.fc1.weight", {sd.mlp_hidden, C}});
        out.push_back({bp + "mlp.fc1.bias", {sd.mlp_hidden}});
        out.push_back({bp + "mlp.fc2.weight", {C, sd.mlp_hidden}});
        out.push_back({bp + "mlp.fc2.bias", {C}});
      }
      prev = C;
    }
    out.push_back({"norm.weight", {D}});
    out.push_back({"norm.bias", {D}});
    if (d.num_classes) {
      out.push_back({"head.fc.weight", {d.num_classes, D}});
      out.push_back({"head.fc.bias", {d.num_classes}});
    }
    return out;
  }
  if (d.family == ModelFamily::GFNet) {
    std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
        {"patch_embed.proj.weight", {D, d.channels, d.patch, d.patch}},
        {"patch_embed.proj.bias", {D}},
        {"pos_embed", {1, d.num_patches, D}},
    };
    for (int i = 0; i < d.depth; ++i) {
      const std::string p = "blocks." + std::to_string(i) + ".";
      out.push_back({p + "norm1.weight", {D}});
      out.push_back({p + "norm1.bias", {D}});
      out.push_back({p + "filter.complex_weight", {d.grid_h, d.grid_w / 2 + 1, D, 2}});
      out.push_back({p + "norm2.weight", {D}});
      out.push_back({p + "norm2.bias", {D}});
      out.push_back({p + "mlp.fc1.weight", {d.mlp_hidden, D}});
      out.push_back({p + "mlp.fc1.bias", {d.mlp_hidden}});
      out.push_back({p + "mlp.fc2.weight", {D, d.mlp_hidden}});
      out.push_back({p + "mlp.fc2.bias", {D}});
    }
    out.push_back({"norm.weight", {D}});
    out.push_back({"norm.bias", {D}});
    out.push_back({"head.weight", {d.num_classes, D}});
    out.push_back({"head.bias", {d.num_classes}});
    return out;
  }
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {"patch_embed.proj.weight", {D, d.channels, d.patch, d.patch}},
      {"patch_embed.proj.bias", {D}},
  };
  const bool distilled = d.prefix - (d.class_token ? 1 : 0) - d.reg_tokens > 0;
  if (d.class_token) out.push_back({"cls_token", {1, 1, D}});
  if (d.reg_tokens) out.push_back({"reg_token", {1, d.reg_tokens, D}});
  if (distilled) out.push_back({"dist_token", {1, 1, D}});
  out.push_back({"pos_embed", {1, d.pos_rows ? d.pos_rows : d.tokens, D}});
  for (int i = 0; i < d.depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    for (const char* n : {"norm1", "norm2"}) {
      out.push_back({p + n + ".weight", {D}});
      out.push_back({p + n + ".bias", {D}});
    }
    out.push_back({p + "attn.qkv.weight", {3 * D, D}});
    out.push_back({p + "attn.qkv.bias", {3 * D}});
    out.push_back({p + "attn.proj.weight", {D, D}});
    out.push_back({p + "attn.proj.bias", {D}});
    out.push_back({p + "mlp.fc1.weight", {d.mlp_hidden, D}});
    out.push_back({p + "mlp.fc1.bias", {d.mlp_hidden}});
    out.push_back({p + "mlp.fc2.weight", {D, d.mlp_hidden}});
    out.push_back({p + "mlp.fc2.bias", {D}});
  }
  out.push_back({"norm.weight", {D}});
  out.push_back({"norm.bias", {D}});
  out.push_back({"head.weight", {d.num_classes, D}});
  out.push_back({"head.bias", {d.num_classes}});
  if (distilled) {
    out.push_back({"head_dist.weight", {d.num_classes, D}});
    out.push_back({"head_dist.bias", {d.num_classes}});
  }
  return out;
}

Model Model::random(const ModelConfig& config, uint32_t seed) {
  if (!config.embed_dim || !config.depth || !config.patch_size || !config.num_classes)
    throw Error(ErrorCode::InvalidArgument, "Model::random needs embed_dim, depth, patch_size and num_classes");
  // Build a tensor file in memory with the right shapes, then go through the normal checked path.
  Model shape_only;
  shape_only.config = config;  // EVA-02's layout switches
  ModelDims& d = shape_only.dims;
  d.dim = *config.embed_dim;
  d.channels = config.preprocess.channels;
  d.patch = *config.patch_size;
  d.depth = *config.depth;
  d.num_classes = *config.num_classes;
  d.family = config.family;
  d.grid_h = config.preprocess.height / d.patch;
  d.grid_w = config.preprocess.width / d.patch;
  d.num_patches = d.grid_h * d.grid_w;
  d.prefix = config.family == ModelFamily::GFNet ? 0 : config.distilled ? 2 : 1;
  d.class_token = config.family != ModelFamily::GFNet;
  d.tokens = d.prefix + d.num_patches;
  d.pos_rows = d.tokens;
  d.mlp_hidden = static_cast<int>(config.mlp_ratio.value_or(4.0) * d.dim);
  if (config.family == ModelFamily::Eva || config.family == ModelFamily::BEiT) d.heads = config.num_heads;
  if (d.grid_h < 1 || d.grid_w < 1 || d.mlp_hidden < 1)
    throw Error(ErrorCode::InvalidArgument, "Model::random: input smaller than a patch, or no MLP width");
  if (config.family == ModelFamily::Swin) {
    // timm's hierarchy: the width doubles per stage; windows and shifts as the loader decides them.
    if (config.depths.empty() || config.depths.size() != config.stage_heads.size() || config.window_size < 1)
      throw Error(ErrorCode::InvalidArgument, "Model::random: a Swin config needs depths, num_heads and window_size");
    for (std::size_t s = 0; s < config.depths.size(); ++s) {
      SwinStageDims sd;
      sd.dim = d.dim << s;
      sd.depth = config.depths[s];
      sd.heads = config.stage_heads[s];
      sd.head_dim = sd.dim / sd.heads;
      sd.mlp_hidden = static_cast<int>(config.mlp_ratio.value_or(4.0) * sd.dim);
      place_swin_stage(sd, static_cast<int>(s), d.grid_h, d.grid_w, config.window_size);
      d.stages.push_back(sd);
    }
    d.dim = d.stages.back().dim;
  }

  std::mt19937 rng(seed);
  std::vector<TensorData> tensors;
  for (const auto& [name, shape] : shape_only.tensor_shapes()) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<float> v(static_cast<std::size_t>(n));
    // Every LayerNorm's gain: norm1/norm2, the final norm, fc_norm, EVA-02's mlp.norm. EVA-02's q_bias / v_bias
    // are biases too.
    const bool is_norm_w = name.ends_with("norm1.weight") || name.ends_with("norm2.weight") || name.ends_with("norm.weight");
    const bool is_bias = name.ends_with(".bias") || name.ends_with("_bias");
    // Fan-in scaled weights keep activations O(1) through depth, like a trained network. A global filter is
    // an O(1) gain per frequency (norm2 follows it, so its scale only matters relative to rounding).
    const int64_t fan_in = shape.size() >= 2 ? n / shape[0] : 1;
    const float scale = name.ends_with("filter.complex_weight") ? 1.0f
                        : is_bias ? 0.02f
                                  : (shape.size() >= 2 ? 1.0f / std::sqrt(static_cast<float>(fan_in)) : 0.5f);
    std::normal_distribution<float> nd(0.f, scale);
    for (auto& x : v) x = is_norm_w ? 1.0f + 0.1f * nd(rng) / scale : nd(rng);
    tensors.push_back(TensorData::from_f32(name, shape, v));
  }
  auto bytes = serialize_safetensors(tensors);
  SafeTensors st = SafeTensors::parse(bytes, "<random " + config.architecture + ">");
  return from_tensors(config, st);
}

void Model::save(const std::filesystem::path& out_dir) const {
  if (dims.family == ModelFamily::Eva || dims.family == ModelFamily::BEiT || dims.family == ModelFamily::Swin)
    throw Error(ErrorCode::Unsupported, "Model::save writes the ViT/DeiT and GFNet layouts only, not EVA-02's, BEiT's or Swin's");
  std::filesystem::create_directories(out_dir);
  const auto json = model_config_to_json(config);
  write_file_atomic(out_dir / "config.json", {reinterpret_cast<const uint8_t*>(json.data()), json.size()});
  const ViTWeights& w = weights;
  if (dims.family == ModelFamily::ViT &&
      (dims.reg_tokens || !dims.class_token || dims.pos_rows != dims.tokens || !w.norm_pre.weight.empty() ||
       w.norm.weight.empty() || !w.fc_norm.weight.empty() || w.attn_pool.present() || dims.num_classes == 0 ||
       !w.has_patch_bias || !w.has_qkv_bias || (!w.blocks.empty() && (!w.blocks[0].ls1.empty() || !w.blocks[0].q_norm.weight.empty()))))
    throw Error(ErrorCode::Unsupported, "Model::save writes the plain ViT/DeiT layout only (this model has "
                                        "registers, layer scale, qk-norm, other pooling or a missing part)");
  std::vector<TensorData> tensors;
  auto add = [&](const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& v) {
    tensors.push_back(TensorData::from_f32(name, shape, v));
  };
  // An int8 file with scales per group names its group in its metadata (model/quantize.hpp): one for all layers.
  int group = -1;
  auto add_int8 = [&](const std::string& name, const LinearWeights& l) {
    if (group >= 0 && l.qgroup != group)
      throw Error(ErrorCode::InvalidArgument, "Model::save: int8 layers with scales in groups of " +
                                                  std::to_string(group) + " and of " + std::to_string(l.qgroup) +
                                                  " input channels (a file holds one group)");
    group = l.qgroup;
    const auto* bytes = reinterpret_cast<const uint8_t*>(l.qweight.data());
    tensors.push_back({name, DType::I8, {l.out, l.in}, std::vector<uint8_t>(bytes, bytes + l.qweight.size())});
    add(name + "_scale", l.qgroup ? std::vector<int64_t>{l.out, l.qgroups()} : std::vector<int64_t>{l.out}, l.qscale);
  };
  auto metadata = [&] {
    std::map<std::string, std::string> m;
    if (group > 0) m[kInt8GroupKey] = std::to_string(group);
    return m;
  };
  if (dims.family == ModelFamily::GFNet) {
    const GFNetWeights& g = gfnet;
    for (const auto& [name, shape] : tensor_shapes()) {
      const bool is_w = name.ends_with(".weight");
      const LinearWeights* q = nullptr;  // an int8 weight: written as I8 + its scales
      auto lin = [&](const LinearWeights& l) {
        if (is_w && l.quantized()) q = &l;
        return is_w ? &l.weight : &l.bias;
      };
      auto nrm = [&](const NormWeights& n) { return is_w ? &n.weight : &n.bias; };
      const std::vector<float>* src = nullptr;
      if (name.starts_with("patch_embed")) src = lin(g.patch_embed);
      else if (name == "pos_embed") src = &g.pos_embed;
      else if (name.starts_with("norm.")) src = nrm(g.norm);
      else if (name.starts_with("head.")) src = lin(g.head);
      else {
        const auto dot = name.find('.', 7);
        const auto& blk = g.blocks.at(std::stoul(name.substr(7, dot - 7)));
        const std::string rest = name.substr(dot + 1);
        if (rest.starts_with("norm1")) src = nrm(blk.norm1);
        else if (rest.starts_with("norm2")) src = nrm(blk.norm2);
        else if (rest.starts_with("filter")) src = &blk.filter;
        else if (rest.starts_with("mlp.fc1")) src = lin(blk.fc1);
        else src = lin(blk.fc2);
      }
      if (q) add_int8(name, *q);
      else add(name, shape, *src);
    }
    save_safetensors(out_dir / "model.safetensors", tensors, metadata());
    return;
  }
  for (const auto& [name, shape] : tensor_shapes()) {
    // Map each timm name back onto the weight it came from.
    const std::vector<float>* src = nullptr;
    const LinearWeights* q = nullptr;  // an int8 weight: written as I8 + its scales
    auto lin = [&](const LinearWeights& l, bool is_w) {
      if (is_w && l.quantized()) q = &l;
      return is_w ? &l.weight : &l.bias;
    };
    auto nrm = [&](const NormWeights& n, bool is_w) { return is_w ? &n.weight : &n.bias; };
    const bool is_w = name.ends_with(".weight");
    if (name.starts_with("patch_embed")) src = lin(w.patch_embed, is_w);
    else if (name == "cls_token") src = &w.cls_token;
    else if (name == "dist_token") src = &w.dist_token;
    else if (name == "pos_embed") src = &w.pos_embed;
    else if (name.starts_with("norm.")) src = nrm(w.norm, is_w);
    else if (name.starts_with("head_dist.")) src = lin(w.head_dist, is_w);
    else if (name.starts_with("head.")) src = lin(w.head, is_w);
    else {
      const auto dot = name.find('.', 7);
      const auto& blk = w.blocks.at(std::stoul(name.substr(7, dot - 7)));
      const std::string rest = name.substr(dot + 1);
      if (rest.starts_with("norm1")) src = nrm(blk.norm1, is_w);
      else if (rest.starts_with("norm2")) src = nrm(blk.norm2, is_w);
      else if (rest.starts_with("attn.qkv")) src = lin(blk.qkv, is_w);
      else if (rest.starts_with("attn.proj")) src = lin(blk.proj, is_w);
      else if (rest.starts_with("mlp.fc1")) src = lin(blk.fc1, is_w);
      else src = lin(blk.fc2, is_w);
    }
    if (q) add_int8(name, *q);
    else add(name, shape, *src);
  }
  save_safetensors(out_dir / "model.safetensors", tensors, metadata());
}

}  // namespace vitvk
