// GFNet's Vulkan forward pass: like the ViT one (weights uploaded once, one arena, one command buffer and one
// submit per pass of up to max_batch images), with the global filter recorded by ops::SpectralFilterVk —
// VkFFT's kernels appended into the same command buffer, or the dense-DFT passes.
#include <algorithm>
#include <cstring>
#include <optional>

#include "engine/gfnet.hpp"
#include "engine/weight_store.hpp"
#include "ops/broadcast_add.hpp"
#include "ops/gemm.hpp"
#include "ops/layernorm.hpp"
#include "ops/patch_embed.hpp"
#include "ops/softmax.hpp"
#include "ops/spectral_filter.hpp"
#include "ops/token_mean.hpp"
#include "vitvk/error.hpp"
#include "vk/op_context.hpp"
#include "vk/transfer.hpp"

namespace vitvk {
namespace {

using gpu::Slice;

struct LinearH {
  std::size_t w = 0, b = 0;
};
struct NormH {
  std::size_t g = 0, b = 0;
};
struct BlockH {
  NormH norm1, norm2;
  std::size_t filter = 0;  // in the fp32 store
  LinearH fc1, fc2;
};

class GfnetVulkanBackend final : public Backend {
 public:
  GfnetVulkanBackend(std::shared_ptr<const Model> model, const VulkanBackendOptions& o)
      : model_(std::move(model)),
        ctx_(gpu::ContextOptions{.device = o.device, .validation = o.validation, .enable_fp16 = o.fp16}),
        kernels_(ctx_),
        rec_(ctx_),
        weights_(ctx_, o.fp16, o.memory_budget),
        filters_(ctx_, false, o.memory_budget),
        spectral_(ctx_) {
    if (o.fp16 && !ctx_.fp16_enabled())
      throw Error(ErrorCode::Unsupported, "fp16 precision requested but '" + ctx_.info().name +
                                              "' lacks 16-bit storage buffers (use --precision fp32)");
    fp16_ = o.fp16;
    const ModelDims& d = model_->dims;
    shape1_ = {1, d.grid_h, d.grid_w, d.dim};
    impl_ = spectral_.resolve(ops::parse_spectral_impl(o.filter_impl), shape1_);
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
    if (options.explain) throw_gfnet_no_attention(*model_);
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
    for (int start = 0; start < batch; start += pass_batch_) {
      const int n = std::min(pass_batch_, batch - start);
      run_pass(images.subspan(start * image_floats, n * image_floats), n, r, start);
    }
    return r;
  }

 private:
  // Region offsets (bytes) inside the arena for one pass of B images. The filter's work space comes first:
  // VkFFT addresses it from the start of the buffer.
  struct Arena {
    uint64_t work = 0, images = 0, x = 0, a = 0, f = 0, pooled = 0, logits = 0, probs = 0, total = 0;
  };

  LinearH add_linear(const LinearWeights& l) {
    return {weights_.add(ops::linear_vk_pack(ctx_.info(), l.weight, l.out, l.in)), weights_.add(l.bias)};
  }
  NormH add_norm(const NormWeights& n) { return {weights_.add(n.weight), weights_.add(n.bias)}; }

  void upload_weights() {
    const ModelDims& d = model_->dims;
    const GFNetWeights& w = model_->gfnet;
    patch_ = add_linear(w.patch_embed);
    pos_ = weights_.add(w.pos_embed);
    for (const auto& b : w.blocks) {
      BlockH h;
      h.norm1 = add_norm(b.norm1);
      h.filter = filters_.add(ops::spectral_filter_vk_pack(b.filter, d.grid_h, d.grid_w, d.dim));
      h.norm2 = add_norm(b.norm2);
      h.fc1 = add_linear(b.fc1);
      h.fc2 = add_linear(b.fc2);
      blocks_.push_back(h);
    }
    norm_ = add_norm(w.norm);
    head_ = add_linear(w.head);
    weights_.finish();
    filters_.finish();
  }

  Arena layout(int B) const {
    const ModelDims& d = model_->dims;
    const uint64_t es = fp16_ ? 2 : 4, al = std::max<uint64_t>(256, ctx_.info().min_storage_buffer_offset_alignment);
    const uint64_t N = d.num_patches, D = d.dim;
    Arena a;
    uint64_t off = 0;
    auto take = [&](uint64_t bytes) {
      off = align_up(off, al);
      const uint64_t at = off;
      off += std::max<uint64_t>(bytes, 4);
      return at;
    };
    ops::SpectralShape s = shape1_;
    s.batch = B;
    // The filter's work space, later the MLP hidden layer (never live at the same time).
    a.work = take(std::max(B * N * uint64_t(d.mlp_hidden) * es, ops::SpectralFilterVk::scratch_bytes(impl_, s)));
    a.images = take(B * uint64_t(d.channels) * d.img_h * d.img_w * es);
    a.x = take(B * N * D * es);
    a.a = take(B * N * D * es);  // norm outputs
    a.f = take(B * N * D * es);  // filter output
    a.pooled = take(B * D * es);
    a.logits = take(B * uint64_t(d.num_classes) * es);
    a.probs = take(B * uint64_t(d.num_classes) * 4);
    a.total = align_up(off, al);
    return a;
  }

  void plan_arena(int max_batch, uint64_t budget) {
    // Every region is bound as one descriptor range (the work space from the start of the buffer, for VkFFT).
    const uint64_t range = ctx_.info().max_storage_buffer_range;
    pass_batch_ = max_batch;
    while (pass_batch_ > 1 && layout(pass_batch_).images > range) pass_batch_ = std::max(1, pass_batch_ / 2);
    if (layout(pass_batch_).images > range)
      throw Error(ErrorCode::Unsupported, "one image's GFNet work space exceeds the device's storage buffer range");
    // As the ViT backend: halve the pass until its activations fit the device (and the budget); only a single
    // image that does not fit is the caller's OutOfMemory.
    const uint64_t weight_bytes = weights_.total_bytes() + filters_.total_bytes();
    for (;;) {
      try {
        const Arena a = layout(pass_batch_);
        const uint64_t staging = std::max<uint64_t>(a.x - a.images, 4), readback = a.total - a.pooled;
        if (budget && weight_bytes + a.total + staging + readback > budget)
          throw Error(ErrorCode::OutOfMemory,
                      "the activations of " + std::to_string(pass_batch_) + " image(s) need " +
                          mib(a.total + staging + readback) + " besides the weights' " + mib(weight_bytes) +
                          ", over the memory budget of " + mib(budget));
        arena_.emplace(ctx_, a.total, gpu::MemoryUse::Device);
        staging_.emplace(ctx_, staging, gpu::MemoryUse::Upload);
        readback_.emplace(ctx_, readback, gpu::MemoryUse::Readback);
        // The full-size pass's filter plan now, not in the first forward (a smaller last pass builds its own).
        ops::SpectralShape s = shape1_;
        s.batch = pass_batch_;
        spectral_.prepare(impl_, s, Slice{&*arena_, a.work, ops::SpectralFilterVk::scratch_bytes(impl_, s)});
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

  void run_pass(std::span<const float> images, int B, ForwardResult& r, int first) {
    const ModelDims& d = model_->dims;
    const Arena a = layout(B);
    const uint64_t es = fp16_ ? 2 : 4;
    const int N = d.num_patches, D = d.dim, M = B * N, C = d.num_classes;
    const gpu::Buffer& ar = *arena_;
    auto region = [&](uint64_t off, uint64_t bytes) { return Slice{&ar, off, bytes}; };
    ops::SpectralShape ss = shape1_;
    ss.batch = B;
    const uint64_t act = uint64_t(M) * D * es;
    const Slice s_images = region(a.images, images.size() * es), s_x = region(a.x, act), s_a = region(a.a, act),
                s_f = region(a.f, act), s_hidden = region(a.work, uint64_t(M) * d.mlp_hidden * es),
                s_work = region(a.work, ops::SpectralFilterVk::scratch_bytes(impl_, ss)),
                s_pooled = region(a.pooled, uint64_t(B) * D * es), s_logits = region(a.logits, uint64_t(B) * C * es),
                s_probs = region(a.probs, uint64_t(B) * C * 4);
    auto W = [&](std::size_t h) { return weights_[h]; };

    auto in = gpu::to_storage(images, fp16_);
    std::memcpy(staging_->mapped(), in.data(), in.size());
    staging_->flush();

    gpu::OpContext oc{kernels_, rec_, fp16_};
    rec_.begin(profiling_);
    rec_.copy({&*staging_, 0, in.size()}, s_images);
    ops::patch_embed_vk(oc, s_images, {B, d.channels, d.img_h, d.img_w, d.patch, D}, W(patch_.w), W(patch_.b), s_x, N, 0);
    ops::broadcast_add_vk(oc, s_x, B, long(N) * D, W(pos_));
    for (const BlockH& k : blocks_) {
      ops::layernorm_vk(oc, s_x, W(k.norm1.g), W(k.norm1.b), s_a, M, D, d.ln_eps, D, D);
      spectral_.record(oc, impl_, s_a, ss, filters_[k.filter], s_work, s_f);
      ops::layernorm_vk(oc, s_f, W(k.norm2.g), W(k.norm2.b), s_a, M, D, d.ln_eps, D, D);
      ops::linear_vk(oc, s_a, M, D, D, W(k.fc1.w), W(k.fc1.b), d.mlp_hidden, s_hidden, d.mlp_hidden, ops::Epilogue::Gelu);
      ops::linear_vk(oc, s_hidden, M, d.mlp_hidden, d.mlp_hidden, W(k.fc2.w), W(k.fc2.b), D, s_x, D, ops::Epilogue::Residual);
    }
    ops::layernorm_vk(oc, s_x, W(norm_.g), W(norm_.b), s_a, M, D, d.ln_eps, D, D);
    ops::token_mean_vk(oc, s_a, B, N, D, s_pooled);
    ops::linear_vk(oc, s_pooled, B, D, D, W(head_.w), W(head_.b), C, s_logits, C, ops::Epilogue::None);
    ops::softmax_vk(oc, s_logits, B, C, s_probs);
    // Results: one copy of the arena's tail (pooled features, logits, probabilities).
    const uint64_t tail = a.probs + s_probs.size - a.pooled;
    rec_.copy(region(a.pooled, tail), {&*readback_, 0, tail});
    rec_.submit_and_wait();

    readback_->invalidate();
    const uint8_t* rb = readback_->mapped();
    auto pooled = gpu::from_storage(rb, std::size_t(B) * D, fp16_);
    auto logits = gpu::from_storage(rb + (a.logits - a.pooled), std::size_t(B) * C, fp16_);
    std::copy(pooled.begin(), pooled.end(), r.features.begin() + std::size_t(first) * D);
    std::copy(logits.begin(), logits.end(), r.logits.begin() + std::size_t(first) * C);
    std::memcpy(r.probabilities.data() + std::size_t(first) * C, rb + (a.probs - a.pooled), std::size_t(B) * C * 4);
  }

  std::shared_ptr<const Model> model_;
  gpu::Context ctx_;
  gpu::KernelCache kernels_;
  gpu::Recorder rec_;
  WeightStore weights_;  // storage precision
  WeightStore filters_;  // fp32: the filter kernels read complex fp32
  ops::SpectralFilterVk spectral_;  // VkFFT plans: destroyed before the context
  bool fp16_ = false;
  bool profiling_ = false;
  int pass_batch_ = 1;
  ops::SpectralShape shape1_;
  ops::SpectralImpl impl_ = ops::SpectralImpl::Fft;
  LinearH patch_, head_;
  std::size_t pos_ = 0;
  NormH norm_;
  std::vector<BlockH> blocks_;
  std::optional<gpu::Buffer> arena_, staging_, readback_;
};

}  // namespace

std::unique_ptr<Backend> make_gfnet_vulkan_backend(std::shared_ptr<const Model> model, const VulkanBackendOptions& options) {
  if (model->dims.family != ModelFamily::GFNet) throw Error(ErrorCode::Internal, "make_gfnet_vulkan_backend: not a GFNet");
  return std::make_unique<GfnetVulkanBackend>(std::move(model), options);
}

}  // namespace vitvk
