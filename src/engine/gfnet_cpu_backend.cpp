// GFNet's CPU reference forward pass: the oracle for the Vulkan one (and for the PyTorch goldens' check).
#include <algorithm>
#include <thread>

#include "engine/gfnet.hpp"
#include "ops/broadcast_add.hpp"
#include "ops/gemm.hpp"
#include "ops/layernorm.hpp"
#include "ops/patch_embed.hpp"
#include "ops/softmax.hpp"
#include "ops/spectral_filter.hpp"
#include "ops/token_mean.hpp"
#include "vitvk/error.hpp"

namespace vitvk {

void throw_gfnet_no_attention(const Model& model) {
  throw Error(ErrorCode::Unsupported, "explain mode needs attention maps, and '" + model.config.architecture +
                                          "' is a GFNet: it mixes tokens with a global frequency-domain filter, "
                                          "not attention, so there are no maps to return");
}

namespace {

class GfnetCpuBackend final : public Backend {
 public:
  explicit GfnetCpuBackend(std::shared_ptr<const Model> model) : model_(std::move(model)) {}

  BackendKind kind() const override { return BackendKind::Cpu; }
  std::string name() const override { return "cpu"; }
  std::string device_name() const override {
    return "CPU (" + std::to_string(std::max(1u, std::thread::hardware_concurrency())) + " threads, OpenBLAS)";
  }
  std::string precision() const override { return "fp32"; }
  const Model& model() const override { return *model_; }

  ForwardResult forward(std::span<const float> images, int batch, const ForwardOptions& options) override {
    if (options.explain) throw_gfnet_no_attention(*model_);
    const ModelDims& d = model_->dims;
    const GFNetWeights& w = model_->gfnet;
    check_forward_input(d, images, batch);
    const int N = d.num_patches, D = d.dim, M = batch * N;
    std::vector<float> x(std::size_t(M) * D), xn(x.size()), f(x.size()), hidden(std::size_t(M) * d.mlp_hidden);

    ops::PatchEmbedShape ps{batch, d.channels, d.img_h, d.img_w, d.patch, D};
    ops::patch_embed_cpu(images.data(), ps, w.patch_embed.weight.data(), w.patch_embed.bias.data(), x.data(), N, 0);
    ops::broadcast_add_cpu(x.data(), batch, long(N) * D, w.pos_embed.data());
    const ops::SpectralShape ss{batch, d.grid_h, d.grid_w, D};
    for (const GFNetBlockWeights& blk : w.blocks) {
      ops::layernorm_cpu(x.data(), M, D, blk.norm1.weight.data(), blk.norm1.bias.data(), d.ln_eps, xn.data(), D, D);
      ops::spectral_filter_cpu(xn.data(), ss, blk.filter.data(), f.data());
      ops::layernorm_cpu(f.data(), M, D, blk.norm2.weight.data(), blk.norm2.bias.data(), d.ln_eps, xn.data(), D, D);
      ops::linear_cpu(xn.data(), M, D, blk.fc1.weight.data(), blk.fc1.bias.data(), d.mlp_hidden, hidden.data(), ops::Epilogue::Gelu);
      ops::linear_cpu(hidden.data(), M, d.mlp_hidden, blk.fc2.weight.data(), blk.fc2.bias.data(), D, x.data(), ops::Epilogue::Residual);
    }
    ops::layernorm_cpu(x.data(), M, D, w.norm.weight.data(), w.norm.bias.data(), d.ln_eps, xn.data(), D, D);

    ForwardResult r;
    r.batch = batch;
    r.num_classes = d.num_classes;
    r.dim = D;
    r.tokens = N;
    r.layers = d.depth;
    r.features.resize(std::size_t(batch) * D);
    ops::token_mean_cpu(xn.data(), batch, N, D, r.features.data());
    r.logits.resize(std::size_t(batch) * d.num_classes);
    ops::linear_cpu(r.features.data(), batch, D, w.head.weight.data(), w.head.bias.data(), d.num_classes, r.logits.data(),
                    ops::Epilogue::None);
    r.probabilities.resize(r.logits.size());
    ops::softmax_cpu(r.logits.data(), batch, d.num_classes, r.probabilities.data());
    return r;
  }

 private:
  std::shared_ptr<const Model> model_;
};

}  // namespace

std::unique_ptr<Backend> make_gfnet_cpu_backend(std::shared_ptr<const Model> model) {
  if (model->dims.family != ModelFamily::GFNet) throw Error(ErrorCode::Internal, "make_gfnet_cpu_backend: not a GFNet");
  return std::make_unique<GfnetCpuBackend>(std::move(model));
}

}  // namespace vitvk
