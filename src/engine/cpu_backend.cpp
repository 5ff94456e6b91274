// The CPU forward pass of any graph (graph/graph.hpp): fast enough to be worth choosing, and still the fp32
// oracle every GPU test compares against. One level of threads: our own workers (cpu_workers.hpp) split each op into tiles (cpu_partition.hpp)
// and run single-threaded kernels per tile — the packed GEMM (ops/cpu_gemm.hpp) for the linears and attention
// on AVX2/AVX-512 CPUs, OpenBLAS elsewhere (its own pthread pool on top would oversubscribe the cores, and it
// cannot fuse epilogues).
#include <cblas.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <thread>

#include "engine/backend.hpp"
#include "engine/cpu_partition.hpp"
#include "engine/cpu_workers.hpp"
#include "graph/graph.hpp"
#include "ops/activation.hpp"
#include "ops/attention.hpp"
#include "model/quantize.hpp"
#include "ops/cpu_gemm.hpp"
#include "ops/cpu_gemm_int8.hpp"
#include "ops/cpu_kernels.hpp"
#include "ops/embed.hpp"
#include "ops/gemm.hpp"
#include "ops/glu.hpp"
#include "ops/layernorm.hpp"
#include "ops/qk_norm.hpp"
#include "ops/rope.hpp"
#include "ops/softmax.hpp"
#include "ops/spectral_filter.hpp"
#include "ops/token_mean.hpp"
#include "ops/window.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

int thread_count() {
  if (const char* env = std::getenv("VITVK_CPU_THREADS")) {
    const int n = std::atoi(env);
    if (n < 1 || n > 1024)
      throw Error(ErrorCode::InvalidArgument, std::string("VITVK_CPU_THREADS must be 1..1024, got '") + env + "'");
    return n;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Which GEMM runs the linear layers: VITVK_CPU_GEMM=packed (our kernel on weights packed at load), blas
// (OpenBLAS on the weights as loaded) or auto (default: packed where it measured faster).
enum class GemmChoice { Auto, Packed, Blas };
GemmChoice gemm_choice() {
  const char* env = std::getenv("VITVK_CPU_GEMM");
  if (!env || std::string(env) == "auto") return GemmChoice::Auto;
  if (std::string(env) == "packed") return GemmChoice::Packed;
  if (std::string(env) == "blas") return GemmChoice::Blas;
  throw Error(ErrorCode::InvalidArgument, std::string("VITVK_CPU_GEMM must be auto, packed or blas, got '") + env + "'");
}

// A linear layer's weights as loaded (for OpenBLAS) and the backend's packed copy (for ops::packed_linear_tile),
// or in int8 precision its int8 form (for ops::int8_gemm_tile).
struct CpuLinear {
  const LinearWeights* w = nullptr;
  ops::PackedLinear packed;    // empty where the packed kernel is not used
  ops::PackedLinearInt8 int8;  // empty but for int8 layers
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(std::shared_ptr<const Model> model, graph::Graph graph, bool int8)
      : model_(std::move(model)), graph_(std::move(graph)), workers_(thread_count()), gemm_(gemm_choice()),
        int8_(int8), int8_group_(int8 ? int8_run_group(*model_) : 0) {
    // Process-wide, but every CPU-side GEMM of the library is issued from tiles like ours: OpenBLAS's own
    // threads would only compete with the workers for the same cores.
    openblas_set_num_threads(1);
    // Our copy of the weights in the packed kernel's layout, made once here (the Model keeps its own).
    // int8: which layers are quantized here (fp32 in the model); those the model holds as int8 run as int8.
    const Int8Layers q = int8_ ? int8_layers() : Int8Layers::none();
    linears_.resize(graph_.nodes.size());
    for (std::size_t i = 0; i < graph_.nodes.size(); ++i)
      if (graph_.nodes[i].linear) linears_[i] = make_linear(*graph_.nodes[i].linear, graph::quantizes(q, graph_.nodes[i].role));
  }

  BackendKind kind() const override { return BackendKind::Cpu; }
  std::string name() const override { return "cpu"; }
  std::string device_name() const override {
    return "CPU (" + std::to_string(workers_.size()) + " threads, OpenBLAS" +
           (!packing() ? std::string() : std::string(" + ") + ops::cpu_isa_name(ops::cpu_gemm_isa()) +
                                                                " packed GEMM") +
           (int8_ ? std::string(" + ") + ops::int8_isa_name(ops::cpu_int8_isa()) + " int8 GEMM" +
                        (int8_group_ ? " in groups of " + std::to_string(int8_group_) : std::string())
                  : std::string()) +
           ")";
  }
  std::string precision() const override { return int8_ ? "int8" : "fp32"; }
  const Model& model() const override { return *model_; }

  ForwardResult forward(std::span<const float> images, int batch, const ForwardOptions& options) override {
    const ModelDims& d = model_->dims;
    check_forward_input(d, images, batch);
    if (options.explain && graph_.layers == 0) throw_no_attention(*model_);
    // One pass at a time: the workers run one loop at a time, and the activations are reused between passes
    // (fresh buffers would be page-faulted in again on every pass).
    std::lock_guard lock(forward_mutex_);
    const graph::Graph& g = graph_;
    // Buffers back to back in one allocation (the input images are read where they are).
    std::vector<std::size_t> at(g.buffers.size());
    std::size_t total = 0;
    const int image_buffer = g.tensors[g.images].buffer;
    for (std::size_t i = 0; i < g.buffers.size(); ++i) {
      at[i] = total;
      if (static_cast<int>(i) != image_buffer) total += (g.buffers[i].floats * batch + 15) / 16 * 16;
    }
    ws_.resize(total);
    auto ptr = [&](const graph::Layout& l) { return ws_.data() + at[l.buffer] + l.offset; };

    ForwardResult r;
    r.batch = batch;
    r.num_classes = d.num_classes;
    r.dim = d.dim;
    r.tokens = g.map_tokens;
    r.layers = g.layers;
    const long layer_probs = static_cast<long>(batch) * 3 * g.map_tokens * g.map_tokens;
    if (options.explain) {
      r.attention.resize(static_cast<std::size_t>(layer_probs * g.layers));
      r.pool_keys = g.pool_keys;
      r.pool_attention.resize(std::size_t(batch) * 3 * g.pool_keys);
    }

    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      const graph::Node& n = g.nodes[i];
      const graph::Layout y = g.layout(n.y), x = n.x >= 0 ? g.layout(n.x) : y;
      switch (n.op) {
        case graph::Op::PatchEmbed:
          patch_embed(images.data(), batch, n.patch, linears_[i], ptr(y), y.rows, n.first_token);
          break;
        case graph::Op::EmbedTokens:
          ops::embed_tokens_cpu(ptr(y), {batch, y.rows, y.cols, n.prefix_rows, n.pos_rows},
                                n.prefix ? n.prefix->data() : nullptr, n.pos ? n.pos->data() : nullptr);
          break;
        case graph::Op::LayerNorm:
          for (const graph::RowCall& c : graph::row_calls(x, y, batch))
            layernorm(ws_.data() + at[x.buffer] + c.x_offset, c.rows, x.cols, c.x_stride, *n.norm, n.eps,
                      ws_.data() + at[y.buffer] + c.y_offset, c.y_stride);
          break;
        case graph::Op::Linear:
          for (const graph::RowCall& c : graph::row_calls(x, y, batch))
            linear(ws_.data() + at[x.buffer] + c.x_offset, c.rows, x.cols, c.x_stride, linears_[i], y.cols,
                   ws_.data() + at[y.buffer] + c.y_offset, c.y_stride, n.epilogue);
          break;
        case graph::Op::Activation: {
          const std::size_t count = std::size_t(batch) * y.image_stride, per = (count + 4 * workers_.size() - 1) / (4 * workers_.size());
          float* const v = ptr(y);
          workers_.run(static_cast<int>((count + per - 1) / per), [&](int task, int) {
            const std::size_t lo = task * per;
            ops::activation_cpu(v + lo, std::min(count, lo + per) - lo, n.act);
          });
          break;
        }
        case graph::Op::QkNorm: {
          const int rows = batch * y.rows, per = std::max(1, (rows + 2 * workers_.size() - 1) / (2 * workers_.size()));
          float* const v = ptr(y);
          workers_.run((rows + per - 1) / per, [&](int task, int) {
            const int r0 = task * per, cnt = std::min(rows, r0 + per) - r0;
            ops::qk_norm_cpu(v + static_cast<long>(r0) * y.cols, {cnt, n.heads, n.head_dim}, n.norm->weight.data(),
                             n.norm->bias.data(), n.norm2->weight.data(), n.norm2->bias.data(), n.eps);
          });
          break;
        }
        case graph::Op::Attention: {
          float* fused = nullptr;
          std::vector<float> pool_maps;
          if (options.explain && n.explain >= 0) fused = r.attention.data() + n.explain * layer_probs;
          if (options.explain && n.explain == graph::Node::kPoolMap) {
            pool_maps.resize(std::size_t(batch) * 3 * x.rows * x.rows);
            fused = pool_maps.data();
          }
          // tokens > 0: each image's rows are rows / tokens consecutive problems (windows), image-major.
          const int T = n.tokens > 0 ? n.tokens : x.rows;
          attention(ptr(x), {batch * (x.rows / T), T, n.heads, n.head_dim, n.bias ? n.bias_groups : 0}, ptr(y), fused,
                    n.bias ? n.bias->data() : nullptr);
          if (!pool_maps.empty())  // every query row of the pool is the latent's: keep row 0
            for (int b = 0; b < batch; ++b)
              for (int f = 0; f < 3; ++f)
                std::copy_n(pool_maps.data() + (std::size_t(b) * 3 + f) * x.rows * x.rows, x.rows,
                            r.pool_attention.data() + (std::size_t(b) * 3 + f) * x.rows);
          break;
        }
        case graph::Op::SpectralFilter: {
          ops::SpectralShape s = n.spectral;
          s.batch = 1;
          float *const xi = ptr(x), *const yo = ptr(y);
          workers_.run(batch, [&](int b, int) {
            ops::spectral_filter_cpu(xi + b * x.image_stride, s, n.filter->data(), yo + b * y.image_stride);
          });
          break;
        }
        case graph::Op::Window: {
          ops::WindowShape s = n.window;
          s.batch = batch;
          const long rows = long(batch) * ops::window_out_rows(s, n.window_mode);
          const long per = std::max(1L, (rows + 4L * workers_.size() - 1) / (4L * workers_.size()));
          const float* const xi = ptr(x);
          float* const yo = ptr(y);
          workers_.run(static_cast<int>((rows + per - 1) / per), [&](int task, int) {
            ops::window_cpu(xi, s, n.window_mode, yo, task * per, std::min(rows, (task + 1) * per));
          });
          break;
        }
        case graph::Op::TokenMean:
          for (int b = 0; b < batch; ++b)
            ops::token_mean_cpu(ptr(x) + b * x.image_stride, {1, x.rows, x.cols, 0, x.row_stride, 0},
                                ptr(y) + b * y.image_stride);
          break;
        case graph::Op::Rope: {  // per image: O(tokens * dim), a small fraction of the qkv GEMM before it
          float* const v = ptr(y);
          workers_.run(batch, [&](int b, int) {
            ops::rope_cpu(v + b * y.image_stride, {1, y.rows, n.heads, n.head_dim, n.prefix_rows, n.rotate_half},
                          n.rope_sin->data(), n.rope_cos->data());
          });
          break;
        }
        case graph::Op::Glu: {
          const int rows = batch * y.rows, per = std::max(1, (rows + 2 * workers_.size() - 1) / (2 * workers_.size()));
          const float* const xi = ptr(x);
          float* const yo = ptr(y);
          workers_.run((rows + per - 1) / per, [&](int task, int) {
            const int r0 = task * per, cnt = std::min(rows, r0 + per) - r0;
            ops::glu_cpu(xi + static_cast<long>(r0) * x.cols, {cnt, y.cols}, yo + static_cast<long>(r0) * y.cols);
          });
          break;
        }
      }
    }

    const graph::Layout f = g.layout(g.features);
    r.features.resize(static_cast<std::size_t>(batch) * d.dim);
    for (int b = 0; b < batch; ++b)
      std::copy_n(ptr(f) + b * f.image_stride, d.dim, r.features.data() + static_cast<long>(b) * d.dim);
    if (g.logits >= 0) {
      const graph::Layout l = g.layout(g.logits);
      const int C = d.num_classes;
      r.logits.resize(static_cast<std::size_t>(batch) * C);
      for (int b = 0; b < batch; ++b) std::copy_n(ptr(l) + b * l.image_stride, C, r.logits.data() + static_cast<long>(b) * C);
      r.probabilities.resize(r.logits.size());
      ops::softmax_cpu(r.logits.data(), batch, C, r.probabilities.data());
    }
    return r;
  }

 private:
  static constexpr int kRowBlock = 128;       // GEMM tile rows: the tile's output stays in L2 for its epilogue
  static constexpr int kPackedRowBlock = 256;  // the same for the packed kernel (which applies it per register tile)
  static constexpr int kAttentionRows = 64;   // score rows materialised at a time per (image, head)

  // Auto packs (and then always uses the packed kernel) where the CPU runs its AVX-512 or AVX2 form: per
  // tools/cpu_gemm_bench.cpp on Zen 5, at least as fast as single-threaded OpenBLAS (its Cooper Lake / Haswell
  // kernels) on the linear shapes of ViT-Ti/B, mostly 1.1-1.4x. Its portable form is not: OpenBLAS there.
  bool packing() const {
    return gemm_ == GemmChoice::Packed || (gemm_ == GemmChoice::Auto && ops::cpu_gemm_isa() != ops::CpuIsa::Portable);
  }

  CpuLinear make_linear(const LinearWeights& lw, bool quantize = false) const {
    CpuLinear l{&lw, {}, {}};
    if (lw.quantized()) {  // stored as int8 (make_cpu_backend hands fp32 a dequantized copy)
      l.int8 = ops::PackedLinearInt8(lw.qweight, lw.qscale, lw.bias, lw.out, lw.in, int8_group_);
    } else if (quantize && lw.out > 0) {
      const ops::QuantizedMatrix q = ops::quantize_per_row(lw.weight, lw.out, lw.in, int8_group_);
      l.int8 = ops::PackedLinearInt8(q.q, q.scale, lw.bias, lw.out, lw.in, int8_group_);
    } else if (packing() && lw.out > 0 && lw.weight.size() == std::size_t(lw.out) * lw.in) {
      l.packed = ops::PackedLinear(lw.weight, lw.bias, lw.out, lw.in);
    }
    return l;
  }

  // int8 layers: in the tiles of the packed kernel's plan, each task quantizes its rows into its worker's
  // buffer, then runs the int8 GEMM. Tasks that share rows (a row block cut into column ranges) quantize them
  // twice, which measured cheaper than a separate pass: on a loaded 2-core machine every extra hand-off between
  // the workers cost more than the rows (ViT-Ti b1, load 20: 310 ms int8 with the pass vs 180 ms fp32).
  void linear_int8(const float* xin, int M, int K, long ldx, const CpuLinear& l, int N, float* y, long ldy,
                   ops::Epilogue ep) {
    if (qx_.size() < std::size_t(workers_.size())) qx_.resize(workers_.size());
    const LinearPlan plan = linear_plan(M, N, K, true);
    workers_.run(plan.tasks(), [&](int task, int worker) {
      const int m0 = task / plan.nb * plan.rows, n0 = task % plan.nb * plan.cols;
      const int rows = std::min(M, m0 + plan.rows) - m0;
      ops::QuantizedRows& q = qx_[worker];
      q.reset(rows, K, int8_group_);
      ops::quantize_rows(xin + m0 * ldx, ldx, 0, rows, q);
      ops::int8_gemm_tile(l.int8.view(), q, y + m0 * ldy, ldy, 0, rows, n0, std::min(N, n0 + plan.cols), ep);
    });
  }

  bool use_packed(const CpuLinear& l) const { return l.packed.rows() > 0; }

  // y = epilogue(x W^T + b) in tiles, cut by plan_linear (rows into blocks the cache holds, then as evenly
  // over the workers as the kernel's panels allow). OpenBLAS packs each tile's share of the operands itself;
  // the packed kernel reads the weights packed at load.
  void linear(const float* xin, int M, int K, long ldx, const CpuLinear& l, int N, float* y, long ldy,
              ops::Epilogue ep) {
    if (l.int8.rows() > 0) return linear_int8(xin, M, K, ldx, l, N, y, ldy, ep);
    const bool packed = use_packed(l);
    const LinearPlan plan = linear_plan(M, N, K, packed);
    const LinearWeights& lw = *l.w;
    const float* wt = lw.weight.data();
    const float* bias = lw.bias.empty() ? nullptr : lw.bias.data();
    workers_.run(plan.tasks(), [&](int task, int) {
      const int m0 = task / plan.nb * plan.rows, n0 = task % plan.nb * plan.cols;
      const int m1 = std::min(M, m0 + plan.rows), n1 = std::min(N, n0 + plan.cols);
      if (packed)
        ops::packed_linear_tile(l.packed, xin, ldx, y, ldy, m0, m1, n0, n1, ep);
      else
        ops::linear_tile(xin, K, ldx, wt, bias, y, ldy, m0, m1, n0, n1, ep);
    });
  }

  // A pass uses a handful of linear shapes: plan each once.
  LinearPlan linear_plan(int M, int N, int K, bool packed) {
    for (const auto& [key, plan] : plans_)
      if (key == std::array{M, N, K, int(packed)}) return plan;
    // The packed kernel keeps a row block's activations in L2 and streams the weights past them once per
    // block: taller blocks read the weights fewer times.
    const LinearPlan plan =
        packed ? plan_linear(M, N, K, workers_.size(), ops::PackedLinear::kPanel, kPackedRowBlock,
                             ops::packed_tile_rows(ops::cpu_gemm_isa()))
               : plan_linear(M, N, K, workers_.size(), 16, kRowBlock, 16);
    plans_.push_back({{M, N, K, int(packed)}, plan});
    return plan;
  }

  // Multi-head attention over qkv [B, T, 3D] into out [B, T, D]; fused (nullable): [B, 3, T, T] head-fused maps;
  // bias (nullable): [as.bias_groups, H, T, T] added to the scores.
  void attention(const float* qkv, const ops::AttentionShape& as, float* out, float* fused, const float* bias) {
    const int T = as.tokens, B = as.batch, H = as.heads;
    const int block = std::min(T, kAttentionRows);
    // Per worker: its score rows, and with the packed kernel the head's packed K and V (64-byte aligned).
    const bool packed_attention = packing();
    const std::size_t head_probs_offset =
        (packed_attention ? ops::attention_packed_scratch_floats(as, block) : std::size_t(block) * T + 15) / 16 * 16;
    // Explain mode with the packed kernel: also one head's [T, T] probabilities.
    const std::size_t per_worker =
        head_probs_offset + (packed_attention && fused ? (std::size_t(T) * T + 15) / 16 * 16 : 0);
    float* const scratch = ops::aligned_floats(scratch_, per_worker * workers_.size());
    const long D = as.dim();
    if (fused) {  // head-fused probabilities: one image per task, heads in order within it
      workers_.run(B, [&](int b, int worker) {
        float* const f = fused + static_cast<long>(b) * 3 * T * T;
        if (!packed_attention) {
          ops::attention_cpu(qkv + static_cast<long>(b) * T * 3 * D, {1, T, H, as.head_dim, bias ? 1 : 0},
                             out + static_cast<long>(b) * T * D, f, ops::attention_bias_matrix(bias, as, b, 0));
          return;
        }
        // The plain pass's kernel, so that explain mode gives the same logits to the bit.
        float* const mine = scratch + per_worker * worker;
        float* const head_probs = mine + head_probs_offset;
        for (int h = 0; h < H; ++h) {
          ops::attention_head_packed(qkv, as, b, h, 0, T, out, mine, block, ops::cpu_gemm_isa(), head_probs, bias);
          ops::fuse_head_probs(head_probs, static_cast<long>(T) * T, h, H, f);
        }
      });
      return;
    }
    // (image, head) problems, each cut into query-row ranges when they would not share out evenly.
    const int units = B * H, chunks = attention_row_chunks(units, workers_.size());
    const int chunk_rows = (T + chunks - 1) / chunks;
    workers_.run(units * chunks, [&](int task, int worker) {
      const int unit = task / chunks, r0 = task % chunks * chunk_rows;
      const int r1 = std::min(T, r0 + chunk_rows);
      float* const mine = scratch + per_worker * worker;
      if (packed_attention)
        ops::attention_head_packed(qkv, as, unit / H, unit % H, r0, r1, out, mine, block, ops::cpu_gemm_isa(), nullptr,
                                   bias);
      else
        ops::attention_head_cpu(qkv, as, unit / H, unit % H, r0, r1, out, mine, block, bias);
    });
  }

  void layernorm(const float* xin, int M, int dim, long ldx, const NormWeights& nw, float eps, float* y, long ldy) {
    const int rows = std::max(1, (M + 2 * workers_.size() - 1) / (2 * workers_.size()));
    workers_.run((M + rows - 1) / rows, [&](int task, int) {
      const int m0 = task * rows, n = std::min(M, m0 + rows) - m0;
      ops::layernorm_cpu(xin + m0 * ldx, n, dim, nw.weight.data(), nw.bias.data(), eps, y + m0 * ldy,
                         static_cast<int>(ldx), static_cast<int>(ldy));
    });
  }

  // The stride-P convolution as im2col + GEMM, one image at a time (its patch rows are contiguous tokens).
  void patch_embed(const float* images, int batch, const ops::PatchEmbedShape& s, const CpuLinear& lin, float* tokens,
                   int tokens_per_image, int first_token) {
    const int Pt = s.patch, gw = s.grid_w(), G = s.num_patches(), K = s.channels * Pt * Pt;
    std::vector<float> cols(static_cast<std::size_t>(batch) * G * K);
    workers_.run(batch, [&](int b, int) {
      const float* img = images + static_cast<long>(b) * s.channels * s.height * s.width;
      float* dst = cols.data() + static_cast<long>(b) * G * K;
      for (int p = 0; p < G; ++p) {
        const int py = p / gw, px = p % gw;
        for (int c = 0; c < s.channels; ++c)
          for (int ky = 0; ky < Pt; ++ky, dst += Pt) {
            // An inline loop: a library call per 16-float patch row cost more than the copy.
            const float* src = img + (static_cast<long>(c) * s.height + py * Pt + ky) * s.width + px * Pt;
            for (int i = 0; i < Pt; ++i) dst[i] = src[i];
          }
      }
    });
    for (int b = 0; b < batch; ++b)
      linear(cols.data() + static_cast<long>(b) * G * K, G, K, K, lin, s.dim,
             tokens + (static_cast<long>(b) * tokens_per_image + first_token) * s.dim, s.dim, ops::Epilogue::None);
  }

  std::shared_ptr<const Model> model_;
  graph::Graph graph_;
  CpuWorkers workers_;
  GemmChoice gemm_;
  bool int8_ = false;      // int8 linear layers (make_cpu_backend)
  int int8_group_ = 0;     // int8 channels per scale along K (VITVK_INT8_GROUP)
  std::vector<ops::QuantizedRows> qx_;  // int8: each worker's quantized activation rows
  std::vector<CpuLinear> linears_;  // per node (empty for nodes without a linear layer)
  std::mutex forward_mutex_;
  std::vector<float> ws_;  // the graph's buffers, kept from the last pass
  std::vector<float> scratch_;  // the workers' attention scratch, kept like ws_
  std::vector<std::pair<std::array<int, 4>, LinearPlan>> plans_;  // by (M, N, K, packed)
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(std::shared_ptr<const Model> model, bool int8) {
  if (!int8 && has_int8_weights(*model)) model = std::make_shared<const Model>(dequantized(*model));
  graph::Graph g = graph::build(*model);
  return std::make_unique<CpuBackend>(std::move(model), std::move(g), int8);
}

std::unique_ptr<Backend> make_cpu_backend(std::shared_ptr<const Model> model, graph::Graph graph) {
  graph.validate();
  return std::make_unique<CpuBackend>(std::move(model), std::move(graph), false);
}

}  // namespace vitvk
