#include "vk/transfer.hpp"

#include <cstring>

#include "core/half.hpp"
#include "vk/context.hpp"
#include "vk/recorder.hpp"

namespace vitvk::gpu {

void upload(Context& ctx, const Slice& dst, const void* src, uint64_t bytes) {
  if (bytes == 0) return;
  if (uint8_t* p = dst.buffer->mapped()) {
    std::memcpy(p + dst.offset, src, bytes);
    dst.buffer->flush();
    return;
  }
  Buffer staging(ctx, bytes, MemoryUse::Upload);
  std::memcpy(staging.mapped(), src, bytes);
  staging.flush();
  Recorder rec(ctx);
  rec.begin();
  rec.copy({&staging, 0, bytes}, dst.sub(0, bytes));
  rec.submit_and_wait();
}

void download(Context& ctx, const Slice& src, void* dst, uint64_t bytes) {
  if (bytes == 0) return;
  if (const uint8_t* p = src.buffer->mapped()) {
    src.buffer->invalidate();
    std::memcpy(dst, p + src.offset, bytes);
    return;
  }
  Buffer staging(ctx, bytes, MemoryUse::Readback);
  Recorder rec(ctx);
  rec.begin();
  rec.copy(src.sub(0, bytes), {&staging, 0, bytes});
  rec.submit_and_wait();
  staging.invalidate();
  std::memcpy(dst, staging.mapped(), bytes);
}

std::vector<uint8_t> to_storage(std::span<const float> values, bool fp16) {
  std::vector<uint8_t> out(storage_bytes(values.size(), fp16));
  if (!fp16) {
    if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  } else {
    auto* h = reinterpret_cast<uint16_t*>(out.data());
    for (std::size_t i = 0; i < values.size(); ++i) h[i] = f32_to_f16(values[i]);
  }
  return out;
}

std::vector<float> from_storage(const uint8_t* bytes, std::size_t count, bool fp16) {
  std::vector<float> out(count);
  if (!fp16) {
    if (count) std::memcpy(out.data(), bytes, count * 4);
  } else {
    for (std::size_t i = 0; i < count; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes + 2 * i, 2);
      out[i] = f16_to_f32(h);
    }
  }
  return out;
}

Buffer upload_floats(Context& ctx, std::span<const float> values, bool fp16) {
  auto bytes = to_storage(values, fp16);
  Buffer b(ctx, bytes.size(), MemoryUse::Device);
  upload(ctx, whole(b), bytes.data(), bytes.size());
  return b;
}

std::vector<float> download_floats(Context& ctx, const Slice& src, std::size_t count, bool fp16) {
  std::vector<uint8_t> bytes(storage_bytes(count, fp16));
  download(ctx, src, bytes.data(), bytes.size());
  return from_storage(bytes.data(), count, fp16);
}

}  // namespace vitvk::gpu
