// The Vulkan forward pass of any graph (graph/graph.hpp): weights uploaded once into a few device buffers,
// activations in one arena laid out from the graph's buffers, and each pass of up to max_batch images recorded
// into one command buffer and submitted once.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "engine/backend.hpp"
#include "engine/weight_store.hpp"
#include "graph/graph.hpp"
#include "model/quantize.hpp"
#include "ops/activation.hpp"
#include "ops/attention.hpp"
#include "ops/cpu_gemm_int8.hpp"
#include "ops/embed.hpp"
#include "ops/gemm.hpp"
#include "ops/glu.hpp"
#include "ops/layernorm.hpp"
#include "ops/patch_embed.hpp"
#include "ops/qk_norm.hpp"
#include "ops/rope.hpp"
#include "ops/softmax.hpp"
#include "ops/spectral_filter.hpp"
#include "ops/token_mean.hpp"
#include "ops/window.hpp"
#include "vitvk/error.hpp"
#include "vk/op_context.hpp"
#include "vk/transfer.hpp"

namespace vitvk {
namespace {

using gpu::Slice;

// A node's weights in the device stores (handles; which ones are set depends on the op).
struct NodeVk {
  std::size_t w = 0, b = 0, g = 0, gb = 0, g2 = 0, gb2 = 0, prefix = 0, pos = 0, filter = 0, bias = 0;
  bool int8 = false;  // PatchEmbed, Linear: w packed by ops::linear_vk_pack_int8
  int int8_group = 0;  // its scales' group along k (0: one per output channel)
};

class VulkanBackend final : public Backend {
 public:
  VulkanBackend(std::shared_ptr<const Model> model, graph::Graph graph, const VulkanBackendOptions& o)
      : model_(std::move(model)),
        graph_(std::move(graph)),
        ctx_(gpu::ContextOptions{.device = o.device, .validation = o.validation, .enable_fp16 = o.fp16}),
        kernels_(ctx_),
        rec_(ctx_),
        weights_(ctx_, o.fp16, o.memory_budget) {
    if (o.fp16 && !ctx_.fp16_enabled())
      throw Error(ErrorCode::Unsupported, "fp16 precision requested but '" + ctx_.info().name +
                                              "' lacks 16-bit storage buffers (use --precision fp32)");
    fp16_ = o.fp16;
    int8_ = o.int8;
    for (const graph::Node& n : graph_.nodes) {
      if (n.op == graph::Op::SpectralFilter && !spectral_) {
        // The filter's GPU form (VkFFT plans or DFT matrices).
        spectral_ = std::make_unique<ops::SpectralFilterVk>(ctx_);
        impl_ = spectral_->resolve(ops::parse_spectral_impl(o.filter_impl), n.spectral);
      }
      if ((n.op == graph::Op::SpectralFilter || n.op == graph::Op::Rope || n.bias) && !fp32_weights_)
        fp32_weights_.emplace(ctx_, false, o.memory_budget);
    }
    upload_weights();
    plan_arena(std::max(1, o.max_batch), o.memory_budget);
  }

  BackendKind kind() const override { return BackendKind::Vulkan; }
  std::string name() const override { return "vulkan"; }
  std::string device_name() const override { return ctx_.info().name + " (" + ctx_.info().driver_name + ")"; }
  std::string precision() const override { return int8_ ? "int8" : fp16_ ? "fp16" : "fp32"; }
  uint64_t device_weight_bytes() const override { return weight_bytes(); }
  const Model& model() const override { return *model_; }
  void set_profiling(bool on) override { profiling_ = on; }
  std::vector<std::pair<std::string, double>> last_op_timings_ms() const override {
    std::vector<std::pair<std::string, double>> out;
    for (const auto& t : rec_.timings()) out.emplace_back(t.label, t.ms);
    return out;
  }
  std::vector<std::string> validation_messages() const override { return ctx_.validation_messages(); }

  ForwardResult forward(std::span<const float> images, int batch, const ForwardOptions& options) override {
    const ModelDims& d = model_->dims;
    const std::size_t image_floats = check_forward_input(d, images, batch);
    if (options.explain && graph_.layers == 0) throw_no_attention(*model_);
    ForwardResult r;
    r.batch = batch;
    r.num_classes = d.num_classes;
    r.dim = d.dim;
    r.tokens = graph_.map_tokens;
    r.layers = graph_.layers;
    r.logits.resize(std::size_t(batch) * d.num_classes);
    r.probabilities.resize(r.logits.size());
    r.features.resize(std::size_t(batch) * d.dim);
    if (options.explain) {
      r.attention.resize(std::size_t(graph_.layers) * batch * layer_probs());
      r.pool_keys = graph_.pool_keys;
      r.pool_attention.resize(std::size_t(batch) * 3 * graph_.pool_keys);
    }
    for (int start = 0; start < batch; start += pass_batch_) {
      const int n = std::min(pass_batch_, batch - start);
      run_pass(images.subspan(start * image_floats, n * image_floats), n, options.explain, r, start);
    }
    return r;
  }

 private:
  // Byte offsets inside the arena for one pass of B images: the filter's work space first (VkFFT addresses it
  // from the start of the buffer), the graph's other buffers, its output buffers, then the fp32 results.
  struct Arena {
    std::vector<uint64_t> buffer;  // per graph buffer
    uint64_t outputs = 0, probs = 0, explain = 0, explain_stride = 0, pool = 0, total = 0;
    uint64_t largest = 0;  // the largest region (each is bound as one descriptor range)
  };

  uint64_t es() const { return fp16_ ? 2 : 4; }
  std::size_t layer_probs() const { return 3ull * graph_.map_tokens * graph_.map_tokens; }  // per image per layer
  uint64_t pool_map_bytes(int B) const { return uint64_t(B) * 3 * graph_.pool_keys * graph_.pool_keys * 4; }

  void upload_weights() {
    std::vector<std::pair<const std::vector<float>*, std::size_t>> tables;
    auto table = [&](const std::vector<float>* t) {
      for (const auto& [at, handle] : tables)
        if (at == t) return handle;
      tables.emplace_back(t, fp32_weights_->add(*t));
      return tables.back().second;
    };
    // int8: the layers of int8_layers() quantized here, as the CPU backend quantizes them (the same q and
    // scales, in groups of VITVK_INT8_GROUP; the patch embedding's kernel takes one scale per channel only), and
    // any layer the model holds as int8 (make_vulkan_backend dequantizes those for fp32 / fp16) as it is: no fp32
    // copy of those is made.
    const Int8Layers q = int8_ ? int8_layers() : Int8Layers::none();
    const int group = int8_ ? int8_run_group(*model_) : 0;
    if (group % 8 != 0)
      throw Error(ErrorCode::InvalidArgument, "VITVK_INT8_GROUP=" + std::to_string(group) +
                                                  ": int8 on Vulkan takes groups of a multiple of 8 (the shader reads "
                                                  "k 8 at a time)");
    const ops::GemmConfig cfg = ops::gemm_config(ctx_.info());
    auto linear = [&](const graph::Node& n, NodeVk& v) {
      const LinearWeights& l = *n.linear;
      if (l.quantized()) {
        v.w = weights_.add_words(ops::linear_vk_pack_int8(cfg, l.qweight, l.qscale, l.out, l.in, l.qgroup));
        v.int8 = true;
        v.int8_group = l.qgroup;
      } else if (graph::quantizes(q, n.role) && l.out > 0) {
        const int g = n.op == graph::Op::Linear ? group : 0;
        const ops::QuantizedMatrix m = ops::quantize_per_row(l.weight, l.out, l.in, g);
        v.w = weights_.add_words(ops::linear_vk_pack_int8(cfg, m.q, m.scale, l.out, l.in, g));
        v.int8 = true;
        v.int8_group = g;
      } else {
        v.w = weights_.add(ops::linear_vk_pack(cfg, l.weight, l.out, l.in));
      }
      v.b = weights_.add(l.bias);
    };
    for (const graph::Node& n : graph_.nodes) {
      NodeVk v;
      switch (n.op) {
        case graph::Op::PatchEmbed:
        case graph::Op::Linear: linear(n, v); break;
        case graph::Op::LayerNorm:
          v.g = weights_.add(n.norm->weight);
          v.gb = weights_.add(n.norm->bias);
          break;
        case graph::Op::QkNorm:
          v.g = weights_.add(n.norm->weight);
          v.gb = weights_.add(n.norm->bias);
          v.g2 = weights_.add(n.norm2->weight);
          v.gb2 = weights_.add(n.norm2->bias);
          break;
        case graph::Op::EmbedTokens:
          if (n.prefix_rows) v.prefix = weights_.add(*n.prefix);
          if (n.pos_rows) v.pos = weights_.add(*n.pos);
          break;
        case graph::Op::Rope:  // fp32 tables in both precisions, uploaded once for all the blocks that share them
          v.g = table(n.rope_sin);
          v.g2 = table(n.rope_cos);
          break;
        case graph::Op::SpectralFilter:
          v.filter = fp32_weights_->add(
              ops::spectral_filter_vk_pack(*n.filter, n.spectral.h, n.spectral.w, n.spectral.channels));
          break;
        case graph::Op::Attention:
          if (n.bias) v.bias = fp32_weights_->add(*n.bias);
          break;
        default: break;
      }
      nodes_.push_back(v);
    }
    weights_.finish();
    if (fp32_weights_) fp32_weights_->finish();
  }

  uint64_t weight_bytes() const { return weights_.total_bytes() + (fp32_weights_ ? fp32_weights_->total_bytes() : 0); }

  Arena layout(int B, bool explain) const {
    const uint64_t al = std::max<uint64_t>(256, ctx_.info().min_storage_buffer_offset_alignment);
    const graph::Graph& g = graph_;
    Arena a;
    a.buffer.assign(g.buffers.size(), 0);
    uint64_t off = 0;
    auto take = [&](uint64_t bytes) {
      off = align_up(off, al);
      const uint64_t at = off;
      off += std::max<uint64_t>(bytes, 4);
      a.largest = std::max(a.largest, bytes);
      return at;
    };
    std::vector<uint64_t> bytes(g.buffers.size());
    for (std::size_t i = 0; i < g.buffers.size(); ++i) bytes[i] = uint64_t(B) * g.buffers[i].floats * es();
    std::vector<bool> scratch(g.buffers.size(), false);
    for (const graph::Node& n : g.nodes)
      if (n.op == graph::Op::SpectralFilter) {
        ops::SpectralShape s = n.spectral;
        s.batch = B;
        bytes[n.scratch] = std::max(bytes[n.scratch], ops::SpectralFilterVk::scratch_bytes(impl_, s));
        scratch[n.scratch] = true;
      }
    for (int pass = 0; pass < 3; ++pass)  // scratch, the others, the outputs
      for (std::size_t i = 0; i < g.buffers.size(); ++i) {
        const int kind = scratch[i] ? 0 : g.buffers[i].output ? 2 : 1;
        if (kind != pass) continue;
        if (pass == 2 && !a.outputs) a.outputs = align_up(off, al);
        a.buffer[i] = take(bytes[i]);
      }
    const int C = model_->dims.num_classes;
    a.probs = take(uint64_t(B) * std::max(C, 1) * 4);
    // Each layer's maps are bound on their own, so each starts on a binding-aligned offset.
    a.explain_stride = align_up(uint64_t(B) * layer_probs() * 4, al);
    a.explain = explain ? take(uint64_t(g.layers) * a.explain_stride) : off;
    a.pool = explain && g.pool_keys ? take(pool_map_bytes(B)) : off;
    a.largest = std::max(a.largest, explain ? a.explain_stride : 0);
    a.total = align_up(off, al);
    return a;
  }

  void plan_arena(int max_batch, uint64_t budget) {
    // Every region is bound as one descriptor range: the largest one caps the pass size.
    const uint64_t range = ctx_.info().max_storage_buffer_range;
    pass_batch_ = max_batch;
    while (pass_batch_ > 1 && layout(pass_batch_, true).largest > range) pass_batch_ = std::max(1, pass_batch_ / 2);
    if (layout(pass_batch_, true).largest > range)
      throw Error(ErrorCode::Unsupported, "one image's activations exceed the device's storage buffer range");
    // The device may not hold the activations of that many images: halve the pass until they fit (forward() runs
    // any batch as several passes). Only when a single image does not fit is OutOfMemory the caller's.
    const int image_buffer = graph_.tensors[graph_.images].buffer;
    for (;;) {
      try {
        const Arena a = layout(pass_batch_, true);
        const uint64_t staging = std::max<uint64_t>(uint64_t(pass_batch_) * graph_.buffers[image_buffer].floats * es(), 4);
        const uint64_t readback = a.total - a.outputs;
        if (budget && weight_bytes() + a.total + staging + readback > budget)
          throw Error(ErrorCode::OutOfMemory,
                      "the activations of " + std::to_string(pass_batch_) + " image(s) need " +
                          mib(a.total + staging + readback) + " besides the weights' " + mib(weight_bytes()) +
                          ", over the memory budget of " + mib(budget));
        arena_.emplace(ctx_, a.total, gpu::MemoryUse::Device);
        staging_.emplace(ctx_, staging, gpu::MemoryUse::Upload);
        readback_.emplace(ctx_, readback, gpu::MemoryUse::Readback);
        // The full-size pass's filter plan now, not in the first forward (a smaller last pass builds its own).
        for (const graph::Node& n : graph_.nodes)
          if (n.op == graph::Op::SpectralFilter) {
            ops::SpectralShape s = n.spectral;
            s.batch = pass_batch_;
            spectral_->prepare(impl_, s, Slice{&*arena_, a.buffer[n.scratch], ops::SpectralFilterVk::scratch_bytes(impl_, s)});
            break;
          }
        return;
      } catch (const Error& e) {
        if (e.code() != ErrorCode::OutOfMemory || pass_batch_ == 1) throw;
        arena_.reset();
        staging_.reset();
        readback_.reset();
        pass_batch_ /= 2;
      }
    }
  }

  void run_pass(std::span<const float> images, int B, bool explain, ForwardResult& r, int first) {
    const ModelDims& d = model_->dims;
    const graph::Graph& g = graph_;
    const Arena a = layout(B, explain);
    const uint64_t e = es();
    const gpu::Buffer& ar = *arena_;
    // A buffer's region from element `at` on (the ops check the shapes they address against the slice's size).
    auto region = [&](int buffer, std::size_t at) {
      const uint64_t size = uint64_t(B) * std::max<std::size_t>(g.buffers[buffer].floats, 1) * e;
      return Slice{&ar, a.buffer[buffer] + at * e, size - at * e};
    };
    auto tensor = [&](const graph::Layout& l) { return region(l.buffer, l.offset); };
    auto W = [&](std::size_t h) { return weights_[h]; };

    // Inputs: convert to the storage precision straight into the staging buffer.
    auto in = gpu::to_storage(images, fp16_);
    std::memcpy(staging_->mapped(), in.data(), in.size());
    staging_->flush();

    gpu::OpContext oc{kernels_, rec_, fp16_};
    rec_.begin(profiling_);
    rec_.copy({&*staging_, 0, in.size()}, tensor(g.layout(g.images)));
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
      const graph::Node& n = g.nodes[i];
      const NodeVk& k = nodes_[i];
      const graph::Layout y = g.layout(n.y), x = n.x >= 0 ? g.layout(n.x) : y;
      switch (n.op) {
        case graph::Op::PatchEmbed: {
          ops::PatchEmbedShape s = n.patch;
          s.batch = B;
          if (k.int8)
            ops::patch_embed_vk_int8(oc, tensor(x), s, W(k.w), W(k.b), tensor(y), y.rows, n.first_token);
          else
            ops::patch_embed_vk(oc, tensor(x), s, W(k.w), W(k.b), tensor(y), y.rows, n.first_token);
          break;
        }
        case graph::Op::EmbedTokens:
          ops::embed_tokens_vk(oc, tensor(y), {B, y.rows, y.cols, n.prefix_rows, n.pos_rows},
                               n.prefix_rows ? W(k.prefix) : Slice{}, n.pos_rows ? W(k.pos) : Slice{});
          break;
        case graph::Op::LayerNorm:
          for (const graph::RowCall& c : graph::row_calls(x, y, B))
            ops::layernorm_vk(oc, region(x.buffer, c.x_offset), W(k.g), W(k.gb), region(y.buffer, c.y_offset), c.rows,
                              x.cols, n.eps, int(c.x_stride), int(c.y_stride));
          break;
        case graph::Op::Linear:
          for (const graph::RowCall& c : graph::row_calls(x, y, B)) {
            const Slice xs = region(x.buffer, c.x_offset), ys = region(y.buffer, c.y_offset);
            if (k.int8)
              ops::linear_vk_int8(oc, xs, c.rows, x.cols, int(c.x_stride), W(k.w), W(k.b), y.cols, ys, int(c.y_stride),
                                  n.epilogue, k.int8_group);
            else
              ops::linear_vk(oc, xs, c.rows, x.cols, int(c.x_stride), W(k.w), W(k.b), y.cols, ys, int(c.y_stride),
                             n.epilogue);
          }
          break;
        case graph::Op::Activation:
          ops::activation_vk(oc, tensor(y), std::size_t(B) * y.image_stride, n.act);
          break;
        case graph::Op::QkNorm:
          ops::qk_norm_vk(oc, tensor(y), {B * y.rows, n.heads, n.head_dim}, W(k.g), W(k.gb), W(k.g2), W(k.gb2), n.eps);
          break;
        case graph::Op::Attention: {
          Slice fused{};
          if (explain && n.explain >= 0)
            fused = Slice{&ar, a.explain + n.explain * a.explain_stride, uint64_t(B) * layer_probs() * 4};
          if (explain && n.explain == graph::Node::kPoolMap) fused = Slice{&ar, a.pool, pool_map_bytes(B)};
          // tokens > 0: each image's rows are rows / tokens consecutive problems (windows), image-major.
          const int T = n.tokens > 0 ? n.tokens : x.rows;
          ops::attention_vk(oc, tensor(x), {B * (x.rows / T), T, n.heads, n.head_dim, n.bias ? n.bias_groups : 0},
                            tensor(y), fused, n.bias ? (*fp32_weights_)[k.bias] : Slice{});
          break;
        }
        case graph::Op::SpectralFilter: {
          ops::SpectralShape s = n.spectral;
          s.batch = B;
          spectral_->record(oc, impl_, tensor(x), s, (*fp32_weights_)[k.filter],
                            Slice{&ar, a.buffer[n.scratch], ops::SpectralFilterVk::scratch_bytes(impl_, s)}, tensor(y));
          break;
        }
        case graph::Op::Rope:
          ops::rope_vk(oc, tensor(y), {B, y.rows, n.heads, n.head_dim, n.prefix_rows, n.rotate_half}, (*fp32_weights_)[k.g],
                       (*fp32_weights_)[k.g2]);
          break;
        case graph::Op::Glu:
          ops::glu_vk(oc, tensor(x), {B * x.rows, y.cols}, tensor(y));
          break;
        case graph::Op::Window: {
          ops::WindowShape s = n.window;
          s.batch = B;
          ops::window_vk(oc, tensor(x), s, n.window_mode, tensor(y));
          break;
        }
        case graph::Op::TokenMean:
          if (y.image_stride != y.cols) throw Error(ErrorCode::Internal, "token_mean: a strided output");
          // Bound from the buffer's start, the rows' offset applied in the shader (no binding alignment needed).
          ops::token_mean_vk(oc, region(x.buffer, 0), {B, x.rows, x.cols, x.image_stride, x.row_stride, long(x.offset)},
                             tensor(y));
          break;
      }
    }
    const int C = d.num_classes;
    if (g.logits >= 0) ops::softmax_vk(oc, tensor(g.layout(g.logits)), B, C, Slice{&ar, a.probs, uint64_t(B) * C * 4});
    // Results: one copy of the arena's tail (output buffers, probabilities, explain maps) into host memory.
    const uint64_t end = explain ? (g.pool_keys ? a.pool + pool_map_bytes(B) : a.explain + g.layers * a.explain_stride)
                                 : a.probs + uint64_t(B) * std::max(C, 1) * 4;
    const uint64_t tail = end - a.outputs;
    rec_.copy(Slice{&ar, a.outputs, tail}, {&*readback_, 0, tail});
    rec_.submit_and_wait();

    readback_->invalidate();
    const uint8_t* rb = readback_->mapped();
    auto read_rows = [&](int t, int cols, float* dst) {  // one row per image
      const graph::Layout l = g.layout(t);
      const uint8_t* base = rb + (a.buffer[l.buffer] - a.outputs) + l.offset * e;
      for (int b = 0; b < B; ++b) {
        auto v = gpu::from_storage(base + uint64_t(b) * l.image_stride * e, std::size_t(cols), fp16_);
        std::copy(v.begin(), v.end(), dst + std::size_t(b) * cols);
      }
    };
    read_rows(g.features, d.dim, r.features.data() + std::size_t(first) * d.dim);
    if (g.logits >= 0) {
      read_rows(g.logits, C, r.logits.data() + std::size_t(first) * C);
      std::memcpy(r.probabilities.data() + std::size_t(first) * C, rb + (a.probs - a.outputs), std::size_t(B) * C * 4);
    }
    if (explain) {
      // Device layout per pass: [L, B, 3, T, T]; result layout: [L, batch, 3, T, T].
      const std::size_t per_image = layer_probs();
      for (int l = 0; l < g.layers; ++l)
        std::memcpy(r.attention.data() + (std::size_t(l) * r.batch + first) * per_image,
                    rb + (a.explain - a.outputs) + l * a.explain_stride, std::size_t(B) * per_image * 4);
      // The pool's maps: every query row is the latent's, keep row 0.
      const std::size_t K = g.pool_keys;
      for (int b = 0; b < B; ++b)
        for (int f = 0; f < 3 && K; ++f)
          std::memcpy(r.pool_attention.data() + ((std::size_t(first) + b) * 3 + f) * K,
                      rb + (a.pool - a.outputs) + ((std::size_t(b) * 3 + f) * K * K) * 4, K * 4);
    }
  }

  std::shared_ptr<const Model> model_;
  graph::Graph graph_;
  gpu::Context ctx_;
  gpu::KernelCache kernels_;
  gpu::Recorder rec_;
  WeightStore weights_;                 // storage precision
  // fp32 in both precisions: the filter kernels read complex fp32 (GFNet), attention reads its bias as fp32, the
  // rotary tables (EVA-02: one pair shared by every block's node).
  std::optional<WeightStore> fp32_weights_;
  std::unique_ptr<ops::SpectralFilterVk> spectral_;  // VkFFT plans: destroyed before the context
  ops::SpectralImpl impl_ = ops::SpectralImpl::Fft;
  bool fp16_ = false;
  bool int8_ = false;  // int8 weights for the int8 layers (activations in the storage precision)
  bool profiling_ = false;
  int pass_batch_ = 1;
  std::vector<NodeVk> nodes_;
  std::optional<gpu::Buffer> arena_, staging_, readback_;
};

}  // namespace

std::unique_ptr<Backend> make_vulkan_backend(std::shared_ptr<const Model> model, const VulkanBackendOptions& options) {
  if (!options.int8 && has_int8_weights(*model)) model = std::make_shared<const Model>(dequantized(*model));
  graph::Graph g = graph::build(*model);
  return std::make_unique<VulkanBackend>(std::move(model), std::move(g), options);
}

std::unique_ptr<Backend> make_vulkan_backend(std::shared_ptr<const Model> model, graph::Graph graph,
                                             const VulkanBackendOptions& options) {
  graph.validate();
  return std::make_unique<VulkanBackend>(std::move(model), std::move(graph), options);
}

}  // namespace vitvk
