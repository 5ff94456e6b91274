#pragma once
/// @file error.hpp
/// The one error type vitvk throws: a code to branch on and a message that names the file and the reason.
#include <stdexcept>
#include <string>

#include "vitvk/export.h"

namespace vitvk {

/// What kind of failure an Error reports.
enum class ErrorCode {
  InvalidArgument,  ///< a caller passed something unusable (bad option, wrong size)
  Io,               ///< a file could not be opened, read or written
  ModelFormat,      ///< config.json or model.safetensors is malformed or does not fit the architecture
  ImageDecode,      ///< an image could not be decoded, or exceeds a limit
  Unsupported,      ///< a valid request this build or device cannot serve
  Vulkan,           ///< a Vulkan call failed
  DeviceLost,       ///< the GPU was lost; the model must be reloaded
  OutOfMemory,      ///< host or device memory ran out
  Internal,         ///< a bug in vitvk
};

/// Returns a stable lower-case name for a code ("model_format", ...).
VITVK_API const char* to_string(ErrorCode code) noexcept;

/// Exception thrown by every vitvk function that can fail.
class VITVK_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace vitvk
