#pragma once
/// @file devices.hpp
/// The Vulkan devices vitvk can run on, and which one it picks by default.
#include <cstdint>
#include <string>
#include <vector>

#include "vitvk/export.h"

namespace vitvk {

/// One Vulkan physical device. `index` is what LoadOptions::device (and `vitvk --device`, VITVK_DEVICE) take.
struct DeviceInfo {
  int index = 0;
  std::string name;
  std::string type;            ///< "discrete" | "integrated" | "virtual" | "cpu" | "other"
  std::string driver;          ///< driver name and version text
  std::string api_version;     ///< Vulkan version, e.g. "1.3.255"
  std::uint64_t memory_bytes = 0;  ///< device-local memory
  bool fp16 = false;           ///< 16-bit storage and arithmetic: Precision::Auto picks fp16 here (not on CPUs)
  bool preferred = false;      ///< the device used when none is named (VITVK_DEVICE, else discrete > integrated > ...)
};

/// Every Vulkan device, in index order. Throws Error(Vulkan) when there is no Vulkan loader or driver at all.
VITVK_API std::vector<DeviceInfo> list_devices();

}  // namespace vitvk
