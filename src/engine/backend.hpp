#pragma once
// One interface for every way of running the graph (ggml-backend style): the CPU reference and Vulkan.
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <span>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace vitvk {

namespace graph {
struct Graph;
}

struct ForwardOptions {
  bool explain = false;  // also return per-layer head-fused attention probabilities
};

struct ForwardResult {
  int batch = 0;
  int num_classes = 0;
  int dim = 0;
  int tokens = 0;
  int layers = 0;
  int pool_keys = 0;  // explain with an attention-pool head (map): the tokens its query attends to
  std::vector<float> logits;         // [batch, num_classes] (empty without a classifier)
  std::vector<float> probabilities;  // [batch, num_classes]: softmax of the logits, fp32
  // [batch, dim]: the pre-head embedding (the class token after the final norm, the pooled patch tokens, or the
  // attention pool's output, as the model pools)
  std::vector<float> features;
  // explain only: [layers, batch, 3, tokens, tokens] = mean, max, min over heads of the attention probabilities.
  std::vector<float> attention;
  // explain with a map head: [batch, 3, pool_keys] = the pool query's head-fused attention over the patch tokens.
  std::vector<float> pool_attention;

  std::span<const float> logits_of(int b) const {
    return std::span<const float>(logits).subspan(static_cast<std::size_t>(b) * num_classes, num_classes);
  }
  std::span<const float> probabilities_of(int b) const {
    return std::span<const float>(probabilities).subspan(static_cast<std::size_t>(b) * num_classes, num_classes);
  }
};

enum class BackendKind { Cpu, Vulkan };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendKind kind() const = 0;
  virtual std::string name() const = 0;         // "cpu" | "vulkan"
  virtual std::string device_name() const = 0;  // human-readable device
  virtual std::string precision() const = 0;    // "fp32" | "fp16" | "int8"
  // Bytes of device memory the weights take (Vulkan; 0 for the CPU backend).
  virtual uint64_t device_weight_bytes() const { return 0; }
  virtual const Model& model() const = 0;
  // images: [batch, C, H, W] preprocessed float32.
  virtual ForwardResult forward(std::span<const float> images, int batch, const ForwardOptions& options) = 0;
  // Per-op GPU timings of the last forward when profiling was asked for (empty otherwise / on the CPU).
  virtual std::vector<std::pair<std::string, double>> last_op_timings_ms() const { return {}; }
  virtual void set_profiling(bool) {}
  // Vulkan validation-layer messages seen so far (only when created with validation on).
  virtual std::vector<std::string> validation_messages() const { return {}; }
};

// Every backend's forward() starts here: throws Error(InvalidArgument) unless `images` holds exactly `batch` >= 1
// images of the model's input size. Returns the floats per image.
std::size_t check_forward_input(const ModelDims& d, std::span<const float> images, int batch);

// The error explain mode gets on a model without attention (GFNet).
[[noreturn]] void throw_no_attention(const Model& model);

// int8: the ViT linear layers of model/quantize.hpp run in int8 (ops/cpu_gemm_int8.hpp), quantized here
// unless the model holds them as int8 already; precision() then says "int8".
std::unique_ptr<Backend> make_cpu_backend(std::shared_ptr<const Model> model, bool int8 = false);
// fp32 on a graph the caller built over `model`'s weights (validated here): tests of graph nodes that no
// family emits yet. The model's dims still set the input and the feature / logit widths.
std::unique_ptr<Backend> make_cpu_backend(std::shared_ptr<const Model> model, graph::Graph graph);

struct VulkanBackendOptions {
  std::optional<int> device;  // physical-device index (else VITVK_DEVICE, else the best device)
  bool fp16 = false;          // fp16 storage (requires the device's 16-bit storage feature)
  // int8 weights (ViT): the linear layers of model/quantize.hpp's int8_layers() quantized at upload, and those the
  // model holds as int8 uploaded as they are (ops::linear_vk_int8: weight-only, activations in the storage
  // precision); precision() then says "int8". Without it, a model holding int8 layers runs dequantized.
  bool int8 = false;
  int max_batch = 16;         // images per GPU pass; larger batches run as several passes
  bool validation = false;
  std::string filter_impl = "auto";  // GFNet's global filter: "auto" | "fft" (VkFFT) | "dft" (dense DFT passes)
  // Bytes of Vulkan memory this backend may allocate (0: whatever the device grants). Past it allocation fails
  // as on a full device: Error(OutOfMemory) for the weights; for the activations the pass is halved until it
  // fits, and only a single image that does not fit is an Error(OutOfMemory).
  uint64_t memory_budget = 0;
};
std::unique_ptr<Backend> make_vulkan_backend(std::shared_ptr<const Model> model, const VulkanBackendOptions& options);
// The same on a caller-built graph (as make_cpu_backend's).
std::unique_ptr<Backend> make_vulkan_backend(std::shared_ptr<const Model> model, graph::Graph graph,
                                             const VulkanBackendOptions& options);

}  // namespace vitvk
