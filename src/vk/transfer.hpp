#pragma once
// Host <-> device copies outside a graph recording (weights at load time, tests), and the fp32/fp16
// storage conversion every kernel binding uses.
#include <cstdint>
#include <span>
#include <vector>

#include "vk/buffer.hpp"

namespace vitvk::gpu {

class Context;

// Directly through the mapping when the buffer is host-visible, else via a staging buffer and one submit.
void upload(Context& ctx, const Slice& dst, const void* src, uint64_t bytes);
void download(Context& ctx, const Slice& src, void* dst, uint64_t bytes);

// Activations and weights are stored as fp32, or fp16 in fp16 mode.
inline uint64_t storage_bytes(uint64_t count, bool fp16) { return count * (fp16 ? 2 : 4); }
std::vector<uint8_t> to_storage(std::span<const float> values, bool fp16);
std::vector<float> from_storage(const uint8_t* bytes, std::size_t count, bool fp16);

// Convenience for tests and small tensors: a Device buffer holding `values` in storage format.
Buffer upload_floats(Context& ctx, std::span<const float> values, bool fp16);
std::vector<float> download_floats(Context& ctx, const Slice& src, std::size_t count, bool fp16);

}  // namespace vitvk::gpu
