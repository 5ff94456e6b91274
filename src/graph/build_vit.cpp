// timm VisionTransformer as a graph: every switch that changes the forward pass, decided at load (model.cpp).
//   x = patch_embed(image); prefix tokens (class, registers, distillation) and pos_embed; [norm_pre]
//   per block: x += ls1 * proj(attention(qk_norm(qkv(norm1(x))) [+ BEiT's relative position bias]));
//              x += ls2 * fc2(act(fc1(norm2(x))))
//   pool: class token after the final norm | mean of the patch tokens (final norm before it, or fc_norm after)
//         | the attention-pool head (map); then head (absent without a classifier).
#include <algorithm>
#include <cmath>

#include "graph/graph.hpp"
#include "vitvk/error.hpp"

namespace vitvk::graph {
namespace {

// y += g * (x W^T + b) as one linear: W and b scaled per output row (layer scale folded at build time; the
// products round once more than timm's, far below the 1e-4 tolerance).
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

LinearWeights scaled(const LinearWeights& l, float f) {
  LinearWeights s = l;
  for (auto& v : s.weight) v *= f;
  for (auto& v : s.qscale) v *= f;
  for (auto& v : s.bias) v *= f;
  return s;
}

ops::Activation activation_of(MlpActivation a) {
  switch (a) {
    case MlpActivation::Gelu: return ops::Activation::Gelu;
    case MlpActivation::GeluTanh: return ops::Activation::GeluTanh;
    case MlpActivation::QuickGelu: return ops::Activation::QuickGelu;
  }
  return ops::Activation::Gelu;
}

}  // namespace

Graph build_vit(const Model& model) {
  const ModelDims& d = model.dims;
  const ViTWeights& w = model.weights;
  const int T = d.tokens, D = d.dim, P = d.prefix, N = d.num_patches;
  if (w.norm.weight.empty() && w.fc_norm.weight.empty())
    throw Error(ErrorCode::Unsupported, model.config.architecture + ": a ViT without a final norm is not supported");
  Graph g;
  g.family = d.family == ModelFamily::BEiT ? "beit" : "vit";
  const int b_images = g.add_buffer(), b_x = g.add_buffer(), b_a = g.add_buffer(), b_b = g.add_buffer();
  g.images = g.add_tensor(d.channels, d.img_h * d.img_w, b_images);
  const int x = g.add_tensor(T, D, b_x);
  const int a = g.add_tensor(T, D, b_a);  // norm outputs, then the attention output
  const int qkv = g.add_tensor(T, 3 * D, b_b);
  const int hidden = g.add_tensor(T, d.mlp_hidden, b_b);  // never live with qkv
  const float eps = d.ln_eps;
  const ops::Activation act = activation_of(d.act);

  // fc1 + activation (exact GELU fused as the epilogue; the others a pass of their own).
  auto mlp_in = [&](int in, const LinearWeights* fc1, int out, LinearRole role) {
    g.linear(in, fc1, out, act == ops::Activation::Gelu ? ops::Epilogue::Gelu : ops::Epilogue::None, role);
    if (act != ops::Activation::Gelu) {
      Node n;
      n.op = Op::Activation;
      n.y = out;
      n.act = act;
      g.add(n);
    }
  };

  // Embedding: into x, or into a when norm_pre (CLIP) then normalises it into x.
  const bool pre = !w.norm_pre.weight.empty();
  {
    Node n;
    n.op = Op::PatchEmbed;
    n.x = g.images;
    n.y = pre ? a : x;
    n.linear = &w.patch_embed;
    n.role = LinearRole::PatchEmbed;
    n.patch = {1, d.channels, d.img_h, d.img_w, d.patch, D};
    n.first_token = P;
    g.add(n);
    Node e;
    e.op = Op::EmbedTokens;
    e.y = n.y;
    e.prefix = P ? g.own(w.prefix_tokens()) : nullptr;
    e.prefix_rows = P;
    e.pos = &w.pos_embed;
    e.pos_rows = d.pos_rows;
    g.add(e);
    if (pre) g.layernorm(a, &w.norm_pre, x, eps);
  }

  for (int l = 0; l < d.depth; ++l) {
    const BlockWeights& blk = w.blocks[l];
    g.layernorm(x, &blk.norm1, a, eps);
    g.linear(a, &blk.qkv, qkv, ops::Epilogue::None, LinearRole::Qkv);
    if (!blk.q_norm.weight.empty()) {
      Node n;
      n.op = Op::QkNorm;
      n.y = qkv;
      n.norm = &blk.q_norm;
      n.norm2 = &blk.k_norm;
      n.eps = eps;
      n.heads = d.heads;
      n.head_dim = d.head_dim;
      g.add(n);
    }
    Node at;
    at.op = Op::Attention;
    at.x = qkv;
    at.y = a;
    at.heads = d.heads;
    at.head_dim = d.head_dim;
    at.explain = l;
    if (!blk.rel_pos_bias.empty()) {  // BEiT: the relative position bias, one [heads, tokens, tokens] term
      at.bias = &blk.rel_pos_bias;
      at.bias_groups = 1;
    }
    g.add(at);
    g.linear(a, blk.ls1.empty() ? &blk.proj : g.own(fold_scale(blk.proj, blk.ls1)), x, ops::Epilogue::Residual,
           LinearRole::Proj);
    g.layernorm(x, &blk.norm2, a, eps);
    mlp_in(a, &blk.fc1, hidden, LinearRole::Fc1);
    g.linear(hidden, blk.ls2.empty() ? &blk.fc2 : g.own(fold_scale(blk.fc2, blk.ls2)), x, ops::Epilogue::Residual,
           LinearRole::Fc2);
  }
  g.layers = d.depth;
  g.map_tokens = T;

  // The final norm over every token into `fin`, rows padded to an aligned stride: the head reads single rows of
  // it (class, distillation token), and each must bind on its own. Only the prefix rows would be needed for token
  // pooling; normalising all T costs about one LayerNorm of a block, under 0.2 % of a ViT-Ti pass. fin lives in
  // the qkv / hidden buffer, dead after the last block.
  const int b_out = g.add_buffer(true);
  auto mean_rows = [&](int in, int buffer) {
    const int out = g.add_tensor(1, D, buffer);
    Node n;
    n.op = Op::TokenMean;
    n.x = in;
    n.y = out;
    g.add(n);
    return out;
  };
  int tokens = x;  // the token rows the pool reads, final norm applied where the model has one
  if (!w.norm.weight.empty()) {
    tokens = g.add_tensor(T, D, b_b, aligned_ld(D));
    g.layernorm(x, &w.norm, tokens, eps);
  }
  int pooled = -1;
  if (d.pool == "token") {
    const int dist = P - (d.class_token ? 1 : 0) - d.reg_tokens;
    const int cls = g.view(tokens, 0, 1, 0, D);
    // The embedding: the class token (distilled: the mean of the class and distillation tokens, as timm's
    // pre_logits), copied into the read-back buffer as a mean of one or two rows.
    g.features = mean_rows(g.view(tokens, 0, dist ? 2 : 1, 0, D), b_out);
    if (d.num_classes) {
      g.logits = g.add_tensor(1, d.num_classes, g.add_buffer(true));
      if (dist) {
        // DeiT distilled: logits = (head(cls) + head_dist(dist)) / 2 as two linears into one output, each
        // scaled by 1/2 (exact in floating point), the second accumulating.
        g.linear(cls, g.own(scaled(w.head, 0.5f)), g.logits, ops::Epilogue::None, LinearRole::Head);
        g.linear(g.view(tokens, 1, 1, 0, D), g.own(scaled(w.head_dist, 0.5f)), g.logits, ops::Epilogue::Residual,
               LinearRole::Head);
      } else {
        g.linear(cls, &w.head, g.logits, ops::Epilogue::None, LinearRole::Head);
      }
    }
    return g;
  }

  const int patches = P ? g.view(tokens, P, N, 0, D) : tokens;
  const int b_pooled = w.fc_norm.weight.empty() ? b_out : g.add_buffer();
  if (d.pool == "avg") {
    pooled = mean_rows(patches, b_pooled);
  } else {  // map: SigLIP's attention pool over the patch tokens (timm leaves the prefix out)
    if (P && w.norm.weight.empty())
      throw Error(ErrorCode::Unsupported, model.config.architecture + ": an attention-pool head over prefix tokens "
                                                                      "without a final norm is not supported");
    const AttnPoolWeights& ap = w.attn_pool;
    // The latent query is a constant: q = q_proj(latent) is folded, once, into a qkv projection whose q rows have
    // zero weights and q as their bias, so the existing attention kernel runs it (every query row the same; row 0
    // is read). Costs one attention layer's work over N query rows instead of 1, once per image.
    LinearWeights fused;
    fused.out = 3 * D;
    fused.in = D;
    fused.weight.assign(std::size_t(3) * D * D, 0.f);
    fused.bias.assign(std::size_t(3) * D, 0.f);
    for (int n = 0; n < D; ++n) {
      double q = ap.q.bias[n];
      for (int k = 0; k < D; ++k) q += double(ap.q.weight[std::size_t(n) * D + k]) * ap.latent[k];
      fused.bias[n] = static_cast<float>(q);
    }
    std::copy(ap.kv.weight.begin(), ap.kv.weight.end(), fused.weight.begin() + std::size_t(D) * D);
    std::copy(ap.kv.bias.begin(), ap.kv.bias.end(), fused.bias.begin() + D);
    // Its qkv in the x buffer (the residual stream is dead once fin holds the normed tokens), its output in a.
    const int pool_qkv = g.add_tensor(N, 3 * D, tokens == x ? g.add_buffer() : b_x), pool_attn = g.add_tensor(N, D, b_a);
    g.linear(patches, g.own(std::move(fused)), pool_qkv, ops::Epilogue::None);
    Node at;
    at.op = Op::Attention;
    at.x = pool_qkv;
    at.y = pool_attn;
    at.heads = d.heads;
    at.head_dim = d.head_dim;
    at.explain = Node::kPoolMap;
    g.add(at);
    g.pool_keys = N;
    pooled = g.add_tensor(1, D, b_pooled);
    g.linear(g.view(pool_attn, 0, 1, 0, D), &ap.proj, pooled, ops::Epilogue::None);
    const int pn = g.add_tensor(1, D, g.add_buffer()), ph = g.add_tensor(1, ap.fc1.out, g.add_buffer());
    g.layernorm(pooled, &ap.norm, pn, eps);
    mlp_in(pn, &ap.fc1, ph, LinearRole::Other);  // the pool's MLP stays fp32 under int8, like the rest of the head
    g.linear(ph, &ap.fc2, pooled, ops::Epilogue::Residual);
  }
  if (!w.fc_norm.weight.empty()) {
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
