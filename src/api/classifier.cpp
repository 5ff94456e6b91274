// vitvk::Classifier: the public face of Model + Backend. Preprocessing runs on the caller's thread; forward passes
// are serialised by Impl::mutex (backends are not re-entrant).
#include "vitvk/classifier.hpp"

#include <algorithm>
#include <mutex>

#include "api/convert.hpp"
#include "engine/factory.hpp"
#include "explain/rollout.hpp"
#include "image/preprocess.hpp"
#include "model/model.hpp"
#include "model/resolve.hpp"
#include "pipeline/topk.hpp"

namespace vitvk {

struct Classifier::Impl {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Backend> backend;
  ModelInfo info;
  int max_batch = 1;
  mutable std::mutex mutex;  // guards backend

  std::size_t image_floats() const {
    const ModelDims& d = model->dims;
    return static_cast<std::size_t>(d.channels) * d.img_h * d.img_w;
  }

  // Preprocessed model input for images[first, first + count): [count, C, H, W].
  std::vector<float> preprocess(std::span<const ImageView> images, std::size_t first, std::size_t count,
                                std::vector<CropGeometry>* geometry = nullptr) const {
    std::vector<float> input(count * image_floats());
    for (std::size_t i = 0; i < count; ++i) {
      const cv::Mat rgb = api::rgb_of(images[first + i], "image " + std::to_string(first + i));
      const CropGeometry g = preprocess_into(
          rgb, model->config.preprocess, std::span<float>(input).subspan(i * image_floats(), image_floats()));
      if (geometry) geometry->push_back(g);
    }
    return input;
  }

  ForwardResult forward(std::span<const float> input, int batch, bool explain) {
    ForwardOptions options;
    options.explain = explain;
    const std::lock_guard lock(mutex);
    return backend->forward(input, batch, options);
  }

  std::vector<Prediction> top(std::span<const float> probabilities, int k) const {
    std::vector<Prediction> out;
    for (const auto& s : pipeline::top_k(probabilities, k))
      out.push_back(Prediction{s.index, model->labels.at(static_cast<std::size_t>(s.index)), s.prob});
    return out;
  }

  // The shared path of classify / embed / infer: validates every view first (a bad one fails the call before any
  // work), then runs max_batch-sized chunks, preprocessing each outside the lock.
  std::vector<Inference> run(std::span<const ImageView> images, int top_k, bool want_top, bool want_vectors) {
    if (want_top && model->dims.num_classes == 0)
      throw Error(ErrorCode::Unsupported, "'" + model->config.architecture +
                                              "' has no classifier (num_classes 0): it gives embeddings, use embed()");
    if (want_top && top_k < 1)
      throw Error(ErrorCode::InvalidArgument, "top_k must be at least 1, got " + std::to_string(top_k));
    for (std::size_t i = 0; i < images.size(); ++i) api::checked_stride(images[i], "image " + std::to_string(i));
    std::vector<Inference> out(images.size());
    for (std::size_t first = 0; first < images.size(); first += static_cast<std::size_t>(max_batch)) {
      const std::size_t count = std::min(images.size() - first, static_cast<std::size_t>(max_batch));
      const std::vector<float> input = preprocess(images, first, count);
      const ForwardResult r = forward(input, static_cast<int>(count), false);
      for (std::size_t i = 0; i < count; ++i) {
        Inference& inf = out[first + i];
        const auto probs = r.probabilities_of(static_cast<int>(i));
        if (want_top) inf.top = top(probs, top_k);
        if (want_vectors) {
          const auto feats = std::span<const float>(r.features).subspan(i * r.dim, r.dim);
          inf.embedding.assign(feats.begin(), feats.end());
          inf.probabilities.assign(probs.begin(), probs.end());
          const auto logits = r.logits_of(static_cast<int>(i));
          inf.logits.assign(logits.begin(), logits.end());
        }
      }
    }
    return out;
  }
};

namespace {

BackendRequest request_for(const LoadOptions& o) {
  if (o.max_batch < 1)
    throw Error(ErrorCode::InvalidArgument, "LoadOptions::max_batch must be at least 1, got " + std::to_string(o.max_batch));
  if (o.device && *o.device < 0)
    throw Error(ErrorCode::InvalidArgument, "LoadOptions::device must be a device index >= 0, got " + std::to_string(*o.device));
  BackendRequest r;
  switch (o.backend) {
    case BackendType::Auto: r.backend = BackendChoice::Auto; break;
    case BackendType::Cpu: r.backend = BackendChoice::Cpu; break;
    case BackendType::Vulkan: r.backend = BackendChoice::Vulkan; break;
    default: throw Error(ErrorCode::InvalidArgument, "LoadOptions::backend: unknown value");
  }
  switch (o.precision) {
    case Precision::Auto: r.precision = PrecisionChoice::Auto; break;
    case Precision::Fp32: r.precision = PrecisionChoice::Fp32; break;
    case Precision::Fp16: r.precision = PrecisionChoice::Fp16; break;
    case Precision::Int8: r.precision = PrecisionChoice::Int8; break;
    default: throw Error(ErrorCode::InvalidArgument, "LoadOptions::precision: unknown value");
  }
  r.device = o.device;
  r.max_batch = o.max_batch;
  r.validation = o.validation;
  return r;
}

ModelInfo info_of(const Model& m, const Backend& b, int max_batch) {
  const ModelDims& d = m.dims;
  ModelInfo i;
  i.architecture = m.config.architecture;
  i.directory = m.dir.string();
  i.input_width = d.img_w;
  i.input_height = d.img_h;
  i.channels = d.channels;
  i.patch_size = d.patch;
  i.grid_width = d.grid_w;
  i.grid_height = d.grid_h;
  i.embedding_dim = d.dim;
  i.depth = d.depth;
  i.heads = d.heads;
  i.num_classes = d.num_classes;
  i.distilled = !m.weights.dist_token.empty();
  i.has_classifier = d.num_classes > 0;
  i.tokens = d.tokens;
  i.prefix_tokens = d.prefix;
  i.register_tokens = d.reg_tokens;
  i.family = d.family == ModelFamily::GFNet ? "gfnet" : d.family == ModelFamily::Eva ? "eva"
             : d.family == ModelFamily::BEiT ? "beit" : "vit";
  i.pooling = d.family == ModelFamily::GFNet ? "avg" : d.pool;
  i.labels = m.labels;
  i.backend = b.name();
  i.device = b.device_name();
  i.precision = b.precision();
  i.max_batch = max_batch;
  return i;
}

HeadFusion fusion_of(AttentionFusion f) {
  switch (f) {
    case AttentionFusion::Mean: return HeadFusion::Mean;
    case AttentionFusion::Max: return HeadFusion::Max;
    case AttentionFusion::Min: return HeadFusion::Min;
  }
  throw Error(ErrorCode::InvalidArgument, "ExplainOptions::fusion: unknown value");
}

}  // namespace

Classifier::Classifier(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;
Classifier::~Classifier() = default;

Classifier::Impl& Classifier::impl() const {
  if (!impl_) throw Error(ErrorCode::InvalidArgument, "vitvk::Classifier: used after being moved from");
  return *impl_;
}

Classifier Classifier::load(const std::string& model, const LoadOptions& options) {
  return api::guarded("vitvk::Classifier::load", [&] {
    auto impl = std::make_unique<Impl>();
    const BackendRequest request = request_for(options);
    impl->model = std::make_shared<const Model>(Model::load(resolve_model(model), options.img_size));
    impl->backend = make_backend(impl->model, request);
    impl->max_batch = options.max_batch;
    impl->info = info_of(*impl->model, *impl->backend, options.max_batch);
    return Classifier(std::move(impl));
  });
}

const ModelInfo& Classifier::info() const { return impl().info; }

std::vector<Prediction> Classifier::classify(const ImageView& image, int top_k) {
  return std::move(classify(std::span<const ImageView>(&image, 1), top_k).front());
}

std::vector<std::vector<Prediction>> Classifier::classify(std::span<const ImageView> images, int top_k) {
  return api::guarded("vitvk::Classifier::classify", [&] {
    std::vector<std::vector<Prediction>> out;
    for (auto& r : impl().run(images, top_k, true, false)) out.push_back(std::move(r.top));
    return out;
  });
}

std::vector<float> Classifier::embed(const ImageView& image) {
  return std::move(embed(std::span<const ImageView>(&image, 1)).front());
}

std::vector<std::vector<float>> Classifier::embed(std::span<const ImageView> images) {
  return api::guarded("vitvk::Classifier::embed", [&] {
    std::vector<std::vector<float>> out;
    for (auto& r : impl().run(images, 1, false, true)) out.push_back(std::move(r.embedding));
    return out;
  });
}

Inference Classifier::infer(const ImageView& image, int top_k) {
  return std::move(infer(std::span<const ImageView>(&image, 1), top_k).front());
}

std::vector<Inference> Classifier::infer(std::span<const ImageView> images, int top_k) {
  return api::guarded("vitvk::Classifier::infer", [&] { return impl().run(images, top_k, true, true); });
}

Explanation Classifier::explain(const ImageView& image, const ExplainOptions& options) {
  return api::guarded("vitvk::Classifier::explain", [&] {
    Impl& m = impl();
    if (options.top_k < 1)
      throw Error(ErrorCode::InvalidArgument, "ExplainOptions::top_k must be at least 1, got " + std::to_string(options.top_k));
    RolloutOptions ro;
    ro.head_fusion = fusion_of(options.fusion);
    ro.discard_ratio = options.discard_ratio;
    if (!(ro.discard_ratio >= 0.0 && ro.discard_ratio < 1.0))
      throw Error(ErrorCode::InvalidArgument,
                  "ExplainOptions::discard_ratio must be in [0, 1), got " + std::to_string(ro.discard_ratio));
    std::vector<CropGeometry> geometry;
    const std::vector<float> input = m.preprocess(std::span<const ImageView>(&image, 1), 0, 1, &geometry);
    if (m.model->dims.num_classes == 0)
      throw Error(ErrorCode::Unsupported, "'" + m.model->config.architecture +
                                              "' has no classifier (num_classes 0): explain ranks classes; use embed()");
    const ForwardResult r = m.forward(input, 1, true);
    const RolloutMap map = rollout(r, 0, ro, m.model->dims);
    Explanation e;
    e.top = m.top(r.probabilities_of(0), options.top_k);
    e.map.width = map.w;
    e.map.height = map.h;
    e.map.values = map.values;
    e.map.options = options;
    e.map.crop = api::to_public(geometry.front());
    return e;
  });
}

std::vector<std::string> Classifier::validation_messages() const {
  return api::guarded("vitvk::Classifier::validation_messages", [&] {
    const Impl& m = impl();
    const std::lock_guard lock(m.mutex);
    return m.backend->validation_messages();
  });
}

const char* version() noexcept { return VITVK_VERSION; }

}  // namespace vitvk
