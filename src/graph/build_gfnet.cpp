// GFNet (non-hierarchical) as a graph:
//   x = patch_embed(image) + pos_embed
//   per block: x = x + fc2(gelu(fc1(norm2(global_filter(norm1(x))))))   (one residual)
//   logits = head(mean over tokens of norm(x))
#include "graph/graph.hpp"

namespace vitvk::graph {

Graph build_gfnet(const Model& model) {
  const ModelDims& d = model.dims;
  const GFNetWeights& w = model.gfnet;
  const int N = d.num_patches, D = d.dim;
  Graph g;
  g.family = "gfnet";
  const int b_images = g.add_buffer(), b_work = g.add_buffer(), b_x = g.add_buffer(), b_a = g.add_buffer(),
            b_f = g.add_buffer();
  g.images = g.add_tensor(d.channels, d.img_h * d.img_w, b_images);
  const int x = g.add_tensor(N, D, b_x), a = g.add_tensor(N, D, b_a), f = g.add_tensor(N, D, b_f);
  // The MLP hidden layer shares its buffer with the filter's GPU work space (never live at the same time).
  const int hidden = g.add_tensor(N, d.mlp_hidden, b_work);

  Node pe;
  pe.op = Op::PatchEmbed;
  pe.x = g.images;
  pe.y = x;
  pe.linear = &w.patch_embed;
  pe.patch = {1, d.channels, d.img_h, d.img_w, d.patch, D};
  g.add(pe);
  Node e;
  e.op = Op::EmbedTokens;
  e.y = x;
  e.pos = &w.pos_embed;
  e.pos_rows = N;
  g.add(e);
  for (const GFNetBlockWeights& blk : w.blocks) {
    g.layernorm(x, &blk.norm1, a, d.ln_eps);
    Node s;
    s.op = Op::SpectralFilter;
    s.x = a;
    s.y = f;
    s.filter = &blk.filter;
    s.spectral = {1, d.grid_h, d.grid_w, D};
    s.scratch = b_work;
    g.add(s);
    g.layernorm(f, &blk.norm2, a, d.ln_eps);
    g.linear(a, &blk.fc1, hidden, ops::Epilogue::Gelu);
    g.linear(hidden, &blk.fc2, x, ops::Epilogue::Residual);
  }
  g.layernorm(x, &w.norm, a, d.ln_eps);
  const int pooled = g.add_tensor(1, D, g.add_buffer(true));
  Node m;
  m.op = Op::TokenMean;
  m.x = a;
  m.y = pooled;
  g.add(m);
  g.features = pooled;
  g.map_tokens = N;  // the sequence length results report (no attention maps: layers 0)
  g.logits = g.add_tensor(1, d.num_classes, g.add_buffer(true));
  g.linear(pooled, &w.head, g.logits, ops::Epilogue::None);
  return g;
}

}  // namespace vitvk::graph
