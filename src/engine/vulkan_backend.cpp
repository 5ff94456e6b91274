// The Vulkan forward pass: weights uploaded once into a few device buffers, activations in one arena sized
// from the graph, and each pass of up to max_batch images recorded into one command buffer and submitted once.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "engine/backend.hpp"
#include "engine/gfnet.hpp"
#include "engine/weight_store.hpp"
#include "ops/attention.hpp"
#include "ops/embed.hpp"
#include "ops/gemm.hpp"
#include "ops/layernorm.hpp"
#include "ops/patch_embed.hpp"
#include "ops/softmax.hpp"
#include "vitvk/error.hpp"
#include "vk/op_context.hpp"
#include "vk/transfer.hpp"

namespace vitvk {
namespace {

using gpu::Slice;

struct LinearVk {
  std::size_t w = 0, b = 0;
  int N = 0, K = 0;
};
struct NormVk {
  std::size_t g = 0, b = 0;
};
struct BlockVk {
  NormVk norm1, norm2;
  LinearVk qkv, proj, fc1, fc2;
};

class VulkanBackend final : public Backend {
 public:
  VulkanBackend(std::shared_ptr<const Model> model, const VulkanBackendOptions& o)
      : model_(std::move(model)),
        ctx_(gpu::ContextOptions{.device = o.device, .validation = o.validation, .enable_fp16 = o.fp16}),
        kernels_(ctx_),
        rec_(ctx_),
        weights_(ctx_, o.fp16, o.memory_budget) {
    if (o.fp16 && !ctx_.fp16_enabled())
      throw Error(ErrorCode::Unsupported, "fp16 precision requested but '" + ctx_.info().name +
                                              "' lacks 16-bit storage buffers (use --precision fp32)");
    fp16_ = o.fp16;
    upload_weights();
    plan_arena(std::max(1, o.max_batch), o.memory_budget);
  }

  BackendKind kind() const override { return BackendKind::Vulkan; }
  std::string name() const override { return "vulkan"; }
  std::string device_name() const override { return ctx_.info().name + " (" + ctx_.info().driver_name + ")"; }
  std::string precision() const override { return fp16_ ? "fp16" : "fp32"; }
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
    ForwardResult r;
    r.batch = batch;
    r.num_classes = d.num_classes;
    r.dim = d.dim;
    r.tokens = d.tokens;
    r.layers = d.depth;
    r.logits.resize(std::size_t(batch) * d.num_classes);
    r.probabilities.resize(r.logits.size());
    r.features.resize(std::size_t(batch) * d.dim);
    const std::size_t layer_probs = 3ull * d.tokens * d.tokens;  // per image per layer
    if (options.explain) r.attention.resize(std::size_t(d.depth) * batch * layer_probs);
    for (int start = 0; start < batch; start += pass_batch_) {
      const int n = std::min(pass_batch_, batch - start);
      run_pass(images.subspan(start * image_floats, n * image_floats), n, options.explain, r, start);
    }
    return r;
  }

 private:
  // Region offsets (bytes) inside the arena for one pass of pass_batch_ images.
  struct Arena {
    uint64_t images = 0, x = 0, a = 0, b = 0, pre = 0, logits = 0, probs = 0, explain = 0, explain_stride = 0, total = 0;
  };

  std::size_t add_linear(const LinearWeights& l, LinearVk& out, float scale = 1.f) {
    std::vector<float> w = ops::linear_vk_pack(ctx_.info(), l.weight, l.out, l.in);
    std::vector<float> b = l.bias;
    if (scale != 1.f) {
      for (auto& v : w) v *= scale;
      for (auto& v : b) v *= scale;
    }
    out.w = weights_.add(std::move(w));
    out.b = weights_.add(std::move(b));
    out.N = l.out;
    out.K = l.in;
    return out.w;
  }
  NormVk add_norm(const NormWeights& n) { return {weights_.add(n.weight), weights_.add(n.bias)}; }

  void upload_weights() {
    const ViTWeights& w = model_->weights;
    add_linear(w.patch_embed, patch_);
    cls_ = weights_.add(w.cls_token);
    if (model_->dims.prefix > 1) dist_ = weights_.add(w.dist_token);
    pos_ = weights_.add(w.pos_embed);
    for (const auto& b : w.blocks) {
      BlockVk v;
      v.norm1 = add_norm(b.norm1);
      v.norm2 = add_norm(b.norm2);
      add_linear(b.qkv, v.qkv);
      add_linear(b.proj, v.proj);
      add_linear(b.fc1, v.fc1);
      add_linear(b.fc2, v.fc2);
      blocks_.push_back(v);
    }
    norm_ = add_norm(w.norm);
    // Distilled: logits = (head(cls) + head_dist(dist)) / 2 as two GEMMs into one output, each scaled by 1/2
    // (exact in floating point), the second accumulating.
    const bool distilled = model_->dims.prefix > 1;
    add_linear(w.head, head_, distilled ? 0.5f : 1.f);
    if (distilled) add_linear(w.head_dist, head_dist_, 0.5f);
    weights_.finish();
  }

  Arena layout(int B, bool explain) const {
    const ModelDims& d = model_->dims;
    const uint64_t es = fp16_ ? 2 : 4, al = std::max<uint64_t>(256, ctx_.info().min_storage_buffer_offset_alignment);
    const uint64_t T = d.tokens, D = d.dim;
    Arena a;
    uint64_t off = 0;
    auto take = [&](uint64_t bytes) {
      off = align_up(off, al);
      const uint64_t at = off;
      off += std::max<uint64_t>(bytes, 4);
      return at;
    };
    a.images = take(B * uint64_t(d.channels) * d.img_h * d.img_w * es);
    a.x = take(B * T * D * es);
    a.a = take(B * T * D * es);                                          // norm output, then attention output
    a.b = take(B * T * std::max<uint64_t>(3 * D, d.mlp_hidden) * es);  // qkv, then the MLP hidden layer
    a.pre = take(B * uint64_t(d.prefix) * D * es);
    a.logits = take(B * uint64_t(d.num_classes) * es);
    a.probs = take(B * uint64_t(d.num_classes) * 4);
    // Each layer's maps are bound on their own, so each starts on a binding-aligned offset.
    a.explain_stride = align_up(uint64_t(B) * 3 * T * T * 4, al);
    a.explain = explain ? take(uint64_t(d.depth) * a.explain_stride) : off;
    a.total = align_up(off, al);
    return a;
  }

  void plan_arena(int max_batch, uint64_t budget) {
    // Every region is bound as one descriptor range: the largest per-image region caps the pass size.
    const ModelDims& d = model_->dims;
    const uint64_t es = fp16_ ? 2 : 4, T = d.tokens;
    const uint64_t largest = std::max<uint64_t>({T * std::max<uint64_t>(3 * d.dim, d.mlp_hidden) * es,
                                                 uint64_t(d.depth) * 3 * T * T * 4});
    const uint64_t range = ctx_.info().max_storage_buffer_range;
    pass_batch_ = static_cast<int>(std::clamp<uint64_t>(range / largest, 1, static_cast<uint64_t>(max_batch)));
    // The device may not hold the activations of that many images: halve the pass until they fit (forward() runs
    // any batch as several passes). Only when a single image does not fit is OutOfMemory the caller's.
    for (;;) {
      try {
        const Arena a = layout(pass_batch_, true);
        const uint64_t staging = std::max<uint64_t>(a.x - a.images, 4), readback = a.total - a.pre;
        if (budget && weights_.total_bytes() + a.total + staging + readback > budget)
          throw Error(ErrorCode::OutOfMemory,
                      "the activations of " + std::to_string(pass_batch_) + " image(s) need " +
                          mib(a.total + staging + readback) + " besides the weights' " + mib(weights_.total_bytes()) +
                          ", over the memory budget of " + mib(budget));
        arena_.emplace(ctx_, a.total, gpu::MemoryUse::Device);
        staging_.emplace(ctx_, staging, gpu::MemoryUse::Upload);
        readback_.emplace(ctx_, readback, gpu::MemoryUse::Readback);
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
    const Arena a = layout(B, explain);
    const uint64_t es = fp16_ ? 2 : 4;
    const int T = d.tokens, D = d.dim, M = B * T, P = d.prefix, C = d.num_classes;
    const gpu::Buffer& ar = *arena_;
    auto region = [&](uint64_t off, uint64_t bytes) { return Slice{&ar, off, bytes}; };
    const Slice s_images = region(a.images, images.size() * es), s_x = region(a.x, uint64_t(M) * D * es),
                s_a = region(a.a, uint64_t(M) * D * es), s_qkv = region(a.b, uint64_t(M) * 3 * D * es),
                s_hidden = region(a.b, uint64_t(M) * d.mlp_hidden * es), s_pre = region(a.pre, uint64_t(B) * P * D * es),
                s_logits = region(a.logits, uint64_t(B) * C * es), s_probs = region(a.probs, uint64_t(B) * C * 4);
    auto W = [&](std::size_t h) { return weights_[h]; };

    // Inputs: convert to the storage precision straight into the staging buffer.
    auto in = gpu::to_storage(images, fp16_);
    std::memcpy(staging_->mapped(), in.data(), in.size());
    staging_->flush();

    gpu::OpContext oc{kernels_, rec_, fp16_};
    rec_.begin(profiling_);
    rec_.copy({&*staging_, 0, in.size()}, s_images);
    ops::patch_embed_vk(oc, s_images, {B, d.channels, d.img_h, d.img_w, d.patch, D}, W(patch_.w), W(patch_.b), s_x, T, P);
    ops::embed_tokens_vk(oc, s_x, B, T, D, W(cls_), P > 1 ? W(dist_) : Slice{}, W(pos_));
    const ops::AttentionShape as{B, T, d.heads, d.head_dim};
    for (int l = 0; l < d.depth; ++l) {
      const BlockVk& k = blocks_[l];
      const Slice fused = explain ? region(a.explain + l * a.explain_stride, uint64_t(B) * 3 * T * T * 4) : Slice{};
      ops::layernorm_vk(oc, s_x, W(k.norm1.g), W(k.norm1.b), s_a, M, D, d.ln_eps, D, D);
      ops::linear_vk(oc, s_a, M, D, D, W(k.qkv.w), W(k.qkv.b), 3 * D, s_qkv, 3 * D, ops::Epilogue::None);
      ops::attention_vk(oc, s_qkv, as, s_a, fused);
      ops::linear_vk(oc, s_a, M, D, D, W(k.proj.w), W(k.proj.b), D, s_x, D, ops::Epilogue::Residual);
      ops::layernorm_vk(oc, s_x, W(k.norm2.g), W(k.norm2.b), s_a, M, D, d.ln_eps, D, D);
      ops::linear_vk(oc, s_a, M, D, D, W(k.fc1.w), W(k.fc1.b), d.mlp_hidden, s_hidden, d.mlp_hidden, ops::Epilogue::Gelu);
      ops::linear_vk(oc, s_hidden, M, d.mlp_hidden, d.mlp_hidden, W(k.fc2.w), W(k.fc2.b), D, s_x, D, ops::Epilogue::Residual);
    }
    // Final norm on the prefix rows only (class, distillation), then the head(s) and softmax.
    for (int p = 0; p < P; ++p)
      ops::layernorm_vk(oc, s_x.sub(uint64_t(p) * D * es, s_x.size - uint64_t(p) * D * es), W(norm_.g), W(norm_.b),
                        s_pre.sub(uint64_t(p) * D * es, s_pre.size - uint64_t(p) * D * es), B, D, d.ln_eps, T * D, P * D);
    ops::linear_vk(oc, s_pre, B, D, P * D, W(head_.w), W(head_.b), C, s_logits, C, ops::Epilogue::None);
    if (P > 1)
      ops::linear_vk(oc, s_pre.sub(uint64_t(D) * es, s_pre.size - uint64_t(D) * es), B, D, P * D, W(head_dist_.w),
                     W(head_dist_.b), C, s_logits, C, ops::Epilogue::Residual);
    ops::softmax_vk(oc, s_logits, B, C, s_probs);
    // Results: one copy of the contiguous tail of the arena (pre, logits, probs, explain) into host memory.
    const uint64_t tail = (explain ? a.explain + uint64_t(d.depth) * a.explain_stride : a.probs + s_probs.size) - a.pre;
    rec_.copy(region(a.pre, tail), {&*readback_, 0, tail});
    rec_.submit_and_wait();

    readback_->invalidate();
    const uint8_t* rb = readback_->mapped();
    auto pre = gpu::from_storage(rb, std::size_t(B) * P * D, fp16_);
    auto logits = gpu::from_storage(rb + (a.logits - a.pre), std::size_t(B) * C, fp16_);
    for (int b = 0; b < B; ++b)
      std::copy_n(pre.data() + std::size_t(b) * P * D, D, r.features.data() + std::size_t(first + b) * D);
    std::copy(logits.begin(), logits.end(), r.logits.begin() + std::size_t(first) * C);
    std::memcpy(r.probabilities.data() + std::size_t(first) * C, rb + (a.probs - a.pre), std::size_t(B) * C * 4);
    if (explain) {
      // Device layout per pass: [L, B, 3, T, T]; result layout: [L, batch, 3, T, T].
      const std::size_t per_image = 3ull * T * T;
      for (int l = 0; l < d.depth; ++l)
        std::memcpy(r.attention.data() + (std::size_t(l) * r.batch + first) * per_image,
                    rb + (a.explain - a.pre) + l * a.explain_stride, std::size_t(B) * per_image * 4);
    }
  }

  std::shared_ptr<const Model> model_;
  gpu::Context ctx_;
  gpu::KernelCache kernels_;
  gpu::Recorder rec_;
  WeightStore weights_;
  bool fp16_ = false;
  bool profiling_ = false;
  int pass_batch_ = 1;
  LinearVk patch_, head_, head_dist_;
  std::size_t cls_ = 0, dist_ = 0, pos_ = 0;
  NormVk norm_;
  std::vector<BlockVk> blocks_;
  std::optional<gpu::Buffer> arena_, staging_, readback_;
};

}  // namespace

std::unique_ptr<Backend> make_vulkan_backend(std::shared_ptr<const Model> model, const VulkanBackendOptions& options) {
  if (model->dims.family == ModelFamily::GFNet) return make_gfnet_vulkan_backend(std::move(model), options);
  return std::make_unique<VulkanBackend>(std::move(model), options);
}

}  // namespace vitvk
