#include "vitvk/error.hpp"

namespace vitvk {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid_argument";
    case ErrorCode::Io: return "io";
    case ErrorCode::ModelFormat: return "model_format";
    case ErrorCode::ImageDecode: return "image_decode";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::Vulkan: return "vulkan";
    case ErrorCode::DeviceLost: return "device_lost";
    case ErrorCode::OutOfMemory: return "out_of_memory";
    case ErrorCode::Internal: return "internal";
  }
  return "unknown";
}

}  // namespace vitvk
