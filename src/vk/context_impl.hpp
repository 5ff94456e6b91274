#pragma once
// Vulkan-Hpp handles behind gpu::Context; included by src/vk and the ops' *.vk.cpp only.
#include <vulkan/vulkan_raii.hpp>

#include "vk/context.hpp"

namespace vitvk::gpu {

struct MessageLog {
  mutable std::mutex mutex;
  std::vector<std::string> messages;
};

struct Context::Impl {
  vk::raii::Context context;
  vk::raii::Instance instance{nullptr};
  vk::raii::DebugUtilsMessengerEXT messenger{nullptr};
  vk::raii::PhysicalDevice physical{nullptr};
  vk::raii::Device device{nullptr};
  vk::raii::Queue queue{nullptr};
  uint32_t queue_family = 0;
  vk::PhysicalDeviceMemoryProperties memory;
  std::unique_ptr<MessageLog> log = std::make_unique<MessageLog>();  // stable address for the callback
};

class Buffer;
struct Slice;
enum class TexelFormat : uint8_t;
// The raw handle of a Buffer (defined in buffer.cpp, which knows Buffer::Impl).
vk::Buffer raw_buffer(const Buffer& b);
vk::Format vk_format(TexelFormat f);
// A uniform-texel-buffer view of `s` (range rounded up to whole texels), made on first use and owned by the
// buffer, which keeps it until it is destroyed itself (so it outlives every command buffer that binds it).
// Throws Error(Internal) where texel_bindable() is false.
vk::BufferView texel_view(const Slice& s, TexelFormat f);

// Throws Error(Vulkan / DeviceLost / OutOfMemory) for a failed vk::Result, naming what was attempted.
[[noreturn]] void throw_vulkan_error(const char* what, vk::Result result);

}  // namespace vitvk::gpu
