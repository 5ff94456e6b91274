#include "engine/factory.hpp"

#include "vitvk/error.hpp"

namespace vitvk {

BackendChoice parse_backend_choice(const std::string& s) {
  if (s == "auto") return BackendChoice::Auto;
  if (s == "cpu") return BackendChoice::Cpu;
  if (s == "vulkan") return BackendChoice::Vulkan;
  throw Error(ErrorCode::InvalidArgument, "unknown backend '" + s + "' (auto, cpu, vulkan)");
}

PrecisionChoice parse_precision_choice(const std::string& s) {
  if (s == "auto") return PrecisionChoice::Auto;
  if (s == "fp32") return PrecisionChoice::Fp32;
  if (s == "fp16") return PrecisionChoice::Fp16;
  throw Error(ErrorCode::InvalidArgument, "unknown precision '" + s + "' (auto, fp32, fp16)");
}

std::unique_ptr<Backend> make_backend(std::shared_ptr<const Model> model, const BackendRequest& request) {
  // The Vulkan backend is being written (issue "Vulkan forward pass"); until it lands, Vulkan requests fail
  // loudly instead of silently running on the CPU.
  if (request.backend == BackendChoice::Vulkan)
    throw Error(ErrorCode::Unsupported, "the Vulkan backend is not available in this build yet");
  return make_cpu_backend(std::move(model));
}

}  // namespace vitvk
