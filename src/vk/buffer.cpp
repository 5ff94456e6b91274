#include "vk/buffer.hpp"

#include "vitvk/error.hpp"
#include "vk/context_impl.hpp"

namespace vitvk::gpu {

struct Buffer::Impl {
  vk::raii::Buffer buffer{nullptr};
  vk::raii::DeviceMemory memory{nullptr};
  uint64_t size = 0;
  uint8_t* mapped = nullptr;
  bool coherent = true;
  const vk::raii::Device* device = nullptr;
};

namespace {

// Picks the first memory type allowed by `bits` that has all `required` flags, trying preferences in order.
std::optional<uint32_t> find_memory(const vk::PhysicalDeviceMemoryProperties& mem, uint32_t bits,
                                    std::initializer_list<vk::MemoryPropertyFlags> preferences) {
  for (auto want : preferences)
    for (uint32_t i = 0; i < mem.memoryTypeCount; ++i)
      if ((bits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & want) == want) return i;
  return std::nullopt;
}

}  // namespace

Buffer::Buffer(Context& ctx, uint64_t bytes, MemoryUse use) : impl_(std::make_unique<Impl>()) {
  auto& c = ctx.impl();
  Impl& m = *impl_;
  m.size = bytes;
  m.device = &c.device;
  using U = vk::BufferUsageFlagBits;
  using P = vk::MemoryPropertyFlagBits;
  try {
    m.buffer = vk::raii::Buffer(c.device, vk::BufferCreateInfo{.size = std::max<uint64_t>(bytes, 4),
                                                               .usage = U::eStorageBuffer | U::eTransferSrc | U::eTransferDst});
    const auto req = m.buffer.getMemoryRequirements();
    std::optional<uint32_t> type;
    switch (use) {
      case MemoryUse::Device:
        // Unified-memory devices (lavapipe, integrated GPUs) expose device-local host-visible memory: map it and
        // skip staging. Discrete GPUs have such memory too, but only a small BAR window: keep to plain VRAM there.
        if (ctx.info().type != "discrete")
          type = find_memory(c.memory, req.memoryTypeBits, {P::eDeviceLocal | P::eHostVisible | P::eHostCoherent});
        if (!type) type = find_memory(c.memory, req.memoryTypeBits, {P::eDeviceLocal, {}});
        break;
      case MemoryUse::Upload:
        type = find_memory(c.memory, req.memoryTypeBits, {P::eHostVisible | P::eHostCoherent});
        break;
      case MemoryUse::Readback:
        type = find_memory(c.memory, req.memoryTypeBits,
                           {P::eHostVisible | P::eHostCached | P::eHostCoherent, P::eHostVisible | P::eHostCached,
                            P::eHostVisible | P::eHostCoherent});
        break;
    }
    if (!type) throw Error(ErrorCode::Unsupported, "no suitable Vulkan memory type for a buffer");
    const auto flags = c.memory.memoryTypes[*type].propertyFlags;
    m.memory = vk::raii::DeviceMemory(c.device, vk::MemoryAllocateInfo{.allocationSize = req.size, .memoryTypeIndex = *type});
    m.buffer.bindMemory(*m.memory, 0);
    if (flags & P::eHostVisible) {
      m.mapped = static_cast<uint8_t*>(m.memory.mapMemory(0, VK_WHOLE_SIZE));
      m.coherent = static_cast<bool>(flags & P::eHostCoherent);
    }
  } catch (const vk::OutOfDeviceMemoryError& e) {
    throw Error(ErrorCode::OutOfMemory, "allocating a " + std::to_string(bytes >> 20) + " MiB Vulkan buffer: " + e.what());
  } catch (const vk::OutOfHostMemoryError& e) {
    throw Error(ErrorCode::OutOfMemory, "allocating a " + std::to_string(bytes >> 20) + " MiB Vulkan buffer: " + e.what());
  } catch (const vk::SystemError& e) {  // device lost, or another failure: mapped to its ErrorCode
    throw_vulkan_error(("allocating a " + std::to_string(bytes >> 20) + " MiB Vulkan buffer").c_str(),
                       static_cast<vk::Result>(e.code().value()));
  }
}

Buffer::~Buffer() = default;
Buffer::Buffer(Buffer&&) noexcept = default;
Buffer& Buffer::operator=(Buffer&&) noexcept = default;

uint64_t Buffer::size() const { return impl_->size; }
uint8_t* Buffer::mapped() const { return impl_->mapped; }

void Buffer::invalidate() const {
  if (impl_->mapped && !impl_->coherent)
    (*impl_->device).invalidateMappedMemoryRanges(vk::MappedMemoryRange{.memory = *impl_->memory, .offset = 0, .size = VK_WHOLE_SIZE});
}

void Buffer::flush() const {
  if (impl_->mapped && !impl_->coherent)
    (*impl_->device).flushMappedMemoryRanges(vk::MappedMemoryRange{.memory = *impl_->memory, .offset = 0, .size = VK_WHOLE_SIZE});
}

}  // namespace vitvk::gpu

namespace vitvk::gpu {
vk::Buffer raw_buffer(const Buffer& b) { return *b.impl().buffer; }
}  // namespace vitvk::gpu
