#include "engine/factory.hpp"

#include <cstdlib>

#include "model/quantize.hpp"
#include "vitvk/error.hpp"
#include "vk/context.hpp"

namespace vitvk {

std::size_t check_forward_input(const ModelDims& d, std::span<const float> images, int batch) {
  const std::size_t image_floats = std::size_t(d.channels) * d.img_h * d.img_w;
  if (batch < 1 || images.size() != std::size_t(batch) * image_floats)
    throw Error(ErrorCode::InvalidArgument, "forward: expected " + std::to_string(batch) + " images of " +
                                                std::to_string(image_floats) + " floats");
  return image_floats;
}

void throw_no_attention(const Model& model) {
  const std::string why = model.no_attention_maps_reason();
  throw Error(ErrorCode::Unsupported, "explain mode needs attention maps, and " +
                                          (why.empty() ? "'" + model.config.architecture + "' has none" : why));
}

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
  if (s == "int8") return PrecisionChoice::Int8;
  throw Error(ErrorCode::InvalidArgument, "unknown precision '" + s + "' (auto, fp32, fp16, int8)");
}

std::unique_ptr<Backend> make_backend(std::shared_ptr<const Model> model, const BackendRequest& request) {
  PrecisionChoice precision = request.precision;
  if (precision == PrecisionChoice::Auto)
    if (const char* env = std::getenv("VITVK_PRECISION"); env && *env) precision = parse_precision_choice(env);

  BackendChoice backend = request.backend;
  if (precision == PrecisionChoice::Int8 && model->dims.family != ModelFamily::ViT)
    throw Error(ErrorCode::Unsupported,
                std::string("int8 is implemented for ") + kInt8Families + ", not " + model->config.architecture);
  std::optional<gpu::DeviceInfo> device;
  if (backend != BackendChoice::Cpu) {
    try {
      const auto devices = gpu::list_devices();
      device = devices.at(gpu::pick_device(devices, request.device));
    } catch (const Error&) {
      if (backend == BackendChoice::Vulkan) throw;
    }
    // Auto: a real GPU only. On a CPU-type Vulkan device (lavapipe) the CPU backend is faster (int8 too: its
    // W8A8 kernels, where Vulkan int8 only shrinks the weights).
    if (backend == BackendChoice::Auto) backend = device && !device->is_cpu() ? BackendChoice::Vulkan : BackendChoice::Cpu;
  }
  // A model stored as int8 runs as int8 unless fp32 or fp16 is asked for (then from its dequantized weights).
  const bool int8 = precision == PrecisionChoice::Int8 ||
                    (precision == PrecisionChoice::Auto && has_int8_weights(*model) &&
                     model->dims.family == ModelFamily::ViT);
  if (backend == BackendChoice::Cpu) {
    if (precision == PrecisionChoice::Fp16)
      throw Error(ErrorCode::Unsupported, "the CPU backend runs fp32 or int8 (use --backend vulkan for fp16)");
    return make_cpu_backend(std::move(model), int8);  // which dequantizes an int8 model for fp32
  }
  VulkanBackendOptions o;
  o.device = device->index;
  // Auto precision (and int8's activations): fp16 storage where the device has 16-bit storage and fp16 arithmetic
  // (real GPUs); fp32 elsewhere, including lavapipe, where fp16 only adds conversions.
  const bool fp16_device = device->fp16_storage && device->fp16_arithmetic && !device->is_cpu();
  o.int8 = int8;  // weight-only int8 (make_vulkan_backend dequantizes an int8 model otherwise)
  o.fp16 = precision == PrecisionChoice::Fp16 || ((precision == PrecisionChoice::Auto || int8) && fp16_device);
  o.max_batch = request.max_batch;
  o.validation = request.validation;
  o.filter_impl = request.filter_impl;
  return make_vulkan_backend(std::move(model), o);
}

}  // namespace vitvk
