#include "vk/buffer.hpp"

#include <map>
#include <tuple>

#include "vitvk/error.hpp"
#include "vk/context_impl.hpp"

namespace vitvk::gpu {

namespace {
// Allocations are rounded up to this many bytes (the widest texel) so that a texel view of any aligned slice
// can round its range up to whole texels.
constexpr uint64_t kTexelPad = 16;
uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
}  // namespace

struct Buffer::Impl {
  vk::raii::Buffer buffer{nullptr};
  vk::raii::DeviceMemory memory{nullptr};
  uint64_t size = 0;
  uint8_t* mapped = nullptr;
  bool coherent = true;
  const vk::raii::Device* device = nullptr;
  const DeviceInfo* info = nullptr;
  // Texel views by (offset, rounded range, format); declared last so they are destroyed before the buffer.
  std::map<std::tuple<uint64_t, uint64_t, TexelFormat>, vk::raii::BufferView> views;
};

uint32_t texel_bytes(TexelFormat f) {
  switch (f) {
    case TexelFormat::R32f: return 4;
    case TexelFormat::Rgba32f: return 16;
    case TexelFormat::Rgba16f: return 8;
    case TexelFormat::Rgba32u: return 16;
  }
  return 16;
}

vk::Format vk_format(TexelFormat f) {
  switch (f) {
    case TexelFormat::R32f: return vk::Format::eR32Sfloat;
    case TexelFormat::Rgba32f: return vk::Format::eR32G32B32A32Sfloat;
    case TexelFormat::Rgba16f: return vk::Format::eR16G16B16A16Sfloat;
    case TexelFormat::Rgba32u: return vk::Format::eR32G32B32A32Uint;
  }
  return vk::Format::eUndefined;
}

bool texel_bindable(const DeviceInfo& dev, const Slice& s, TexelFormat f) {
  const uint64_t t = texel_bytes(f);
  const uint64_t align = std::max<uint64_t>(dev.min_texel_buffer_offset_alignment, 1);
  return s.buffer != nullptr && s.size > 0 && (dev.uniform_texel_formats >> static_cast<int>(f) & 1u) &&
         s.offset % align == 0 && s.offset % t == 0 &&
         s.offset + round_up(s.size, t) <= round_up(s.buffer->size(), kTexelPad) &&
         round_up(s.size, t) / t <= dev.max_texel_buffer_elements;
}

vk::BufferView texel_view(const Slice& s, TexelFormat f) {
  Buffer::Impl& m = s.buffer->impl();
  if (!texel_bindable(*m.info, s, f))
    throw Error(ErrorCode::Internal, "texel view of bytes " + std::to_string(s.offset) + "+" + std::to_string(s.size) +
                                         " of a " + std::to_string(m.size) + "-byte buffer: not bindable on this device");
  const uint64_t range = round_up(s.size, texel_bytes(f));
  auto key = std::make_tuple(s.offset, range, f);
  auto it = m.views.find(key);
  if (it == m.views.end()) {
    try {
      it = m.views.emplace(key, vk::raii::BufferView(*m.device, vk::BufferViewCreateInfo{.buffer = *m.buffer,
                                                                                        .format = vk_format(f),
                                                                                        .offset = s.offset,
                                                                                        .range = range}))
               .first;
    } catch (const vk::SystemError& e) {
      throw Error(ErrorCode::Vulkan, std::string("creating a texel buffer view: ") + e.what());
    }
  }
  return *it->second;
}

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
  m.info = &ctx.info();
  using U = vk::BufferUsageFlagBits;
  using P = vk::MemoryPropertyFlagBits;
  try {
    m.buffer = vk::raii::Buffer(c.device, vk::BufferCreateInfo{.size = round_up(std::max<uint64_t>(bytes, 4), kTexelPad),
                                                               .usage = U::eStorageBuffer | U::eUniformTexelBuffer |
                                                                        U::eTransferSrc | U::eTransferDst});
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
std::size_t Buffer::texel_view_count() const { return impl_->views.size(); }

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
