// The CPU reference forward pass: the oracle every GPU test compares against.
#include <cblas.h>

#include <algorithm>
#include <thread>

#include "engine/backend.hpp"
#include "engine/gfnet.hpp"
#include "ops/attention.hpp"
#include "ops/embed.hpp"
#include "ops/gemm.hpp"
#include "ops/layernorm.hpp"
#include "ops/patch_embed.hpp"
#include "ops/softmax.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(std::shared_ptr<const Model> model) : model_(std::move(model)) {}

  BackendKind kind() const override { return BackendKind::Cpu; }
  std::string name() const override { return "cpu"; }
  std::string device_name() const override {
    return "CPU (" + std::to_string(std::max(1u, std::thread::hardware_concurrency())) + " threads, OpenBLAS)";
  }
  std::string precision() const override { return "fp32"; }
  const Model& model() const override { return *model_; }

  ForwardResult forward(std::span<const float> images, int batch, const ForwardOptions& options) override {
    const ModelDims& d = model_->dims;
    const ViTWeights& w = model_->weights;
    const long image_size = static_cast<long>(d.channels) * d.img_h * d.img_w;
    if (batch < 1 || images.size() != static_cast<std::size_t>(batch * image_size))
      throw Error(ErrorCode::InvalidArgument, "forward: expected " + std::to_string(batch) + " images of " +
                                                  std::to_string(image_size) + " floats");
    const int T = d.tokens, D = d.dim, M = batch * T;
    std::vector<float> x(static_cast<std::size_t>(M) * D), xn(x.size()), attn(x.size());
    std::vector<float> qkv(static_cast<std::size_t>(M) * 3 * D), hidden(static_cast<std::size_t>(M) * d.mlp_hidden);

    ForwardResult r;
    r.batch = batch;
    r.num_classes = d.num_classes;
    r.dim = D;
    r.tokens = T;
    r.layers = d.depth;
    const long layer_probs = static_cast<long>(batch) * 3 * T * T;
    if (options.explain) r.attention.resize(static_cast<std::size_t>(layer_probs * d.depth));

    ops::PatchEmbedShape ps{batch, d.channels, d.img_h, d.img_w, d.patch, D};
    ops::patch_embed_cpu(images.data(), ps, w.patch_embed.weight.data(), w.patch_embed.bias.data(), x.data(), T, d.prefix);
    ops::embed_tokens_cpu(x.data(), batch, T, D, w.cls_token.data(), d.prefix > 1 ? w.dist_token.data() : nullptr,
                          w.pos_embed.data());

    const ops::AttentionShape as{batch, T, d.heads, d.head_dim};
    for (int l = 0; l < d.depth; ++l) {
      const BlockWeights& blk = w.blocks[l];
      ops::layernorm_cpu(x.data(), M, D, blk.norm1.weight.data(), blk.norm1.bias.data(), d.ln_eps, xn.data(), D, D);
      ops::linear_cpu(xn.data(), M, D, blk.qkv.weight.data(), blk.qkv.bias.data(), 3 * D, qkv.data(), ops::Epilogue::None);
      ops::attention_cpu(qkv.data(), as, attn.data(), options.explain ? r.attention.data() + l * layer_probs : nullptr);
      ops::linear_cpu(attn.data(), M, D, blk.proj.weight.data(), blk.proj.bias.data(), D, x.data(), ops::Epilogue::Residual);
      ops::layernorm_cpu(x.data(), M, D, blk.norm2.weight.data(), blk.norm2.bias.data(), d.ln_eps, xn.data(), D, D);
      ops::linear_cpu(xn.data(), M, D, blk.fc1.weight.data(), blk.fc1.bias.data(), d.mlp_hidden, hidden.data(), ops::Epilogue::Gelu);
      ops::linear_cpu(hidden.data(), M, d.mlp_hidden, blk.fc2.weight.data(), blk.fc2.bias.data(), D, x.data(), ops::Epilogue::Residual);
    }

    // Only the prefix tokens feed the head: normalise those rows alone.
    const int P = d.prefix;
    std::vector<float> pre(static_cast<std::size_t>(batch) * P * D);
    for (int b = 0; b < batch; ++b)
      ops::layernorm_cpu(x.data() + static_cast<long>(b) * T * D, P, D, w.norm.weight.data(), w.norm.bias.data(), d.ln_eps,
                         pre.data() + static_cast<long>(b) * P * D, D, D);
    std::vector<float> cls(static_cast<std::size_t>(batch) * D), dist;
    for (int b = 0; b < batch; ++b) std::copy_n(pre.data() + static_cast<long>(b) * P * D, D, cls.data() + static_cast<long>(b) * D);
    r.features = cls;
    r.logits.resize(static_cast<std::size_t>(batch) * d.num_classes);
    ops::linear_cpu(cls.data(), batch, D, w.head.weight.data(), w.head.bias.data(), d.num_classes, r.logits.data(), ops::Epilogue::None);
    if (P > 1) {  // DeiT distilled: average the class and distillation heads, as timm does at inference
      dist.resize(cls.size());
      for (int b = 0; b < batch; ++b)
        std::copy_n(pre.data() + (static_cast<long>(b) * P + 1) * D, D, dist.data() + static_cast<long>(b) * D);
      std::vector<float> ld(r.logits.size());
      ops::linear_cpu(dist.data(), batch, D, w.head_dist.weight.data(), w.head_dist.bias.data(), d.num_classes, ld.data(), ops::Epilogue::None);
      for (std::size_t i = 0; i < ld.size(); ++i) r.logits[i] = 0.5f * (r.logits[i] + ld[i]);
    }
    r.probabilities.resize(r.logits.size());
    ops::softmax_cpu(r.logits.data(), batch, d.num_classes, r.probabilities.data());
    return r;
  }

 private:
  std::shared_ptr<const Model> model_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(std::shared_ptr<const Model> model) {
  if (model->dims.family == ModelFamily::GFNet) return make_gfnet_cpu_backend(std::move(model));
  return std::make_unique<CpuBackend>(std::move(model));
}

}  // namespace vitvk
