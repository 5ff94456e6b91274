#pragma once
/// @file classifier.hpp
/// vitvk::Classifier: a loaded ViT/DeiT checkpoint on a backend, ready to classify, embed and explain images.
///
/// @code
///   auto model = vitvk::Classifier::load("vit_tiny_patch16_224.augreg_in21k_ft_in1k");
///   for (const auto& p : model.classify(vitvk::Image::load("cat.jpg")))
///     std::printf("%.3f %s\n", p.probability, p.label.c_str());
/// @endcode
///
/// Thread safety: a Classifier may be used from several threads at once. Each call validates and preprocesses
/// its images on the calling thread, concurrently with other calls; the forward passes themselves are
/// serialised by a mutex inside the Classifier (one GPU queue / one OpenBLAS pool), so concurrent calls return
/// exactly what the same calls return one after another. For throughput, pass batches rather than threads.
/// info() is immutable after load. Moving a Classifier while another thread uses it is not allowed.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vitvk/error.hpp"
#include "vitvk/explain.hpp"
#include "vitvk/export.h"
#include "vitvk/image.hpp"
#include "vitvk/prediction.hpp"

namespace vitvk {

/// Where the transformer runs.
enum class BackendType {
  Auto,    ///< Vulkan on a real GPU (discrete, integrated or virtual); on a CPU-only Vulkan driver (lavapipe) or
           ///< without Vulkan, the CPU backend, which is faster there
  Cpu,     ///< the exact fp32 CPU reference (OpenBLAS)
  Vulkan,  ///< Vulkan compute; Error(Vulkan) when no device is usable
};

/// Storage precision on the GPU (arithmetic accumulates in fp32 either way), or int8 linear layers.
enum class Precision {
  Auto,  ///< VITVK_PRECISION if set; else int8 for a model stored as int8 (`vitvk quantize`), fp16 on GPUs with
         ///< 16-bit storage and arithmetic, fp32 elsewhere
  Fp32,
  Fp16,  ///< Vulkan only: Error(Unsupported) on the CPU backend or a device without 16-bit storage
  Int8,  ///< the transformer blocks' linear layers with int8 weights (per output channel); attention, LayerNorm,
         ///< patch embedding and head stay fp32. CPU: activations quantized per token too (int8 arithmetic).
         ///< Vulkan: weight-only (a quarter of the weights' device memory; activations fp16 where Auto would
         ///< pick fp16, else fp32). The Auto backend still picks the CPU on a CPU-type Vulkan device.
};

/// Options for Classifier::load.
struct LoadOptions {
  BackendType backend = BackendType::Auto;
  std::optional<int> device;  ///< Vulkan device index (see list_devices()); else VITVK_DEVICE; else the preferred one
  Precision precision = Precision::Auto;
  /// Most images per forward pass (>= 1). Larger batches are split; it bounds the memory a pass takes (the
  /// Vulkan backend sizes its buffers for it).
  int max_batch = 16;
  /// Debugging: run with the Khronos validation layer (when installed); see Classifier::validation_messages().
  bool validation = false;
  /// Run at this input size (square, a multiple of the patch size) instead of the checkpoint's: ViT position
  /// embeddings are resampled as timm does, and the preprocessing follows the new size.
  std::optional<int> img_size;
};

/// What was loaded and how it runs.
struct ModelInfo {
  std::string architecture;  ///< timm name, e.g. "vit_tiny_patch16_224"
  std::string directory;     ///< the model directory it was loaded from
  int input_width = 0, input_height = 0, channels = 3;  ///< model input (after preprocessing)
  int patch_size = 0;
  int grid_width = 0, grid_height = 0;  ///< patch grid, the size of attention maps
  int embedding_dim = 0;                ///< length of embed()'s vectors
  int depth = 0, heads = 0;
  int num_classes = 0;
  bool distilled = false;           ///< DeiT distillation token (predictions average both heads)
  bool has_classifier = true;       ///< false for embedding checkpoints (num_classes 0): use embed()
  int tokens = 0;                   ///< sequence length: prefix tokens + patches
  int prefix_tokens = 0;            ///< class, register and distillation tokens
  int register_tokens = 0;
  std::string family;               ///< "vit" | "eva" | "beit" | "gfnet"
  std::string pooling;              ///< what embed() returns: "token" (class token), "avg" (patch mean), "map" (attention pool)
  std::vector<std::string> labels;  ///< num_classes names
  std::string backend;              ///< "cpu" | "vulkan": the backend in use
  std::string device;               ///< the device in use, human-readable
  std::string precision;            ///< "fp32" | "fp16" | "int8": the precision in use
  int max_batch = 0;
};

/// Everything one forward pass gives for an image.
struct Inference {
  std::vector<Prediction> top;       ///< the top_k most probable classes, most probable first
  std::vector<float> probabilities;  ///< num_classes: fp32 softmax of the logits
  std::vector<float> logits;         ///< num_classes
  std::vector<float> embedding;      ///< embedding_dim: the class token after the final norm (pre-head features)
};

/// A model loaded onto a backend. Move-only; see the file comment for thread safety. Every member function
/// throws vitvk::Error (with an ErrorCode) on failure; a moved-from Classifier throws Error(InvalidArgument).
class VITVK_API Classifier {
 public:
  /// Loads `model`: a directory holding config.json + model.safetensors, or a bare name looked up in
  /// $VITVK_MODEL_PATH, ./models, <prefix>/share/vitvk/models and ~/.cache/vitvk/models.
  /// Throws Error(Io) when not found (the message lists where it looked), Error(ModelFormat) for a malformed
  /// checkpoint, Error(InvalidArgument / Unsupported / Vulkan) for options the machine cannot honour.
  static Classifier load(const std::string& model, const LoadOptions& options = {});

  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;
  ~Classifier();

  const ModelInfo& info() const;

  /// The top_k (>= 1, clamped to the class count) most probable classes of an image.
  std::vector<Prediction> classify(const ImageView& image, int top_k = 5);
  /// The same for several images, in order; identical to classifying them one by one. Batches larger than
  /// max_batch run as several passes. A bad view fails the whole call, naming its position.
  std::vector<std::vector<Prediction>> classify(std::span<const ImageView> images, int top_k = 5);

  /// The image's embedding (ModelInfo::embedding_dim floats, not normalised) for retrieval: compare with cosine.
  std::vector<float> embed(const ImageView& image);
  std::vector<std::vector<float>> embed(std::span<const ImageView> images);

  /// Predictions, full probabilities, logits and embedding from one pass.
  Inference infer(const ImageView& image, int top_k = 5);
  std::vector<Inference> infer(std::span<const ImageView> images, int top_k = 5);

  /// Classifies the image and computes its attention-rollout map in the same pass.
  Explanation explain(const ImageView& image, const ExplainOptions& options = {});

  /// Validation-layer messages seen so far (LoadOptions::validation on a Vulkan backend; else empty).
  std::vector<std::string> validation_messages() const;

 private:
  struct Impl;
  explicit Classifier(std::unique_ptr<Impl> impl);
  Impl& impl() const;
  std::unique_ptr<Impl> impl_;
};

/// The library version, "MAJOR.MINOR.PATCH".
VITVK_API const char* version() noexcept;

}  // namespace vitvk
