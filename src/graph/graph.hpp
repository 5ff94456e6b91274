#pragma once
// The forward pass as data (ggml's cgraph / ncnn's param graph are the models): tensors, weights and an ordered
// list of op nodes that a family's builder emits (build_vit.cpp, build_gfnet.cpp, build_eva.cpp, build_swin.cpp) and that each backend runs
// with its own kernels (engine/cpu_backend.cpp, engine/vulkan_backend.cpp). Adding a family touches its builder
// and the homes of any new op, no backend code.
//
// Tensors are per image: [rows, cols], stored [batch, rows, cols] from the start of their buffer. Several tensors
// may share one buffer where the builder knows they are never live together (a buffer is as large as its largest
// tensor), which is how a pass keeps the few activation buffers it always had. A view is a window of rows and
// columns into a root tensor (e.g. the prefix rows, the patch rows, one head's columns).
#include <deque>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "model/quantize.hpp"
#include "ops/activation.hpp"
#include "ops/gemm.hpp"
#include "ops/patch_embed.hpp"
#include "ops/spectral_filter.hpp"
#include "ops/window.hpp"

namespace vitvk::graph {

struct Buffer {
  std::size_t floats = 0;  // per image: the largest tensor it holds
  bool output = false;     // read back after the pass (features, logits)
};

struct Tensor {
  int rows = 0, cols = 0;  // per image
  int ld = 0;              // root tensors: row stride in elements (>= cols; padded so that row views bind aligned)
  int buffer = -1;         // root tensors
  int base = -1;           // views: the root tensor they look into
  int row0 = 0, col0 = 0;  // views: where
};

// Where a tensor's elements are, relative to its buffer's start: element (b, r, c) is at
// offset + b * image_stride + r * row_stride + c.
struct Layout {
  int buffer = -1;
  std::size_t offset = 0;
  long row_stride = 0, image_stride = 0;
  int rows = 0, cols = 0;
};

enum class Op {
  PatchEmbed,      // y rows [first_token, first_token + patches) = conv(images)      (w: linear [dim, C*P*P])
  EmbedTokens,     // y rows [0, prefix) = prefix tokens, + pos over the last pos_rows rows (in place)
  LayerNorm,       // y = norm(x) row-wise
  Linear,          // y = epilogue(x W^T + b)
  Activation,      // x = act(x) in place (non-GELU MLP activations)
  QkNorm,          // LayerNorm over head_dim of q and k inside a qkv tensor, in place
  Attention,       // y = attention(qkv [+ bias]), over all rows or over groups of `tokens` rows (windows)
  SpectralFilter,  // y = global filter(x) over the patch grid
  TokenMean,       // y (one row) = mean of x's rows
  Rope,            // rotary position embedding on q and k of a qkv tensor's rows >= prefix_rows, in place
  Glu,             // y = silu(x[:, :h]) * x[:, h:] (SwiGLU's gating; x is [rows, 2h])
  Window,          // Swin's token permutations (ops/window.hpp): y = partition(x) | y += reverse(x) | y = merge(x)
};
const char* to_string(Op op) noexcept;

// Which of a model's linear layers a node runs (int8 precision quantizes by role, on either backend).
enum class LinearRole { Other, PatchEmbed, Qkv, Proj, Fc1, Fc2, Head };
// Whether int8 precision quantizes a node of this role at load (q: int8_layers()).
bool quantizes(const Int8Layers& q, LinearRole role);

struct Node {
  Op op = Op::Linear;
  LinearRole role = LinearRole::Other;  // PatchEmbed, Linear
  int x = -1, y = -1;  // tensors; Residual linears and in-place ops read y as well
  const LinearWeights* linear = nullptr;  // PatchEmbed, Linear
  const NormWeights* norm = nullptr;      // LayerNorm; QkNorm: q's (k's in norm2)
  const NormWeights* norm2 = nullptr;
  const std::vector<float>* prefix = nullptr;  // EmbedTokens: [prefix, dim]
  const std::vector<float>* pos = nullptr;     // EmbedTokens: [pos_rows, dim]
  const std::vector<float>* filter = nullptr;  // SpectralFilter: complex_weight [h, w/2+1, dim, 2]
  const std::vector<float>* bias = nullptr;  // Attention: additive score term [bias_groups, heads, tokens, tokens], fp32
  int bias_groups = 0;                        // problem b (image-major, then window) adds group b % bias_groups
                                              // (validate: bias_groups divides the problems per image)
  int tokens = 0;                             // Attention: rows per attention problem; 0 = all rows of x (ViT). Swin: the window area
  ops::Epilogue epilogue = ops::Epilogue::None;
  ops::Activation act = ops::Activation::Gelu;
  float eps = 1e-6f;
  int heads = 0, head_dim = 0;  // Attention, QkNorm, Rope
  int prefix_rows = 0, pos_rows = 0;  // EmbedTokens; Rope: prefix_rows, the tokens it leaves alone
  const std::vector<float>* rope_sin = nullptr;  // Rope: [rows - prefix_rows, head_dim] each (ops/rope.hpp)
  const std::vector<float>* rope_cos = nullptr;
  bool rotate_half = false;                      // Rope: the pair layout
  ops::PatchEmbedShape patch;        // PatchEmbed (batch 1: per image)
  int first_token = 0;               // PatchEmbed
  ops::SpectralShape spectral;       // SpectralFilter (batch 1)
  ops::WindowShape window;           // Window (batch 1: per image)
  ops::WindowMode window_mode = ops::WindowMode::Partition;
  int scratch = -1;                  // SpectralFilter: a buffer the GPU form may use as work space
  // Attention in explain mode: where its head-fused maps go. Block attention: its layer (ForwardResult::attention);
  // kPoolMap: the attention-pool head (ForwardResult::pool_attention, its one query row).
  int explain = -1;
  static constexpr int kPoolMap = -2;
};

struct Graph {
  std::string family;  // for messages
  std::vector<Buffer> buffers;
  std::vector<Tensor> tensors;
  std::vector<Node> nodes;
  std::deque<LinearWeights> own_linears;  // weights the builder derived (folded layer scale, scaled heads)
  std::deque<std::vector<float>> own_vectors;
  int images = -1;    // input tensor: per image [channels, height * width]
  int features = -1;  // one row: the pre-head embedding
  int logits = -1;    // one row of num_classes, or -1 without a classifier
  int layers = 0;     // attention maps in explain mode (0: the family has none)
  int map_tokens = 0;  // their size: [map_tokens, map_tokens]
  int pool_keys = 0;   // > 0: the map head's attention over this many tokens is an explain output too

  int add_buffer(bool output = false);
  int add_tensor(int rows, int cols, int buffer, int ld = 0);  // buffer grows to hold it; ld 0: cols
  int view(int base, int row0, int rows, int col0, int cols);
  const LinearWeights* own(LinearWeights l);
  const std::vector<float>* own(std::vector<float> v);
  Node& add(Node n);
  // The nodes every family emits: y = LayerNorm(x), y = epilogue(x W^T + b).
  void layernorm(int x, const NormWeights* norm, int y, float eps);
  void linear(int x, const LinearWeights* l, int y, ops::Epilogue ep, LinearRole role = LinearRole::Other);

  Layout layout(int tensor) const;
  // Checks every node's shapes (a builder bug is an Error(Internal), not a wrong result).
  void validate() const;
};

// A row stride for tensors whose row views are bound on their own (a descriptor's offset must be a multiple of
// the device's minStorageBufferOffsetAlignment, at most 256 bytes): cols rounded up to 64 elements. ViT widths
// (192, 384, 768, ...) need no padding; the zoo's tiny test widths do.
inline int aligned_ld(int cols) { return (cols + 63) / 64 * 64; }

// A row-wise op over `batch` images: as few calls as the layouts allow. One call when every image's rows sit at
// one stride in both x and y; else one call per row (M = batch, image strides) or per image (M = rows).
struct RowCall {
  std::size_t x_offset = 0, y_offset = 0;  // elements, relative to the buffers' starts
  int rows = 0;
  long x_stride = 0, y_stride = 0;
};
std::vector<RowCall> row_calls(const Layout& x, const Layout& y, int batch);

// The graph of a model's family (ViT: build_vit.cpp, GFNet: build_gfnet.cpp, EVA-02: build_eva.cpp, Swin:
// build_swin.cpp; BEiT
// shares build_vit).
Graph build(const Model& model);
Graph build_vit(const Model& model);
Graph build_gfnet(const Model& model);
Graph build_eva(const Model& model);
Graph build_swin(const Model& model);

}  // namespace vitvk::graph
