// vitvk::list_devices: the internal device table, reduced to what an application chooses by.
#include "vitvk/devices.hpp"

#include "api/convert.hpp"
#include "vk/context.hpp"

namespace vitvk {

std::vector<DeviceInfo> list_devices() {
  return api::guarded("vitvk::list_devices", [] {
    const auto devices = gpu::list_devices();
    int preferred = -1;
    try {
      if (!devices.empty()) preferred = gpu::pick_device(devices, std::nullopt);
    } catch (const Error&) {
      // A bad VITVK_DEVICE: still list the devices (loading will report it); none is marked preferred.
    }
    std::vector<DeviceInfo> out;
    for (const auto& d : devices) {
      DeviceInfo i;
      i.index = d.index;
      i.name = d.name;
      i.type = d.type;
      i.driver = d.driver_info.empty() ? d.driver_name : d.driver_name + " " + d.driver_info;
      i.api_version = d.api_version_string();
      i.memory_bytes = d.device_local_bytes;
      i.fp16 = d.fp16_storage && d.fp16_arithmetic;
      i.preferred = d.index == preferred;
      out.push_back(std::move(i));
    }
    return out;
  });
}

}  // namespace vitvk
