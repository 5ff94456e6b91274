// BEiT / BEiT-v2 loader (timm beit.py's state_dict names):
//   patch_embed.proj, cls_token, [pos_embed], [rel_pos_bias.relative_position_bias_table] (shared),
//   blocks.N.{norm1, attn.qkv.weight, [attn.q_bias, attn.v_bias], [attn.relative_position_bias_table], attn.proj,
//             [gamma_1, gamma_2], norm2, mlp.fc1, mlp.fc2}, norm | fc_norm, [head].
// Each block's table (plus the shared one) is gathered into the [1, heads, tokens, tokens] additive score term
// of its attention at load, for the input's grid; a table made for another grid is resized as timm's
// checkpoint_filter_fn does first.
#include "model/load_beit.hpp"

#include <algorithm>
#include <cmath>

#include "model/binder.hpp"
#include "vitvk/error.hpp"

namespace vitvk {

std::vector<int> beit_relative_position_index(int gh, int gw) {
  const int area = gh * gw, T = area + 1, cols = 2 * gw - 1;
  const int distances = (2 * gh - 1) * cols + 3;
  std::vector<int> index(std::size_t(T) * T);
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < T; ++j) {
      int r;
      if (i == 0 && j == 0) r = distances - 1;  // class to class
      else if (i == 0) r = distances - 3;       // class query, patch key
      else if (j == 0) r = distances - 2;       // patch query, class key
      else {
        const int yi = (i - 1) / gw, xi = (i - 1) % gw, yj = (j - 1) / gw, xj = (j - 1) % gw;
        r = (yi - yj + gh - 1) * cols + (xi - xj + gw - 1);
      }
      index[std::size_t(i) * T + j] = r;
    }
  return index;
}

namespace {

// BEiT's source coordinates for a src-sized offset axis stretched to dst (timm's _calc in
// resize_rel_pos_bias_table): offsets 1, 1 + q, 1 + q + q^2, ... each side of 0, q bisected in [1.01, 1.5] so that
// the outermost lands near dst / 2. The q used is the last midpoint of the bisection, as there; the coordinates
// are then fp32 (torch.tensor of Python floats).
std::vector<double> progression_coords(int src, int dst) {
  double left = 1.01, right = 1.5, q = 0.0;
  const int half = src / 2;
  while (right - left > 1e-6) {
    q = (left + right) / 2.0;
    const double gp = (1.0 - std::pow(q, half)) / (1.0 - q);
    if (gp > dst / 2) right = q;
    else left = q;
  }
  std::vector<double> dis;
  double cur = 1.0;
  for (int i = 0; i < half; ++i) {
    dis.push_back(cur);
    cur += std::pow(q, i + 1);
  }
  std::vector<double> out;
  for (auto it = dis.rbegin(); it != dis.rend(); ++it) out.push_back(static_cast<float>(-*it));
  out.push_back(0.0);
  for (double d : dis) out.push_back(static_cast<float>(d));
  return out;
}

// The two source points around x on an increasing axis p and their weights, as timm's RegularGridInterpolator
// (torch.bucketize, then distances clamped at 0, both 1 when x sits on a point): x outside p takes the edge value.
struct Tap {
  int lo, hi;
  double w_lo, w_hi;  // normalised
};
Tap tap(const std::vector<double>& p, double x) {
  const int n = static_cast<int>(p.size());
  int hi = static_cast<int>(std::lower_bound(p.begin(), p.end(), x) - p.begin());  // first p[i] >= x
  hi = std::min(hi, n - 1);
  const int lo = std::clamp(hi - 1, 0, n - 1);
  double dl = std::max(x - p[lo], 0.0), dr = std::max(p[hi] - x, 0.0);
  if (dl == 0.0 && dr == 0.0) dl = dr = 1.0;
  return {lo, hi, dr / (dl + dr), dl / (dl + dr)};
}

}  // namespace

std::vector<float> resize_relative_position_table(const std::vector<float>& table, int heads, int src_side, int dst_h,
                                                  int dst_w) {
  const std::size_t src_rows = std::size_t(src_side) * src_side, dst_rows = std::size_t(dst_h) * dst_w;
  if (heads < 1 || src_side < 1 || dst_h < 1 || dst_w < 1 || table.size() != (src_rows + 3) * heads)
    throw Error(ErrorCode::InvalidArgument, "resize_relative_position_table: bad shape");
  if (src_side == dst_h && src_side == dst_w) return table;
  const std::vector<double> py = progression_coords(src_side, dst_h), px = progression_coords(src_side, dst_w);
  std::vector<float> out((dst_rows + 3) * heads);
  for (int y = 0; y < dst_h; ++y)
    for (int x = 0; x < dst_w; ++x) {
      // Target offsets -dst/2 .. dst/2 in steps of 1 (dst odd).
      const Tap ty = tap(py, y - dst_h / 2), tx = tap(px, x - dst_w / 2);
      for (int h = 0; h < heads; ++h) {
        auto at = [&](int r, int c) { return double(table[(std::size_t(r) * src_side + c) * heads + h]); };
        const double v = ty.w_lo * (tx.w_lo * at(ty.lo, tx.lo) + tx.w_hi * at(ty.lo, tx.hi)) +
                         ty.w_hi * (tx.w_lo * at(ty.hi, tx.lo) + tx.w_hi * at(ty.hi, tx.hi));
        out[(std::size_t(y) * dst_w + x) * heads + h] = static_cast<float>(v);
      }
    }
  std::copy(table.end() - 3 * heads, table.end(), out.begin() + static_cast<long>(dst_rows * heads));
  return out;
}

namespace {

int odd_square_side(int64_t n) {
  if (n < 1) return 0;
  const auto s = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return s * s == n && s % 2 == 1 ? static_cast<int>(s) : 0;
}

// A table tensor [rows, heads] for the input's grid: as stored when it is the grid's, else resized from the square
// grid it was made for (timm's checkpoint_filter_fn); any other row count is a malformed checkpoint.
std::vector<float> bind_table(Binder& b, const std::string& name, const ModelDims& d, int heads) {
  const TensorView& t = b.get(name);
  const int dst_h = 2 * d.grid_h - 1, dst_w = 2 * d.grid_w - 1;
  const int64_t want = int64_t(dst_h) * dst_w + 3;
  if (t.shape.size() != 2 || t.shape[1] != heads || t.shape[0] < 4)
    b.fail("tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected [" + std::to_string(want) + ", " +
           std::to_string(heads) + "] (offsets + 3 class-token rows, heads)");
  const int64_t rows = t.shape[0];
  std::vector<float> table = b.take(name, t.shape);
  if (rows == want) return table;
  const int side = odd_square_side(rows - 3);
  if (!side)
    b.fail("tensor '" + name + "' has " + std::to_string(rows) + " rows, which fit no grid: the " +
           std::to_string(d.grid_h) + "x" + std::to_string(d.grid_w) + " patch grid needs (2*" +
           std::to_string(d.grid_h) + "-1)*(2*" + std::to_string(d.grid_w) + "-1)+3 = " + std::to_string(want) +
           ", a checkpoint of another square grid s (2s-1)^2+3");
  return resize_relative_position_table(table, heads, side, dst_h, dst_w);
}

std::string yes_no(bool v) { return v ? "true" : "false"; }

}  // namespace

Model beit_from_tensors(const ModelConfig& config, const SafeTensors& st, std::optional<int> img_size) {
  Binder b(st);
  Model m;
  m.config = config;
  if (img_size) {  // run at another input size: the tables and pos_embed follow the new grid
    if (*img_size < 1 || *img_size > 16384)
      throw Error(ErrorCode::InvalidArgument, st.source() + ": img_size " + std::to_string(*img_size) + " is out of range");
    m.config.preprocess.height = m.config.preprocess.width = *img_size;
    m.config.img_size = *img_size;
  }
  ModelDims& d = m.dims;
  d.family = ModelFamily::BEiT;
  bind_patch_dims(b, m.config, d);
  const int D = d.dim;
  d.class_token = true;  // timm's Beit always has one
  d.prefix = 1;
  d.tokens = 1 + d.num_patches;
  d.act = MlpActivation::Gelu;
  const BeitArgs& args = config.beit;

  // Heads: from the bias tables where there are any (hub configs have no model_args, and the name's size says
  // 12 for any "base"), checked against model_args.
  const int depth = d.depth = count_blocks(b, config);
  const std::string shared_name = "rel_pos_bias.relative_position_bias_table";
  const bool shared = b.has(shared_name);
  const bool own = b.has("blocks.0.attn.relative_position_bias_table");
  std::string heads_from;
  d.heads = config.num_heads;
  for (const std::string& name : {shared_name, std::string("blocks.0.attn.relative_position_bias_table")})
    if (b.has(name)) {
      const TensorView& t = b.get(name);
      if (t.shape.size() != 2 || t.shape[1] < 1)
        b.fail("tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected [offsets + 3, heads]");
      if (!heads_from.empty() && t.shape[1] != d.heads)
        b.fail("tensor '" + name + "' has " + std::to_string(t.shape[1]) + " heads (columns), '" + heads_from +
               "' has " + std::to_string(d.heads));
      d.heads = as_int(t.shape[1]);
      heads_from = name;
    }
  if (args.num_heads && *args.num_heads != d.heads)
    b.fail("model_args.num_heads = " + std::to_string(*args.num_heads) + " but '" + heads_from + "' has " +
           std::to_string(d.heads) + " heads (columns)");
  if (args.use_rel_pos_bias && *args.use_rel_pos_bias != own)
    b.fail("model_args.use_rel_pos_bias = " + yes_no(*args.use_rel_pos_bias) + " but the file " +
           (own ? "has" : "has no") + " 'blocks.0.attn.relative_position_bias_table'");
  if (args.use_shared_rel_pos_bias && *args.use_shared_rel_pos_bias != shared)
    b.fail("model_args.use_shared_rel_pos_bias = " + yes_no(*args.use_shared_rel_pos_bias) + " but the file " +
           (shared ? "has" : "has no") + " '" + shared_name + "'");
  if (d.heads < 1)
    b.fail("number of attention heads unknown: no relative position bias table, no model_args.num_heads, and "
           "architecture '" + config.architecture + "' names no standard size");
  if (D % d.heads)
    b.fail("embed dim " + std::to_string(D) + " is not divisible by " + std::to_string(d.heads) + " heads");
  d.head_dim = D / d.heads;

  {
    const TensorView& fc1 = b.get("blocks.0.mlp.fc1.weight");
    if (fc1.shape.size() != 2 || fc1.shape[0] <= 0) b.fail("tensor 'blocks.0.mlp.fc1.weight' has shape " + shape_str(fc1.shape));
    d.mlp_hidden = as_int(fc1.shape[0]);
  }
  d.num_classes = 0;  // no head: embeddings only (num_classes 0)
  if (b.has("head.weight")) {
    const TensorView& hw = b.get("head.weight");
    if (hw.shape.size() != 2 || hw.shape[0] <= 0) b.fail("tensor 'head.weight' has shape " + shape_str(hw.shape) + ", expected [classes, dim]");
    d.num_classes = as_int(hw.shape[0]);
  }
  if (config.num_classes && *config.num_classes != d.num_classes)
    b.fail("num_classes = " + std::to_string(*config.num_classes) + " but the file has " +
           (d.num_classes ? "a head.weight of " + std::to_string(d.num_classes) + " rows" : std::string("no head.weight")));
  if (!config.labels.empty() && static_cast<int>(config.labels.size()) != d.num_classes)
    b.fail("label_names has " + std::to_string(config.labels.size()) + " entries but the model has " + std::to_string(d.num_classes) + " classes");

  // Pooling: timm's 'avg' (the default) takes the mean of the patch tokens through fc_norm and has no final
  // norm; anything else pools the class token after the final norm.
  d.pool = config.global_pool_given ? config.global_pool : (b.has("fc_norm.weight") || !b.has("norm.weight") ? "avg" : "token");
  if (d.pool != "avg" && d.pool != "token") b.fail("global_pool '" + d.pool + "' is not supported for BEiT (avg, token)");

  ViTWeights& w = m.weights;
  w.patch_embed.out = D;
  w.patch_embed.in = d.channels * d.patch * d.patch;
  w.patch_embed.weight = b.take("patch_embed.proj.weight", {D, d.channels, d.patch, d.patch});
  w.patch_embed.bias = b.take("patch_embed.proj.bias", {D});
  w.cls_token = b.take("cls_token", {1, 1, D});

  // Absolute position embedding (use_abs_pos_emb): the input's grid, or a square one resampled as timm does.
  const bool abs_pos = b.has("pos_embed");
  if (args.use_abs_pos_emb && *args.use_abs_pos_emb != abs_pos)
    b.fail("model_args.use_abs_pos_emb = " + yes_no(*args.use_abs_pos_emb) + " but the file " +
           (abs_pos ? "has" : "has no") + " 'pos_embed'");
  int pos_grid = 0;
  if (abs_pos) {
    const TensorView& pe = b.get("pos_embed");
    if (pe.shape.size() != 3 || pe.shape[0] != 1 || pe.shape[2] != D || pe.shape[1] < 2)
      b.fail("tensor 'pos_embed' has shape " + shape_str(pe.shape) + ", expected [1, tokens, " + std::to_string(D) + "]");
    const int64_t L = pe.shape[1];
    if (L != d.tokens) {
      const auto s = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(L - 1))));
      if (s * s != L - 1)
        b.fail("tensor 'pos_embed' has " + std::to_string(L) + " rows, which fit no grid: neither the class token + " +
               std::to_string(d.num_patches) + " patches of the " + std::to_string(d.grid_h) + "x" +
               std::to_string(d.grid_w) + " input grid nor the class token + a square grid");
      pos_grid = static_cast<int>(s);
    }
    w.pos_embed = b.take("pos_embed", {1, L, D});
    d.pos_rows = static_cast<int>(L);
  }

  // The additive score terms: the shared table's, plus each block's own.
  const std::vector<int> index = beit_relative_position_index(d.grid_h, d.grid_w);
  const int H = d.heads, T = d.tokens;
  auto gather = [&](const std::vector<float>& table, std::vector<float>& bias) {
    bias.resize(std::size_t(H) * T * T, 0.f);
    for (int h = 0; h < H; ++h)
      for (std::size_t e = 0; e < index.size(); ++e) bias[std::size_t(h) * T * T + e] += table[std::size_t(index[e]) * H + h];
  };
  std::vector<float> shared_bias;
  if (shared) gather(bind_table(b, shared_name, d, H), shared_bias);

  // Per-block switches must hold for every block: a partial one is a malformed checkpoint, not a variant.
  const bool qv = b.has("blocks.0.attn.q_bias"), ls = b.has("blocks.0.gamma_1");
  if (args.qkv_bias && *args.qkv_bias != qv)
    b.fail("model_args.qkv_bias = " + yes_no(*args.qkv_bias) + " but the file " + (qv ? "has" : "has no") +
           " 'blocks.0.attn.q_bias'");
  if (args.layer_scale && *args.layer_scale != ls)
    b.fail(std::string("model_args.init_values ") + (*args.layer_scale ? "asks for" : "rules out") +
           " layer scale but the file " + (ls ? "has" : "has no") + " 'blocks.0.gamma_1'");
  for (int i = 0; i < depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    auto partial = [&](const std::string& what, bool here, bool first) {
      if (here != first)
        b.fail(what + " on some blocks only: block " + std::to_string(i) + (first ? " lacks it" : " has it but block 0 does not"));
    };
    partial("layer scale (gamma_1 / gamma_2)", b.has(p + "gamma_1") && b.has(p + "gamma_2"), ls);
    partial("layer scale (gamma_1 / gamma_2)", b.has(p + "gamma_1") || b.has(p + "gamma_2"), ls);
    partial("q/v bias (attn.q_bias / attn.v_bias)", b.has(p + "attn.q_bias") && b.has(p + "attn.v_bias"), qv);
    partial("q/v bias (attn.q_bias / attn.v_bias)", b.has(p + "attn.q_bias") || b.has(p + "attn.v_bias"), qv);
    partial("relative position bias (attn.relative_position_bias_table)", b.has(p + "attn.relative_position_bias_table"), own);
    BlockWeights blk;
    blk.norm1 = b.norm(p + "norm1", D);
    // qkv has no bias of its own; q_bias | zeros (timm's k_bias buffer) | v_bias is its bias.
    blk.qkv = b.linear_weight(p + "attn.qkv", 3 * D, D);
    blk.qkv.bias.assign(std::size_t(3) * D, 0.f);
    if (qv) {
      const auto q = b.take(p + "attn.q_bias", {D}), v = b.take(p + "attn.v_bias", {D});
      std::copy(q.begin(), q.end(), blk.qkv.bias.begin());
      std::copy(v.begin(), v.end(), blk.qkv.bias.begin() + 2 * D);
    }
    if (own) gather(bind_table(b, p + "attn.relative_position_bias_table", d, H), blk.rel_pos_bias);
    if (shared) {
      if (blk.rel_pos_bias.empty()) blk.rel_pos_bias = shared_bias;
      else
        for (std::size_t e = 0; e < shared_bias.size(); ++e) blk.rel_pos_bias[e] += shared_bias[e];
    }
    blk.proj = b.linear(p + "attn.proj", D, D);
    if (ls) blk.ls1 = b.take(p + "gamma_1", {D});
    blk.norm2 = b.norm(p + "norm2", D);
    blk.fc1 = b.linear(p + "mlp.fc1", d.mlp_hidden, D);
    blk.fc2 = b.linear(p + "mlp.fc2", D, d.mlp_hidden);
    if (ls) blk.ls2 = b.take(p + "gamma_2", {D});
    w.blocks.push_back(std::move(blk));
  }
  w.has_qkv_bias = qv;
  if (d.pool == "avg") w.fc_norm = b.norm("fc_norm", D);
  else w.norm = b.norm("norm", D);
  if (d.num_classes) w.head = b.linear("head", d.num_classes, D);
  b.check_all_used();
  fill_labels(m);
  if (pos_grid && (pos_grid != d.grid_h || pos_grid != d.grid_w)) resample_pos_embed(m, pos_grid);
  return m;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> beit_tensor_shapes(const Model& m) {
  const ModelDims& d = m.dims;
  const int64_t D = d.dim, H = d.mlp_hidden;
  const int64_t table = int64_t(2 * d.grid_h - 1) * (2 * d.grid_w - 1) + 3;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {"patch_embed.proj.weight", {D, d.channels, d.patch, d.patch}},
      {"patch_embed.proj.bias", {D}},
      {"cls_token", {1, 1, D}},
  };
  for (int i = 0; i < d.depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    out.push_back({p + "gamma_1", {D}});
    out.push_back({p + "gamma_2", {D}});
    out.push_back({p + "norm1.weight", {D}});
    out.push_back({p + "norm1.bias", {D}});
    out.push_back({p + "attn.q_bias", {D}});
    out.push_back({p + "attn.v_bias", {D}});
    out.push_back({p + "attn.relative_position_bias_table", {table, d.heads}});
    out.push_back({p + "attn.qkv.weight", {3 * D, D}});
    out.push_back({p + "attn.proj.weight", {D, D}});
    out.push_back({p + "attn.proj.bias", {D}});
    out.push_back({p + "norm2.weight", {D}});
    out.push_back({p + "norm2.bias", {D}});
    out.push_back({p + "mlp.fc1.weight", {H, D}});
    out.push_back({p + "mlp.fc1.bias", {H}});
    out.push_back({p + "mlp.fc2.weight", {D, H}});
    out.push_back({p + "mlp.fc2.bias", {D}});
  }
  out.push_back({"fc_norm.weight", {D}});
  out.push_back({"fc_norm.bias", {D}});
  if (d.num_classes) {
    out.push_back({"head.weight", {d.num_classes, D}});
    out.push_back({"head.bias", {d.num_classes}});
  }
  return out;
}

}  // namespace vitvk
