#include "model/binder.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/quantize.hpp"

namespace vitvk {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int Binder::int8_group() const {
  const auto it = st_.metadata().find(kInt8GroupKey);
  if (it == st_.metadata().end()) return 0;
  const std::string& v = it->second;
  long g = -1;
  if (!v.empty() && v.size() <= 6 && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
    g = std::stol(v);
  if (!int8_file_group_valid(g))
    fail(std::string("metadata ") + kInt8GroupKey + " is '" + v + "', expected a multiple of 8 from 8 to " +
         std::to_string(kInt8MaxFileGroup));
  return static_cast<int>(g);
}

LinearWeights Binder::linear_weight(const std::string& prefix, int out, int in) {
  LinearWeights l;
  l.out = out;
  l.in = in;
  const std::string wname = prefix + ".weight", sname = wname + "_scale";
  if (const TensorView& w = get(wname); w.dtype == DType::I8) {  // int8: fp32 scales per output channel (and group)
    if (w.shape != std::vector<int64_t>{out, in})
      fail("tensor '" + wname + "' has shape " + shape_str(w.shape) + ", expected " + shape_str({out, in}));
    if (!has(sname)) fail("tensor '" + wname + "' is I8 but its scale tensor '" + sname + "' is missing");
    l.qgroup = int8_group();
    const std::vector<int64_t> want = l.qgroup ? std::vector<int64_t>{out, l.qgroups()} : std::vector<int64_t>{out};
    const TensorView& s = get(sname);
    if (s.dtype != DType::F32 || s.shape != want)
      fail("tensor '" + sname + "' is " + dtype_name(s.dtype) + " " + shape_str(s.shape) + ", expected F32 " +
           shape_str(want) + " (one scale per row of '" + wname + "'" +
           (l.qgroup ? " and group of " + std::to_string(l.qgroup) + " columns" : std::string()) + ")");
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
  return l;
}
// A linear layer whose bias the checkpoint may leave out (qkv_bias=False, CLIP's patch embedding): zeros then.
LinearWeights linear_opt_bias(Binder& b, const std::string& prefix, int out, int in, bool* had_bias) {
  LinearWeights l = b.linear_weight(prefix, out, in);
  const bool has = b.has(prefix + ".bias");
  l.bias = has ? b.take(prefix + ".bias", {out}) : std::vector<float>(static_cast<std::size_t>(out), 0.f);
  if (had_bias) *had_bias = has;
  return l;
}

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
int count_blocks(Binder& b, const ModelConfig& config, const std::string& prefix) {
  int depth = 0;
  while (b.has(prefix + std::to_string(depth) + ".norm1.weight")) ++depth;
  if (depth == 0) b.fail("missing tensor '" + prefix + "0.norm1.weight' (no transformer blocks)");
  if (config.depth && *config.depth != depth)
    b.fail("model_args.depth = " + std::to_string(*config.depth) + " but the file has " + std::to_string(depth) + " blocks");
  return depth;
}

void fill_labels(Model& m) {
  m.labels = m.config.labels;
  if (m.labels.empty())
    for (int i = 0; i < m.dims.num_classes; ++i) m.labels.push_back("class " + std::to_string(i));
}


}  // namespace vitvk
