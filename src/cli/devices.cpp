// `vitvk devices`: every Vulkan device with what matters for choosing and tuning kernels.
#include <fmt/core.h>

#include "cli/commands.hpp"
#include "vk/context.hpp"

namespace vitvk::cli {

void add_devices_command(CLI::App& app, Registry& reg) {
  auto* sub = app.add_subcommand("devices", "List Vulkan devices (the index is what --device and VITVK_DEVICE take)");
  reg.add(sub, [] {
    const auto devices = gpu::list_devices();
    const int picked = devices.empty() ? -1 : gpu::pick_device(devices, std::nullopt);
    for (const auto& d : devices) {
      fmt::print("[{}] {}{}\n", d.index, d.name, d.index == picked ? "  (default)" : "");
      fmt::print("    type {}, driver {} ({}), Vulkan {}\n", d.type, d.driver_name, d.driver_info, d.api_version_string());
      fmt::print("    memory {:.1f} GiB device-local, shared memory {} KiB/workgroup, subgroup {}, max binding {} MiB\n",
                 d.device_local_bytes / double(1ull << 30), d.shared_memory_bytes / 1024, d.subgroup_size,
                 d.max_storage_buffer_range >> 20);
      fmt::print("    fp16 storage {}, fp16 arithmetic {}, cooperative matrix {}, push descriptors {}, timestamps {}\n",
                 d.fp16_storage ? "yes" : "no", d.fp16_arithmetic ? "yes" : "no",
                 d.coopmat_khr ? "KHR" : d.coopmat_nv ? "NV" : "no", d.push_descriptor ? "yes" : "no",
                 d.timestamps ? "yes" : "no");
      if (d.is_cpu()) fmt::print("    note: a CPU implementation; `--backend auto` prefers the CPU backend here\n");
    }
    if (devices.empty()) fmt::print("no Vulkan devices\n");
    return devices.empty() ? 1 : 0;
  });
}

}  // namespace vitvk::cli
