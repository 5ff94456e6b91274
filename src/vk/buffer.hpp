#pragma once
// Device buffers: one VkBuffer + its own VkDeviceMemory each (we allocate few, large ones: weights, arena,
// staging), and slices of them that kernels bind.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace vitvk::gpu {

class Context;
struct DeviceInfo;

// Formats a slice can be read through as a uniform texel buffer (GLSL samplerBuffer + texelFetch). On CPU
// drivers (lavapipe) a texel fetch is a branchless gather, where a storage-buffer load is a per-lane loop
// with a bounds check per component.
enum class TexelFormat : uint8_t {
  R32f,     // VK_FORMAT_R32_SFLOAT: one float per texel
  Rgba32f,  // VK_FORMAT_R32G32B32A32_SFLOAT: 4 floats (fp32 storage, 4 elements per fetch)
  Rgba16f,  // VK_FORMAT_R16G16B16A16_SFLOAT: 4 halves read as floats (fp16 storage, 4 elements per fetch)
  Rgba32u,  // VK_FORMAT_R32G32B32A32_UINT: 16 raw bytes (e.g. 8 packed halves)
};
inline constexpr int kTexelFormatCount = 4;
uint32_t texel_bytes(TexelFormat f);

enum class MemoryUse {
  Device,    // device-local; filled by copies from staging (or mapped directly on unified-memory devices)
  Upload,    // host-visible, coherent: staging for uploads
  Readback,  // host-visible, preferably cached: results
};

class Buffer {
 public:
  Buffer(Context& ctx, uint64_t bytes, MemoryUse use);
  ~Buffer();
  Buffer(Buffer&&) noexcept;
  Buffer& operator=(Buffer&&) noexcept;

  // Bytes asked for; the allocation is rounded up to whole 16-byte texels (see texel_bindable).
  uint64_t size() const;
  // Host pointer when the memory is host-visible (always for Upload/Readback), else nullptr.
  uint8_t* mapped() const;
  // Makes device writes visible to mapped() for non-coherent memory (no-op when coherent).
  void invalidate() const;
  void flush() const;
  // Texel-buffer views made so far (each kept until the buffer dies; see texel_view in context_impl.hpp).
  std::size_t texel_view_count() const;

  struct Impl;
  Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

// A byte range of a buffer, as a kernel binding.
struct Slice {
  const Buffer* buffer = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0;
  Slice sub(uint64_t off, uint64_t bytes) const { return {buffer, offset + off, bytes}; }
};

inline Slice whole(const Buffer& b) { return {&b, 0, b.size()}; }

// Whether `s` can be bound as a uniform texel buffer of format `f` on `dev`: the format supports it, the offset
// is a multiple of minTexelBufferOffsetAlignment and of the texel size, and the range, rounded up to whole
// texels (the allocation's padding makes room), holds at most maxTexelBufferElements texels. Kernels with
// texel bindings fall back to their storage-buffer form when this is false.
bool texel_bindable(const DeviceInfo& dev, const Slice& s, TexelFormat f);

}  // namespace vitvk::gpu
