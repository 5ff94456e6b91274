// EVA-02 (timm Eva, model/load_eva.cpp) as a graph:
//   x = patch_embed(image); class token (and registers), + pos_embed
//   per block: qkv = qkv(norm1(x)); rope on q and k of the patch tokens; x += g1 * proj(attention(qkv))
//              x += g2 * fc2([norm](silu(gate) * value)), [gate | value] = fc1(norm2(x))
//   pool: the mean of the patch tokens then fc_norm (EVA-02's default), or the class token after the final norm;
//   then the head (absent without a classifier).
#include "graph/graph.hpp"
#include "vitvk/error.hpp"

namespace vitvk::graph {
namespace {

// y += g * (x W^T + b) as one linear, W and b scaled per output row (layer scale folded as build_vit.cpp does).
LinearWeights fold_scale(const LinearWeights& l, const std::vector<float>& g) {
  LinearWeights s = l;
  for (int n = 0; n < s.out; ++n) {
    if (!s.weight.empty())
      for (int k = 0; k < s.in; ++k) s.weight[std::size_t(n) * s.in + k] *= g[n];
    if (!s.qscale.empty())  // stored as int8: W[n, k] = qscale[n, k / qgroup] * q[n, k]
      for (int j = 0; j < s.qgroups(); ++j) s.qscale[std::size_t(n) * s.qgroups() + j] *= g[n];
    if (!s.bias.empty()) s.bias[n] *= g[n];
  }
  return s;
}

}  // namespace

Graph build_eva(const Model& model) {
  const ModelDims& d = model.dims;
  const ViTWeights& w = model.weights;
  const int T = d.tokens, D = d.dim, P = d.prefix, N = d.num_patches, H = d.mlp_hidden;
  const float eps = d.ln_eps;
  Graph g;
  g.family = "eva";
  const int b_images = g.add_buffer(), b_x = g.add_buffer(), b_a = g.add_buffer(), b_b = g.add_buffer();
  g.images = g.add_tensor(d.channels, d.img_h * d.img_w, b_images);
  const int x = g.add_tensor(T, D, b_x);
  const int a = g.add_tensor(T, D, b_a);              // norm outputs, then the attention output
  const int qkv = g.add_tensor(T, 3 * D, b_b);
  const int gate_value = g.add_tensor(T, 2 * H, b_b);  // fc1's output: never live with qkv
  const int hidden = g.add_tensor(T, H, b_a);          // the gated hidden layer: a is dead once fc1 has read it
  const int hidden_normed = g.add_tensor(T, H, b_b);   // scale_mlp's norm of it: gate_value is dead by then

  Node pe;
  pe.op = Op::PatchEmbed;
  pe.x = g.images;
  pe.y = x;
  pe.linear = &w.patch_embed;
  pe.role = LinearRole::PatchEmbed;
  pe.patch = {1, d.channels, d.img_h, d.img_w, d.patch, D};
  pe.first_token = P;
  g.add(pe);
  Node e;
  e.op = Op::EmbedTokens;
  e.y = x;
  e.prefix = P ? g.own(w.prefix_tokens()) : nullptr;
  e.prefix_rows = P;
  e.pos = &w.pos_embed;
  e.pos_rows = d.pos_rows;
  g.add(e);

  for (int l = 0; l < d.depth; ++l) {
    const BlockWeights& blk = w.blocks[l];
    g.layernorm(x, &blk.norm1, a, eps);
    g.linear(a, &blk.qkv, qkv, ops::Epilogue::None, LinearRole::Qkv);
    if (!w.rope_sin.empty()) {
      Node r;
      r.op = Op::Rope;
      r.y = qkv;
      r.heads = d.heads;
      r.head_dim = d.head_dim;
      r.prefix_rows = P;
      r.rope_sin = &w.rope_sin;
      r.rope_cos = &w.rope_cos;
      r.rotate_half = model.config.eva.rope_rotate_half;
      g.add(r);
    }
    Node at;
    at.op = Op::Attention;
    at.x = qkv;
    at.y = a;
    at.heads = d.heads;
    at.head_dim = d.head_dim;
    at.explain = l;
    g.add(at);
    g.linear(a, blk.ls1.empty() ? &blk.proj : g.own(fold_scale(blk.proj, blk.ls1)), x, ops::Epilogue::Residual,
             LinearRole::Proj);
    g.layernorm(x, &blk.norm2, a, eps);
    g.linear(a, &blk.fc1, gate_value, ops::Epilogue::None, LinearRole::Fc1);
    Node glu;
    glu.op = Op::Glu;
    glu.x = gate_value;
    glu.y = hidden;
    g.add(glu);
    int mlp_out = hidden;
    if (!blk.mlp_norm.weight.empty()) {
      g.layernorm(hidden, &blk.mlp_norm, hidden_normed, eps);
      mlp_out = hidden_normed;
    }
    g.linear(mlp_out, blk.ls2.empty() ? &blk.fc2 : g.own(fold_scale(blk.fc2, blk.ls2)), x, ops::Epilogue::Residual,
             LinearRole::Fc2);
  }
  g.layers = d.depth;
  g.map_tokens = T;

  // The final norm (token pooling's) over every token, rows at an aligned stride so that single rows bind on
  // their own; it lives in the qkv / MLP buffer, dead after the last block.
  int tokens = x;
  if (!w.norm.weight.empty()) {
    tokens = g.add_tensor(T, D, b_b, aligned_ld(D));
    g.layernorm(x, &w.norm, tokens, eps);
  }
  auto mean_rows = [&](int in, int buffer) {
    const int out = g.add_tensor(1, D, buffer);
    Node n;
    n.op = Op::TokenMean;
    n.x = in;
    n.y = out;
    g.add(n);
    return out;
  };
  const int b_out = g.add_buffer(true);
  const bool fc_norm = !w.fc_norm.weight.empty();
  // The pooled row: the class token, or the mean of the patch tokens (the prefix left out, as timm's
  // global_pool_nlc). Without fc_norm it is the embedding, copied into the read-back buffer as a mean of one row.
  int pooled;
  if (d.pool == "token") {
    pooled = g.view(tokens, 0, 1, 0, D);
    if (!fc_norm) pooled = mean_rows(pooled, b_out);
  } else {
    pooled = mean_rows(P ? g.view(tokens, P, N, 0, D) : tokens, fc_norm ? g.add_buffer() : b_out);
  }
  if (fc_norm) {
    const int normed = g.add_tensor(1, D, b_out);
    g.layernorm(pooled, &w.fc_norm, normed, eps);
    pooled = normed;
  }
  g.features = pooled;
  if (d.num_classes) {
    g.logits = g.add_tensor(1, d.num_classes, g.add_buffer(true));
    g.linear(pooled, &w.head, g.logits, ops::Epilogue::None, LinearRole::Head);
  }
  return g;
}

}  // namespace vitvk::graph
