#pragma once
// SPIR-V modules compiled from shaders/*.comp at build time and embedded in the library.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace vitvk::gpu::shaders {

struct Blob {
  std::string_view name;  // file stem, plus ".variant" for declared variants (e.g. "gemm.fp16")
  const uint32_t* words;
  std::size_t word_count;
};

std::span<const Blob> all();
const Blob* find(std::string_view name);  // nullptr when not built (e.g. a variant whose probe failed)

}  // namespace vitvk::gpu::shaders
