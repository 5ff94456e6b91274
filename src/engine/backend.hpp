#pragma once
// One interface for every way of running the graph (ggml-backend style): the CPU reference and Vulkan.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model.hpp"

namespace vitvk {

struct ForwardOptions {
  bool explain = false;  // also return per-layer head-fused attention probabilities
};

struct ForwardResult {
  int batch = 0;
  int num_classes = 0;
  int dim = 0;
  int tokens = 0;
  int layers = 0;
  std::vector<float> logits;    // [batch, num_classes]
  std::vector<float> features;  // [batch, dim]: the class token after the final norm (pre-head embedding)
  // explain only: [layers, batch, 3, tokens, tokens] = mean, max, min over heads of the attention probabilities.
  std::vector<float> attention;

  std::span<const float> logits_of(int b) const {
    return std::span<const float>(logits).subspan(static_cast<std::size_t>(b) * num_classes, num_classes);
  }
};

enum class BackendKind { Cpu, Vulkan };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual BackendKind kind() const = 0;
  virtual std::string name() const = 0;         // "cpu" | "vulkan"
  virtual std::string device_name() const = 0;  // human-readable device
  virtual std::string precision() const = 0;    // "fp32" | "fp16"
  virtual const Model& model() const = 0;
  // images: [batch, C, H, W] preprocessed float32.
  virtual ForwardResult forward(std::span<const float> images, int batch, const ForwardOptions& options) = 0;
};

std::unique_ptr<Backend> make_cpu_backend(std::shared_ptr<const Model> model);

}  // namespace vitvk
