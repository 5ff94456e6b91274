#pragma once
// Picks and builds a backend from user-facing choices (CLI --backend/--device/--precision, API options).
#include <memory>
#include <optional>
#include <string>

#include "engine/backend.hpp"

namespace vitvk {

enum class BackendChoice { Auto, Cpu, Vulkan };
// Int8: the linear layers of model/quantize.hpp with int8 weights: on the CPU backend W8A8 (activations quantized
// per token), on Vulkan weight-only (activations in the storage precision Auto would pick). Auto picks it for a
// model stored as int8.
enum class PrecisionChoice { Auto, Fp32, Fp16, Int8 };

struct BackendRequest {
  BackendChoice backend = BackendChoice::Auto;
  std::optional<int> device;  // Vulkan physical-device index; else VITVK_DEVICE, else the best device
  PrecisionChoice precision = PrecisionChoice::Auto;  // VITVK_PRECISION overrides Auto
  int max_batch = 16;         // the Vulkan arena is sized for this many images per pass
  bool validation = false;    // Khronos validation layer (tests)
  std::string filter_impl = "auto";  // GFNet on Vulkan: "auto" | "fft" | "dft" (see VulkanBackendOptions)
};

BackendChoice parse_backend_choice(const std::string& s);      // "auto" | "cpu" | "vulkan"; throws InvalidArgument
PrecisionChoice parse_precision_choice(const std::string& s);  // "auto" | "fp32" | "fp16" | "int8"

// Auto: Vulkan on a real GPU (discrete, integrated or virtual), else the CPU backend — a CPU-type Vulkan
// device such as lavapipe is used only when asked for explicitly, since the CPU backend is faster there.
std::unique_ptr<Backend> make_backend(std::shared_ptr<const Model> model, const BackendRequest& request);

}  // namespace vitvk
