#pragma once
// Device weights for the Vulkan backends: many tensors packed into a few large device buffers, each tensor a
// bindable slice (aligned for binding), uploaded once.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "vitvk/error.hpp"
#include "vk/buffer.hpp"
#include "vk/context.hpp"
#include "vk/transfer.hpp"

namespace vitvk {

inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

inline std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// Packs many tensors into device buffers of at most `chunk` bytes each (few large allocations), aligned for binding.
class WeightStore {
 public:
  WeightStore(gpu::Context& ctx, bool fp16, uint64_t budget) : ctx_(ctx), fp16_(fp16), budget_(budget) {
    align_ = std::max<uint64_t>(256, ctx.info().min_storage_buffer_offset_alignment);
    chunk_ = std::min<uint64_t>(256ull << 20, ctx.info().max_storage_buffer_range);
  }
  // Queues a tensor in the storage precision (fp32, or fp16 in an fp16 store); returns a handle resolved to a
  // Slice by finish(). Converted here, so that only the device's bytes wait for finish().
  std::size_t add(std::span<const float> values) {
    pending_.push_back(gpu::to_storage(values, fp16_));
    return pending_.size() - 1;
  }
  // Queues 32-bit words as they are, whatever the storage precision (int8 weights with their fp32 scales,
  // ops::linear_vk_pack_int8).
  std::size_t add_words(std::span<const uint32_t> words) {
    const auto* b = reinterpret_cast<const uint8_t*>(words.data());
    pending_.emplace_back(b, b + words.size_bytes());
    return pending_.size() - 1;
  }
  void finish() {
    // Lay tensors out chunk by chunk, then upload each chunk once.
    std::vector<std::pair<std::size_t, uint64_t>> where(pending_.size());  // (chunk, offset)
    std::vector<uint64_t> chunk_sizes{0};
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      const uint64_t bytes = pending_[i].size();
      if (bytes > chunk_) throw Error(ErrorCode::Unsupported, "a weight tensor is larger than the device can bind");
      uint64_t off = align_up(chunk_sizes.back(), align_);
      if (off + bytes > chunk_) {
        chunk_sizes.push_back(0);
        off = 0;
      }
      where[i] = {chunk_sizes.size() - 1, off};
      chunk_sizes.back() = off + bytes;
    }
    uint64_t total = 0;
    for (uint64_t c : chunk_sizes) total += c;
    if (budget_ && total > budget_)
      throw Error(ErrorCode::OutOfMemory, "the model's weights need " + mib(total) +
                                              " of device memory, over the memory budget of " + mib(budget_));
    for (std::size_t c = 0; c < chunk_sizes.size(); ++c) {
      std::vector<uint8_t> host(chunk_sizes[c]);
      for (std::size_t i = 0; i < pending_.size(); ++i)
        if (where[i].first == c) std::memcpy(host.data() + where[i].second, pending_[i].data(), pending_[i].size());
      buffers_.emplace_back(ctx_, host.size(), gpu::MemoryUse::Device);
      gpu::upload(ctx_, gpu::whole(buffers_.back()), host.data(), host.size());
    }
    for (std::size_t i = 0; i < pending_.size(); ++i)
      slices_.push_back({&buffers_[where[i].first], where[i].second, pending_[i].size()});
    pending_.clear();
  }
  gpu::Slice operator[](std::size_t handle) const { return slices_.at(handle); }
  uint64_t total_bytes() const {
    uint64_t t = 0;
    for (const auto& b : buffers_) t += b.size();
    return t;
  }

 private:
  gpu::Context& ctx_;
  bool fp16_;
  uint64_t budget_ = 0;  // 0: none
  uint64_t align_ = 256, chunk_ = 0;
  std::vector<std::vector<uint8_t>> pending_;  // device bytes
  std::vector<gpu::Buffer> buffers_;
  std::vector<gpu::Slice> slices_;
};

}  // namespace vitvk
