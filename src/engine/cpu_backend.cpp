// The CPU forward pass: fast enough to be worth choosing, and still the fp32 oracle every GPU test compares
// against. One level of threads: our own workers (cpu_workers.hpp) split each op into tiles (cpu_partition.hpp)
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
#include "engine/gfnet.hpp"
#include "ops/attention.hpp"
#include "model/quantize.hpp"
#include "ops/cpu_gemm.hpp"
#include "ops/cpu_gemm_int8.hpp"
#include "ops/cpu_kernels.hpp"
#include "ops/embed.hpp"
#include "ops/gemm.hpp"
#include "ops/layernorm.hpp"
#include "ops/softmax.hpp"
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
  CpuBackend(std::shared_ptr<const Model> model, bool int8)
      : model_(std::move(model)), workers_(thread_count()), gemm_(gemm_choice()), int8_(int8) {
    // Process-wide, but every CPU-side GEMM of the library is issued from tiles like ours: OpenBLAS's own
    // threads would only compete with the workers for the same cores.
    openblas_set_num_threads(1);
    // Our copy of the weights in the packed kernel's layout, made once here (the Model keeps its own).
    const ViTWeights& w = model_->weights;
    // int8: which layers are quantized here (fp32 in the model); those the model holds as int8 run as int8.
    const Int8Layers q = int8_ ? int8_layers() : Int8Layers::none();
    patch_embed_ = make_linear(w.patch_embed, q.patch_embed);
    head_ = make_linear(w.head, q.head);
    if (model_->dims.prefix > 1) head_dist_ = make_linear(w.head_dist, q.head);
    for (const BlockWeights& b : w.blocks)
      blocks_.push_back({make_linear(b.qkv, q.qkv), make_linear(b.proj, q.proj), make_linear(b.fc1, q.fc1),
                         make_linear(b.fc2, q.fc2)});
  }

  BackendKind kind() const override { return BackendKind::Cpu; }
  std::string name() const override { return "cpu"; }
  std::string device_name() const override {
    return "CPU (" + std::to_string(workers_.size()) + " threads, OpenBLAS" +
           (!packing() ? std::string() : std::string(" + ") + ops::cpu_isa_name(ops::cpu_gemm_isa()) +
                                                                " packed GEMM") +
           (int8_ ? std::string(" + ") + ops::int8_isa_name(ops::cpu_int8_isa()) + " int8 GEMM" : std::string()) + ")";
  }
  std::string precision() const override { return int8_ ? "int8" : "fp32"; }
  const Model& model() const override { return *model_; }

  ForwardResult forward(std::span<const float> images, int batch, const ForwardOptions& options) override {
    const ModelDims& d = model_->dims;
    const ViTWeights& w = model_->weights;
    check_forward_input(d, images, batch);
    // One pass at a time: the workers run one loop at a time, and the activations are reused between passes
    // (fresh buffers would be page-faulted in again on every pass).
    std::lock_guard lock(forward_mutex_);
    const int T = d.tokens, D = d.dim, M = batch * T, P = d.prefix;
    const std::size_t md = static_cast<std::size_t>(M) * D;
    ws_.resize(md * 3 + md * 3 + static_cast<std::size_t>(M) * d.mlp_hidden);
    const std::span<float> x(ws_.data(), md), xn(x.data() + md, md), attn(xn.data() + md, md);
    const std::span<float> qkv(attn.data() + md, 3 * md), hidden(qkv.data() + 3 * md, std::size_t(M) * d.mlp_hidden);
    ForwardResult r;
    r.batch = batch;
    r.num_classes = d.num_classes;
    r.dim = D;
    r.tokens = T;
    r.layers = d.depth;
    const long layer_probs = static_cast<long>(batch) * 3 * T * T;
    if (options.explain) r.attention.resize(static_cast<std::size_t>(layer_probs * d.depth));

    patch_embed(images.data(), batch, x.data());
    ops::embed_tokens_cpu(x.data(), batch, T, D, w.cls_token.data(), P > 1 ? w.dist_token.data() : nullptr,
                          w.pos_embed.data());

    const ops::AttentionShape as{batch, T, d.heads, d.head_dim};
    const int block = std::min(T, kAttentionRows);
    // Per worker: its score rows, and with the packed kernel the head's packed K and V (64-byte aligned).
    const bool packed_attention = packing();
    const std::size_t head_probs_offset =
        (packed_attention ? ops::attention_packed_scratch_floats(as, block) : std::size_t(block) * T + 15) / 16 * 16;
    // Explain mode with the packed kernel: also one head's [T, T] probabilities.
    const std::size_t per_worker =
        head_probs_offset + (packed_attention && options.explain ? (std::size_t(T) * T + 15) / 16 * 16 : 0);
    float* const scratch = ops::aligned_floats(scratch_, per_worker * workers_.size());
    for (int l = 0; l < d.depth; ++l) {
      const BlockWeights& blk = w.blocks[l];
      const BlockLinears& lin = blocks_[l];
      layernorm(x.data(), M, blk.norm1, xn.data());
      linear(xn.data(), M, D, D, lin.qkv, 3 * D, qkv.data(), 3 * D, ops::Epilogue::None);
      if (options.explain) {  // head-fused probabilities: one image per task, heads in order within it
        float* probs = r.attention.data() + l * layer_probs;
        workers_.run(batch, [&](int b, int worker) {
          float* const fused = probs + static_cast<long>(b) * 3 * T * T;
          if (!packed_attention) {
            ops::attention_cpu(qkv.data() + static_cast<long>(b) * T * 3 * D, {1, T, d.heads, d.head_dim},
                               attn.data() + static_cast<long>(b) * T * D, fused);
            return;
          }
          // The plain pass's kernel, so that explain mode gives the same logits to the bit.
          float* const mine = scratch + per_worker * worker;
          float* const head_probs = mine + head_probs_offset;
          for (int h = 0; h < d.heads; ++h) {
            ops::attention_head_packed(qkv.data(), as, b, h, 0, T, attn.data(), mine, block, ops::cpu_gemm_isa(),
                                       head_probs);
            ops::fuse_head_probs(head_probs, static_cast<long>(T) * T, h, d.heads, fused);
          }
        });
      } else {
        // (image, head) problems, each cut into query-row ranges when they would not share out evenly.
        const int units = batch * d.heads, chunks = attention_row_chunks(units, workers_.size());
        const int chunk_rows = (T + chunks - 1) / chunks;
        workers_.run(units * chunks, [&](int task, int worker) {
          const int unit = task / chunks, r0 = task % chunks * chunk_rows;
          const int r1 = std::min(T, r0 + chunk_rows);
          float* const mine = scratch + per_worker * worker;
          if (packed_attention)
            ops::attention_head_packed(qkv.data(), as, unit / d.heads, unit % d.heads, r0, r1, attn.data(), mine, block,
                                       ops::cpu_gemm_isa());
          else
            ops::attention_head_cpu(qkv.data(), as, unit / d.heads, unit % d.heads, r0, r1, attn.data(), mine, block);
        });
      }
      linear(attn.data(), M, D, D, lin.proj, D, x.data(), D, ops::Epilogue::Residual);
      layernorm(x.data(), M, blk.norm2, xn.data());
      linear(xn.data(), M, D, D, lin.fc1, d.mlp_hidden, hidden.data(), d.mlp_hidden, ops::Epilogue::Gelu);
      linear(hidden.data(), M, d.mlp_hidden, d.mlp_hidden, lin.fc2, D, x.data(), D, ops::Epilogue::Residual);
    }

    // Only the prefix tokens feed the head: normalise those rows alone.
    std::vector<float> pre(static_cast<std::size_t>(batch) * P * D);
    for (int b = 0; b < batch; ++b)
      ops::layernorm_cpu(x.data() + static_cast<long>(b) * T * D, P, D, w.norm.weight.data(), w.norm.bias.data(),
                         d.ln_eps, pre.data() + static_cast<long>(b) * P * D, D, D);
    r.features.resize(static_cast<std::size_t>(batch) * D);
    for (int b = 0; b < batch; ++b)
      std::copy_n(pre.data() + static_cast<long>(b) * P * D, D, r.features.data() + static_cast<long>(b) * D);
    const int C = d.num_classes;
    r.logits.resize(static_cast<std::size_t>(batch) * C);
    linear(pre.data(), batch, D, static_cast<long>(P) * D, head_, C, r.logits.data(), C, ops::Epilogue::None);
    if (P > 1) {  // DeiT distilled: average the class and distillation heads, as timm does at inference
      std::vector<float> ld(r.logits.size());
      linear(pre.data() + D, batch, D, static_cast<long>(P) * D, head_dist_, C, ld.data(), C, ops::Epilogue::None);
      for (std::size_t i = 0; i < ld.size(); ++i) r.logits[i] = 0.5f * (r.logits[i] + ld[i]);
    }
    r.probabilities.resize(r.logits.size());
    ops::softmax_cpu(r.logits.data(), batch, C, r.probabilities.data());
    return r;
  }

 private:
  static constexpr int kRowBlock = 128;       // GEMM tile rows: the tile's output stays in L2 for its epilogue
  static constexpr int kPackedRowBlock = 256;  // the same for the packed kernel (which applies it per register tile)
  static constexpr int kAttentionRows = 64;   // score rows materialised at a time per (image, head)

  struct BlockLinears {
    CpuLinear qkv, proj, fc1, fc2;
  };

  // Auto packs (and then always uses the packed kernel) where the CPU runs its AVX-512 or AVX2 form: per
  // tools/cpu_gemm_bench.cpp on Zen 5, at least as fast as single-threaded OpenBLAS (its Cooper Lake / Haswell
  // kernels) on the linear shapes of ViT-Ti/B, mostly 1.1-1.4x. Its portable form is not: OpenBLAS there.
  bool packing() const {
    return gemm_ == GemmChoice::Packed || (gemm_ == GemmChoice::Auto && ops::cpu_gemm_isa() != ops::CpuIsa::Portable);
  }

  CpuLinear make_linear(const LinearWeights& lw, bool quantize = false) const {
    CpuLinear l{&lw, {}, {}};
    if (lw.quantized()) {  // stored as int8 (make_cpu_backend hands fp32 a dequantized copy)
      l.int8 = ops::PackedLinearInt8(lw.qweight, lw.qscale, lw.bias, lw.out, lw.in);
    } else if (quantize && lw.out > 0) {
      const ops::QuantizedMatrix q = ops::quantize_per_row(lw.weight, lw.out, lw.in);
      l.int8 = ops::PackedLinearInt8(q.q, q.scale, lw.bias, lw.out, lw.in);
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
      q.reset(rows, K);
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

  void layernorm(const float* xin, int M, const NormWeights& nw, float* y) {
    const ModelDims& d = model_->dims;
    const int rows = std::max(1, (M + 2 * workers_.size() - 1) / (2 * workers_.size()));
    workers_.run((M + rows - 1) / rows, [&](int task, int) {
      const int m0 = task * rows, n = std::min(M, m0 + rows) - m0;
      ops::layernorm_cpu(xin + static_cast<long>(m0) * d.dim, n, d.dim, nw.weight.data(), nw.bias.data(), d.ln_eps,
                         y + static_cast<long>(m0) * d.dim, d.dim, d.dim);
    });
  }

  // The stride-P convolution as im2col + GEMM, one image at a time (its patch rows are contiguous tokens).
  void patch_embed(const float* images, int batch, float* tokens) {
    const ModelDims& d = model_->dims;
    const int Pt = d.patch, gw = d.img_w / Pt, G = (d.img_h / Pt) * gw, K = d.channels * Pt * Pt;
    std::vector<float> cols(static_cast<std::size_t>(batch) * G * K);
    workers_.run(batch, [&](int b, int) {
      const float* img = images + static_cast<long>(b) * d.channels * d.img_h * d.img_w;
      float* dst = cols.data() + static_cast<long>(b) * G * K;
      for (int p = 0; p < G; ++p) {
        const int py = p / gw, px = p % gw;
        for (int c = 0; c < d.channels; ++c)
          for (int ky = 0; ky < Pt; ++ky, dst += Pt) {
            // An inline loop: a library call per 16-float patch row cost more than the copy.
            const float* src = img + (static_cast<long>(c) * d.img_h + py * Pt + ky) * d.img_w + px * Pt;
            for (int i = 0; i < Pt; ++i) dst[i] = src[i];
          }
      }
    });
    for (int b = 0; b < batch; ++b)
      linear(cols.data() + static_cast<long>(b) * G * K, G, K, K, patch_embed_, d.dim,
             tokens + (static_cast<long>(b) * d.tokens + d.prefix) * d.dim, d.dim, ops::Epilogue::None);
  }

  std::shared_ptr<const Model> model_;
  CpuWorkers workers_;
  GemmChoice gemm_;
  bool int8_ = false;      // int8 linear layers (make_cpu_backend)
  std::vector<ops::QuantizedRows> qx_;  // int8: each worker's quantized activation rows
  CpuLinear patch_embed_, head_, head_dist_;
  std::vector<BlockLinears> blocks_;
  std::mutex forward_mutex_;
  std::vector<float> ws_;  // activations of the last pass: x, xn, attn, qkv, hidden
  std::vector<float> scratch_;  // the workers' attention scratch, kept like ws_
  std::vector<std::pair<std::array<int, 4>, LinearPlan>> plans_;  // by (M, N, K, packed)
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(std::shared_ptr<const Model> model, bool int8) {
  if (!int8 && has_int8_weights(*model)) model = std::make_shared<const Model>(dequantized(*model));
  if (model->dims.family == ModelFamily::GFNet) return make_gfnet_cpu_backend(std::move(model));
  return std::make_unique<CpuBackend>(std::move(model), int8);
}

}  // namespace vitvk
