// timm Swin Transformer v1 (swin_transformer.py) as a graph; windows, shifts and bias tables decided at load
// (load_swin.cpp):
//   x = norm(patch_embed(image))                                            stage 0's [H*W, C] feature map
//   per stage s > 0: x = reduction(norm(merge(x)))                          2x2 patch merging
//   per block: w = partition(norm1(x))                                      rolled by -shift, padded, window order
//              x += reverse(proj(window attention(qkv(w)) + rel-pos bias [+ shift mask]))
//              x += fc2(gelu(fc1(norm2(x))))
//   features = mean over tokens of norm(x); logits = head.fc(features)
// Every step is a graph node that both backends run (the window permutations are GPU gathers: no host round trip).
#include <algorithm>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "vitvk/error.hpp"

namespace vitvk::graph {
namespace {

// Python slice bounds on an axis of `len` (timm builds its shift mask with slices such as (-window, -shift),
// where -0 is 0: the slice's start, not its end).
int py_index(int v, int len) { return v < 0 ? std::max(v + len, 0) : std::min(v, len); }

// timm's get_attn_mask region ids on the padded map of one axis: three slices (0, -window), (-window, -shift),
// (-shift, None) assigned in order, later ones overwriting.
std::vector<int> mask_regions(int padded, int window, int shift) {
  std::vector<int> id(static_cast<std::size_t>(padded), 0);
  const int bounds[3][2] = {{0, -window}, {-window, -shift}, {-shift, padded}};
  for (int r = 0; r < 3; ++r)
    for (int i = py_index(bounds[r][0], padded); i < py_index(bounds[r][1], padded); ++i) id[std::size_t(i)] = r;
  return id;
}

// The additive attention term of a stage's blocks: [groups, heads, N, N] with N the window area. The relative
// position bias, bias[h, i, j] = table[index(i, j), h] with index from the two tokens' offset inside the window
// (timm's get_relative_position_index); shifted blocks add, per window, -100 between tokens of different regions
// of the rolled map (timm's attn_mask: a finite -100, not -inf, so exactly that value), one group per window.
std::vector<float> attention_bias(const SwinStageDims& sd, const std::vector<float>& table, bool shifted) {
  const int wh = sd.window_h, ww = sd.window_w, N = wh * ww, H = sd.heads;
  const int groups = shifted ? sd.windows() : 1;
  std::vector<float> bias(std::size_t(groups) * H * N * N);
  for (int h = 0; h < H; ++h)
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < N; ++j) {
        const int idx = (i / ww - j / ww + wh - 1) * (2 * ww - 1) + (i % ww - j % ww + ww - 1);
        bias[(std::size_t(h) * N + i) * N + j] = table[std::size_t(idx) * H + h];
      }
  if (!shifted) return bias;
  const int nwh = (sd.height + wh - 1) / wh, nww = (sd.width + ww - 1) / ww;
  const std::vector<int> ry = mask_regions(nwh * wh, wh, sd.shift_h), rx = mask_regions(nww * ww, ww, sd.shift_w);
  for (int g = 1; g < groups; ++g) std::copy_n(bias.begin(), std::size_t(H) * N * N, bias.begin() + std::size_t(g) * H * N * N);
  for (int g = 0; g < groups; ++g) {
    auto region = [&](int t) {
      const int y = g / nww * wh + t / ww, x = g % nww * ww + t % ww;
      return ry[std::size_t(y)] * 3 + rx[std::size_t(x)];
    };
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < N; ++j)
        if (region(i) != region(j))
          for (int h = 0; h < H; ++h) bias[((std::size_t(g) * H + h) * N + i) * N + j] += -100.f;
  }
  return bias;
}

}  // namespace

Graph build_swin(const Model& model) {
  const ModelDims& d = model.dims;
  const SwinWeights& w = model.swin;
  if (d.stages.empty() || d.stages.size() != w.stages.size())
    throw Error(ErrorCode::Internal, "build_swin: the stages of the dims and the weights differ");
  const float eps = d.ln_eps;
  Graph g;
  g.family = "swin";
  // The residual stream; norm outputs and attention outputs; window rows and their projection; qkv and the MLP's
  // hidden rows. Each holds one stage's tensor at a time (a buffer grows to its largest); window ops need their
  // input and output in different buffers.
  const int b_images = g.add_buffer(), b_x = g.add_buffer(), b_a = g.add_buffer(), b_w = g.add_buffer(),
            b_q = g.add_buffer();
  g.images = g.add_tensor(d.channels, d.img_h * d.img_w, b_images);

  const SwinStageDims& s0 = d.stages.front();
  int x = g.add_tensor(s0.height * s0.width, s0.dim, b_x);
  {
    const int raw = g.add_tensor(s0.height * s0.width, s0.dim, b_a);
    Node n;
    n.op = Op::PatchEmbed;
    n.x = g.images;
    n.y = raw;
    n.linear = &w.patch_embed;
    n.role = LinearRole::PatchEmbed;
    n.patch = {1, d.channels, d.img_h, d.img_w, d.patch, s0.dim};
    g.add(n);
    g.layernorm(raw, &w.patch_norm, x, eps);
  }

  auto window_node = [&](int in, int out, const SwinStageDims& sd, int channels, ops::WindowMode mode, bool shift) {
    Node n;
    n.op = Op::Window;
    n.x = in;
    n.y = out;
    n.window_mode = mode;
    n.window = {1, sd.height, sd.width, channels, sd.window_h, sd.window_w, shift ? sd.shift_h : 0, shift ? sd.shift_w : 0};
    g.add(n);
  };

  for (std::size_t s = 0; s < d.stages.size(); ++s) {
    const SwinStageDims& sd = d.stages[s];
    const SwinStageWeights& sw = w.stages[s];
    const int C = sd.dim, A = sd.heads * sd.head_dim, P = sd.height * sd.width, R = sd.window_rows();
    if (s > 0) {  // patch merging of the previous stage's map (its padding to even sizes inside the gather)
      const SwinStageDims& prev = d.stages[s - 1];
      if ((prev.height + 1) / 2 != sd.height || (prev.width + 1) / 2 != sd.width)
        throw Error(ErrorCode::Internal, "build_swin: stage " + std::to_string(s) + "'s map is not the merge of the previous");
      const int merged = g.add_tensor(P, 4 * prev.dim, b_q), normed = g.add_tensor(P, 4 * prev.dim, b_a);
      window_node(x, merged, prev, prev.dim, ops::WindowMode::Merge, false);
      g.layernorm(merged, &sw.merge_norm, normed, eps);
      x = g.add_tensor(P, C, b_x);  // the previous stream is dead after the gather
      g.linear(normed, &sw.merge_reduction, x, ops::Epilogue::None);
    }
    const int a = g.add_tensor(P, C, b_a), win = g.add_tensor(R, C, b_w), qkv = g.add_tensor(R, 3 * A, b_q),
              att = g.add_tensor(R, A, b_a), out = g.add_tensor(R, C, b_w), hidden = g.add_tensor(P, sd.mlp_hidden, b_q);
    // One bias per stage and parity would do for the mask, but each block has its own table.
    for (int i = 0; i < sd.depth; ++i) {
      const SwinBlockWeights& blk = sw.blocks[std::size_t(i)];
      const bool shifted = (i % 2 == 1) && sd.shifted();
      g.layernorm(x, &blk.norm1, a, eps);
      window_node(a, win, sd, C, ops::WindowMode::Partition, shifted);
      g.linear(win, &blk.qkv, qkv, ops::Epilogue::None, LinearRole::Qkv);
      Node at;
      at.op = Op::Attention;
      at.x = qkv;
      at.y = att;
      at.heads = sd.heads;
      at.head_dim = sd.head_dim;
      at.tokens = sd.window_area();
      at.bias = g.own(attention_bias(sd, blk.rel_pos_table, shifted));
      at.bias_groups = shifted ? sd.windows() : 1;
      g.add(at);
      g.linear(att, &blk.proj, out, ops::Epilogue::None, LinearRole::Proj);
      window_node(out, x, sd, C, ops::WindowMode::ReverseAdd, shifted);
      g.layernorm(x, &blk.norm2, a, eps);
      g.linear(a, &blk.fc1, hidden, ops::Epilogue::Gelu, LinearRole::Fc1);
      g.linear(hidden, &blk.fc2, x, ops::Epilogue::Residual, LinearRole::Fc2);
    }
  }
  // No global token-to-token attention: no explain maps (layers 0), so --overlay refuses Swin.
  g.layers = 0;

  const int D = d.dim, T = d.stages.back().height * d.stages.back().width;
  const int fin = g.add_tensor(T, D, b_a);
  g.layernorm(x, &w.norm, fin, eps);
  g.features = g.add_tensor(1, D, g.add_buffer(true));
  Node mean;
  mean.op = Op::TokenMean;
  mean.x = fin;
  mean.y = g.features;
  g.add(mean);
  if (d.num_classes) {
    g.logits = g.add_tensor(1, d.num_classes, g.add_buffer(true));
    g.linear(g.features, &w.head, g.logits, ops::Epilogue::None, LinearRole::Head);
  }
  return g;
}

}  // namespace vitvk::graph
