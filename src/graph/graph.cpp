#include "graph/graph.hpp"

#include <algorithm>

#include "vitvk/error.hpp"

namespace vitvk::graph {

const char* to_string(Op op) noexcept {
  switch (op) {
    case Op::PatchEmbed: return "patch_embed";
    case Op::EmbedTokens: return "embed_tokens";
    case Op::LayerNorm: return "layernorm";
    case Op::Linear: return "linear";
    case Op::Activation: return "activation";
    case Op::QkNorm: return "qk_norm";
    case Op::Attention: return "attention";
    case Op::SpectralFilter: return "spectral_filter";
    case Op::TokenMean: return "token_mean";
    case Op::Rope: return "rope";
    case Op::Glu: return "glu";
    case Op::Window: return "window";
  }
  return "?";
}

int Graph::add_buffer(bool output) {
  buffers.push_back({0, output});
  return static_cast<int>(buffers.size()) - 1;
}

int Graph::add_tensor(int rows, int cols, int buffer, int ld) {
  if (ld == 0) ld = cols;
  if (rows < 1 || cols < 1 || ld < cols || buffer < 0 || buffer >= static_cast<int>(buffers.size()))
    throw Error(ErrorCode::Internal, "graph: bad tensor");
  Buffer& b = buffers[buffer];
  b.floats = std::max(b.floats, std::size_t(rows) * ld);
  tensors.push_back({rows, cols, ld, buffer, -1, 0, 0});
  return static_cast<int>(tensors.size()) - 1;
}

int Graph::view(int base, int row0, int rows, int col0, int cols) {
  const Tensor& t = tensors.at(base);
  if (t.base >= 0) throw Error(ErrorCode::Internal, "graph: a view of a view");
  if (row0 < 0 || col0 < 0 || rows < 1 || cols < 1 || row0 + rows > t.rows || col0 + cols > t.cols)
    throw Error(ErrorCode::Internal, "graph: view out of its tensor");
  tensors.push_back({rows, cols, 0, -1, base, row0, col0});
  return static_cast<int>(tensors.size()) - 1;
}

const LinearWeights* Graph::own(LinearWeights l) { return &own_linears.emplace_back(std::move(l)); }
const std::vector<float>* Graph::own(std::vector<float> v) { return &own_vectors.emplace_back(std::move(v)); }

bool quantizes(const Int8Layers& q, LinearRole role) {
  switch (role) {
    case LinearRole::PatchEmbed: return q.patch_embed;
    case LinearRole::Qkv: return q.qkv;
    case LinearRole::Proj: return q.proj;
    case LinearRole::Fc1: return q.fc1;
    case LinearRole::Fc2: return q.fc2;
    case LinearRole::Head: return q.head;
    case LinearRole::Other: return false;
  }
  return false;
}

Node& Graph::add(Node n) {
  nodes.push_back(std::move(n));
  return nodes.back();
}

void Graph::layernorm(int x, const NormWeights* norm, int y, float eps) {
  Node n;
  n.op = Op::LayerNorm;
  n.x = x;
  n.y = y;
  n.norm = norm;
  n.eps = eps;
  add(n);
}

void Graph::linear(int x, const LinearWeights* l, int y, ops::Epilogue ep, LinearRole role) {
  Node n;
  n.op = Op::Linear;
  n.role = role;
  n.x = x;
  n.y = y;
  n.linear = l;
  n.epilogue = ep;
  add(n);
}

Layout Graph::layout(int id) const {
  const Tensor& t = tensors.at(id);
  const Tensor& root = t.base >= 0 ? tensors.at(t.base) : t;
  Layout l;
  l.buffer = root.buffer;
  l.row_stride = root.ld;
  l.image_stride = long(root.rows) * root.ld;
  l.offset = std::size_t(t.base >= 0 ? t.row0 : 0) * root.ld + (t.base >= 0 ? t.col0 : 0);
  l.rows = t.rows;
  l.cols = t.cols;
  return l;
}

void Graph::validate() const {
  auto fail = [&](const Node& n, const char* what) {
    throw Error(ErrorCode::Internal, std::string("graph (") + family + "): " + to_string(n.op) + " node: " + what);
  };
  for (const Node& n : nodes) {
    if (n.y < 0 || n.y >= static_cast<int>(tensors.size())) fail(n, "no output tensor");
    const Layout y = layout(n.y);
    const Layout x = n.x >= 0 ? layout(n.x) : y;
    switch (n.op) {
      case Op::Linear:
        if (!n.linear || n.linear->in != x.cols || n.linear->out != y.cols || x.rows != y.rows) fail(n, "shape");
        break;
      case Op::LayerNorm:
        if (!n.norm || x.cols != y.cols || x.rows != y.rows || int(n.norm->weight.size()) != x.cols) fail(n, "shape");
        break;
      case Op::Attention: {
        if (x.cols != 3 * n.heads * n.head_dim || y.cols != n.heads * n.head_dim || x.rows != y.rows ||
            x.row_stride != x.cols || y.row_stride != y.cols || x.offset || y.offset)
          fail(n, "attention reads a whole [tokens, 3 dim] tensor and writes a whole [tokens, dim] one");
        if (n.tokens < 0 || (n.tokens > 0 && x.rows % n.tokens != 0))
          fail(n, "its rows are not a whole number of attention problems of `tokens` rows");
        const std::size_t T = n.tokens > 0 ? n.tokens : x.rows;
        if ((n.bias != nullptr) != (n.bias_groups > 0) ||
            (n.bias && n.bias->size() != std::size_t(n.bias_groups) * n.heads * T * T))
          fail(n, "the bias is not [bias_groups, heads, tokens, tokens]");
        // A problem's group then depends on its window alone, not on where a backend's pass of images starts
        // (Swin: one group per window of its shifted-window mask, or 1; ViT-style attention: 1).
        if (n.bias && (x.rows / T) % n.bias_groups != 0)
          fail(n, "bias_groups must divide the attention problems per image");
        // The explain maps are [tokens, tokens] per image (rollout); windowed attention has no such map.
        if (n.explain != -1 && n.tokens > 0 && n.tokens != x.rows)
          fail(n, "explain maps need attention over all rows of an image (tokens 0)");
        break;
      }
      case Op::QkNorm:
        if (y.cols != 3 * n.heads * n.head_dim || y.row_stride != y.cols || y.offset || !n.norm || !n.norm2) fail(n, "shape");
        break;
      case Op::TokenMean:
        if (y.rows != 1 || x.cols != y.cols) fail(n, "shape");
        break;
      case Op::Activation:
        if (y.offset || y.row_stride != y.cols) fail(n, "in place over a whole tensor only");
        break;
      case Op::EmbedTokens:
        if (y.offset || y.row_stride != y.cols || n.prefix_rows + 0 > y.rows || n.pos_rows > y.rows) fail(n, "shape");
        break;
      case Op::PatchEmbed:
        if (!n.linear || y.offset || y.cols != n.patch.dim || n.first_token + n.patch.num_patches() > y.rows) fail(n, "shape");
        break;
      case Op::Rope: {
        const std::size_t table = std::size_t(y.rows - n.prefix_rows) * n.head_dim;
        if (y.offset || y.row_stride != y.cols || y.cols != 3 * n.heads * n.head_dim || n.head_dim % 2 ||
            n.prefix_rows < 0 || n.prefix_rows >= y.rows || !n.rope_sin || !n.rope_cos || n.rope_sin->size() != table ||
            n.rope_cos->size() != table)
          fail(n, "in place over a whole [tokens, 3 dim] tensor, tables of [tokens - prefix, head_dim]");
        break;
      }
      case Op::Glu:
        if (x.offset || y.offset || x.row_stride != x.cols || y.row_stride != y.cols || x.cols != 2 * y.cols ||
            x.rows != y.rows)
          fail(n, "whole tensors, x [rows, 2h] into y [rows, h]");
        break;
      case Op::Window:
        if (tensors[n.x].base >= 0 || tensors[n.y].base >= 0 || x.buffer == y.buffer || x.row_stride != x.cols ||
            y.row_stride != y.cols || n.window.batch != 1 ||
            x.rows != ops::window_in_rows(n.window, n.window_mode) || x.cols != n.window.channels ||
            y.rows != ops::window_out_rows(n.window, n.window_mode) || y.cols != ops::window_out_cols(n.window, n.window_mode))
          fail(n, "window ops read and write whole root tensors of the shape's rows, in different buffers");
        break;
      case Op::SpectralFilter:
        if (!n.filter || x.offset || y.offset || x.rows != n.spectral.tokens() || y.cols != n.spectral.channels) fail(n, "shape");
        break;
    }
  }
}

std::vector<RowCall> row_calls(const Layout& x, const Layout& y, int batch) {
  // Rows of all images at one stride: the view spans its tensor's rows (or there is one image / one row).
  auto uniform = [&](const Layout& l, long& stride) {
    if (l.rows == 1) stride = l.image_stride;
    else if (batch == 1 || l.image_stride == long(l.rows) * l.row_stride) stride = l.row_stride;
    else return false;
    return true;
  };
  long xs = 0, ys = 0;
  if (uniform(x, xs) && uniform(y, ys)) return {{x.offset, y.offset, batch * x.rows, xs, ys}};
  std::vector<RowCall> calls;
  if (x.rows <= batch) {
    for (int r = 0; r < x.rows; ++r)
      calls.push_back({x.offset + std::size_t(r) * x.row_stride, y.offset + std::size_t(r) * y.row_stride, batch,
                       x.image_stride, y.image_stride});
  } else {
    for (int b = 0; b < batch; ++b)
      calls.push_back({x.offset + std::size_t(b) * x.image_stride, y.offset + std::size_t(b) * y.image_stride, x.rows,
                       x.row_stride, y.row_stride});
  }
  return calls;
}

Graph build(const Model& model) {
  Graph g = model.dims.family == ModelFamily::GFNet  ? build_gfnet(model)
            : model.dims.family == ModelFamily::Eva  ? build_eva(model)
            : model.dims.family == ModelFamily::Swin ? build_swin(model)
                                                     : build_vit(model);
  g.validate();
  return g;
}

}  // namespace vitvk::graph
