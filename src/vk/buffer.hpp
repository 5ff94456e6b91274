#pragma once
// Device buffers: one VkBuffer + its own VkDeviceMemory each (we allocate few, large ones: weights, arena,
// staging), and slices of them that kernels bind.
#include <cstdint>
#include <memory>
#include <span>

namespace vitvk::gpu {

class Context;

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

  uint64_t size() const;
  // Host pointer when the memory is host-visible (always for Upload/Readback), else nullptr.
  uint8_t* mapped() const;
  // Makes device writes visible to mapped() for non-coherent memory (no-op when coherent).
  void invalidate() const;
  void flush() const;

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

}  // namespace vitvk::gpu
