#include "model/model.hpp"
#include "model/labels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "core/file.hpp"
#include "model/safetensors.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Pulls tensors out of a SafeTensors by name, checking shapes and remembering which were used.
class Binder {
 public:
  explicit Binder(const SafeTensors& st) : st_(st) {}

  const TensorView& get(const std::string& name) {
    const TensorView* t = st_.find(name);
    if (!t) fail("missing tensor '" + name + "'");
    used_.insert(name);
    return *t;
  }
  bool has(const std::string& name) const { return st_.find(name) != nullptr; }

  std::vector<float> take(const std::string& name, const std::vector<int64_t>& shape) {
    const TensorView& t = get(name);
    if (t.shape != shape) fail("tensor '" + name + "' has shape " + shape_str(t.shape) + ", expected " + shape_str(shape));
    return st_.to_f32(t);
  }
  LinearWeights linear(const std::string& prefix, int out, int in) {
    LinearWeights l;
    l.out = out;
    l.in = in;
    const std::string wname = prefix + ".weight", sname = wname + "_scale";
    if (const TensorView& w = get(wname); w.dtype == DType::I8) {  // int8: one fp32 scale per output channel
      if (w.shape != std::vector<int64_t>{out, in})
        fail("tensor '" + wname + "' has shape " + shape_str(w.shape) + ", expected " + shape_str({out, in}));
      if (!has(sname)) fail("tensor '" + wname + "' is I8 but its per-channel scale '" + sname + "' is missing");
      const TensorView& s = get(sname);
      if (s.dtype != DType::F32 || s.shape != std::vector<int64_t>{out})
        fail("tensor '" + sname + "' is " + dtype_name(s.dtype) + " " + shape_str(s.shape) + ", expected F32 [" +
             std::to_string(out) + "] (one scale per row of '" + wname + "')");
      l.qweight.resize(w.data.size());
      std::memcpy(l.qweight.data(), w.data.data(), w.data.size());
      if (std::find(l.qweight.begin(), l.qweight.end(), int8_t{-128}) != l.qweight.end())
        fail("tensor '" + wname + "' holds -128 (int8 weights lie in [-127, 127])");
      l.qscale = st_.to_f32(s);
      for (float v : l.qscale)
        if (!std::isfinite(v) || v < 0) fail("tensor '" + sname + "' holds a negative or non-finite scale");
    } else {
      if (has(sname)) fail("tensor '" + sname + "' scales '" + wname + "', which is " + dtype_name(w.dtype) + ", not I8");
      l.weight = take(wname, {out, in});
    }
    l.bias = take(prefix + ".bias", {out});
    return l;
  }
  NormWeights norm(const std::string& prefix, int dim) {
    return {take(prefix + ".weight", {dim}), take(prefix + ".bias", {dim})};
  }
  void check_all_used() const {
    for (const auto& t : st_.tensors())
      if (!used_.count(t.name)) fail("unexpected tensor '" + t.name + "' " + shape_str(t.shape) + " (not supported by this architecture)");
  }
  [[noreturn]] void fail(const std::string& what) const { throw Error(ErrorCode::ModelFormat, st_.source() + ": " + what); }

 private:
  const SafeTensors& st_;
  std::set<std::string> used_;
};

int as_int(int64_t v) { return static_cast<int>(v); }

}  // namespace

double ModelDims::flops_per_image() const {
  const double n = tokens, d = dim, h = mlp_hidden;
  if (family == ModelFamily::GFNet) {
    // Per channel: a real 2-D FFT and its inverse (nominally 2.5 N log2 N each, half of a complex one) and the
    // complex product over the half spectrum (6 flops per bin).
    const double filter = d * (2 * 2.5 * n * std::log2(std::max(n, 2.0)) + 6.0 * grid_h * (grid_w / 2 + 1));
    const double block = filter + 2 * n * d * h * 2;  // + fc1, fc2
    return 2.0 * num_patches * d * channels * patch * patch + depth * block + 2.0 * d * num_classes;
  }
  double per_block = 2 * n * d * 3 * d      // qkv
                     + 2 * n * n * d * 2    // QK^T and PV over all heads
                     + 2 * n * d * d        // proj
                     + 2 * n * d * h * 2;   // fc1 + fc2
  double embed = 2.0 * num_patches * d * channels * patch * patch;
  double head = 2.0 * d * num_classes * (prefix > 1 ? 2 : 1);
  return embed + depth * per_block + head;
}

namespace {

// Patch size, width and input grid from patch_embed.proj.weight, checked against the config.
void bind_patch_dims(Binder& b, const ModelConfig& config, ModelDims& d) {
  const TensorView& pw = b.get("patch_embed.proj.weight");
  if (pw.shape.size() != 4 || pw.shape[2] != pw.shape[3] || pw.shape[0] <= 0 || pw.shape[2] <= 0)
    b.fail("tensor 'patch_embed.proj.weight' has shape " + shape_str(pw.shape) + ", expected [dim, channels, patch, patch]");
  d.dim = as_int(pw.shape[0]);
  d.channels = as_int(pw.shape[1]);
  d.patch = as_int(pw.shape[2]);
  if (d.channels != config.preprocess.channels)
    b.fail("patch_embed.proj.weight has " + std::to_string(d.channels) + " input channels, config says " +
           std::to_string(config.preprocess.channels));
  if (config.embed_dim && *config.embed_dim != d.dim)
    b.fail("model_args.embed_dim = " + std::to_string(*config.embed_dim) + " but patch_embed.proj.weight gives " + std::to_string(d.dim));
  if (config.patch_size && *config.patch_size != d.patch)
    b.fail("model_args.patch_size = " + std::to_string(*config.patch_size) + " but patch_embed.proj.weight gives " + std::to_string(d.patch));

  d.img_h = config.preprocess.height;
  d.img_w = config.preprocess.width;
  if (d.img_h % d.patch || d.img_w % d.patch)
    b.fail("input size " + std::to_string(d.img_h) + "x" + std::to_string(d.img_w) + " is not a multiple of the patch size " + std::to_string(d.patch));
  d.grid_h = d.img_h / d.patch;
  d.grid_w = d.img_w / d.patch;
  d.num_patches = d.grid_h * d.grid_w;
  d.ln_eps = config.ln_eps;
}

// Depth: count blocks.N.norm1.weight (then every tensor of blocks 0..depth-1 is required).
int count_blocks(Binder& b, const ModelConfig& config) {
  int depth = 0;
  while (b.has("blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
  if (depth == 0) b.fail("missing tensor 'blocks.0.norm1.weight' (no transformer blocks)");
  if (config.depth && *config.depth != depth)
    b.fail("model_args.depth = " + std::to_string(*config.depth) + " but the file has " + std::to_string(depth) + " blocks");
  return depth;
}

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

void fill_labels(Model& m) {
  m.labels = m.config.labels;
  if (m.labels.empty())
    for (int i = 0; i < m.dims.num_classes; ++i) m.labels.push_back("class " + std::to_string(i));
}

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

Model Model::from_tensors(const ModelConfig& config, const SafeTensors& st) {
  if (config.family == ModelFamily::GFNet) return gfnet_from_tensors(config, st);
  Binder b(st);
  Model m;
  m.config = config;
  ModelDims& d = m.dims;
  bind_patch_dims(b, config, d);
  const bool distilled = config.distilled || b.has("dist_token");
  d.prefix = distilled ? 2 : 1;
  d.tokens = d.prefix + d.num_patches;
  d.heads = config.num_heads;
  if (d.dim % d.heads) b.fail("embed dim " + std::to_string(d.dim) + " is not divisible by " + std::to_string(d.heads) + " heads");
  d.head_dim = d.dim / d.heads;
  const int depth = d.depth = count_blocks(b, config);
  bind_mlp_head_dims(b, config, d);

  ViTWeights& w = m.weights;
  const int D = d.dim;
  w.patch_embed.out = D;
  w.patch_embed.in = d.channels * d.patch * d.patch;
  w.patch_embed.weight = b.take("patch_embed.proj.weight", {D, d.channels, d.patch, d.patch});
  w.patch_embed.bias = b.take("patch_embed.proj.bias", {D});
  w.cls_token = b.take("cls_token", {1, 1, D});
  if (distilled) w.dist_token = b.take("dist_token", {1, 1, D});
  w.pos_embed = b.take("pos_embed", {1, d.tokens, D});
  for (int i = 0; i < depth; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    BlockWeights blk;
    blk.norm1 = b.norm(p + "norm1", D);
    blk.qkv = b.linear(p + "attn.qkv", 3 * D, D);
    blk.proj = b.linear(p + "attn.proj", D, D);
    blk.norm2 = b.norm(p + "norm2", D);
    blk.fc1 = b.linear(p + "mlp.fc1", d.mlp_hidden, D);
    blk.fc2 = b.linear(p + "mlp.fc2", D, d.mlp_hidden);
    w.blocks.push_back(std::move(blk));
  }
  w.norm = b.norm("norm", D);
  w.head = b.linear("head", d.num_classes, D);
  if (distilled) w.head_dist = b.linear("head_dist", d.num_classes, D);
  b.check_all_used();
  fill_labels(m);
  return m;
}

Model Model::load(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) throw Error(ErrorCode::Io, dir.string() + ": not a model directory");
  ModelConfig cfg = load_model_config(dir / "config.json");
  SafeTensors st = SafeTensors::open(dir / "model.safetensors");
  Model m = from_tensors(cfg, st);
  m.dir = dir;
  m.labels = choose_label_set(m.config.labels, m.dims.num_classes, pretrained_tag(dir)).names;  // model/labels.hpp
  return m;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Model::tensor_shapes() const {
  const ModelDims& d = dims;
  const int64_t D = d.dim;
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
      {"cls_token", {1, 1, D}},
  };
  if (d.prefix > 1) out.push_back({"dist_token", {1, 1, D}});
  out.push_back({"pos_embed", {1, d.tokens, D}});
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
  if (d.prefix > 1) {
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
  d.tokens = d.prefix + d.num_patches;
  d.mlp_hidden = static_cast<int>(config.mlp_ratio.value_or(4.0) * d.dim);
  if (d.grid_h < 1 || d.grid_w < 1 || d.mlp_hidden < 1)
    throw Error(ErrorCode::InvalidArgument, "Model::random: input smaller than a patch, or no MLP width");

  std::mt19937 rng(seed);
  std::vector<TensorData> tensors;
  for (const auto& [name, shape] : shape_only.tensor_shapes()) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    std::vector<float> v(static_cast<std::size_t>(n));
    const bool is_norm_w = name.ends_with("norm1.weight") || name.ends_with("norm2.weight") || name == "norm.weight";
    const bool is_bias = name.ends_with(".bias");
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
  std::filesystem::create_directories(out_dir);
  const auto json = model_config_to_json(config);
  write_file_atomic(out_dir / "config.json", {reinterpret_cast<const uint8_t*>(json.data()), json.size()});
  const ViTWeights& w = weights;
  std::vector<TensorData> tensors;
  auto add = [&](const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& v) {
    tensors.push_back(TensorData::from_f32(name, shape, v));
  };
  auto add_int8 = [&](const std::string& name, const LinearWeights& l) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(l.qweight.data());
    tensors.push_back({name, DType::I8, {l.out, l.in}, std::vector<uint8_t>(bytes, bytes + l.qweight.size())});
    add(name + "_scale", {l.out}, l.qscale);
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
    save_safetensors(out_dir / "model.safetensors", tensors);
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
  save_safetensors(out_dir / "model.safetensors", tensors);
}

}  // namespace vitvk
