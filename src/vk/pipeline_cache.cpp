#include "vk/pipeline_cache.hpp"

#include <array>
#include <cstdlib>
#include <cstring>

#include "vk/context.hpp"
#include "vk/spirv_blobs.hpp"

namespace vitvk::gpu {
namespace {

constexpr char kMagic[8] = {'V', 'I', 'T', 'V', 'K', 'P', 'C', '1'};
constexpr std::size_t kEnvelope = 8 + 8 + 8 + 8;  // magic, shader hash, blob size, blob checksum

uint64_t fnv1a(const uint8_t* p, std::size_t n, uint64_t h = 1469598103934665603ull) {
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

void put64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint32_t get32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

}  // namespace

uint64_t embedded_shader_hash() {
  uint64_t h = 1469598103934665603ull;
  for (const auto& b : shaders::all()) {
    h = fnv1a(reinterpret_cast<const uint8_t*>(b.name.data()), b.name.size(), h);
    h = fnv1a(reinterpret_cast<const uint8_t*>(b.words), b.word_count * 4, h);
  }
  return h;
}

std::optional<std::filesystem::path> pipeline_cache_dir() {
  if (const char* off = std::getenv("VITVK_PIPELINE_CACHE"); off && std::string(off) == "0") return std::nullopt;
  if (const char* d = std::getenv("VITVK_PIPELINE_CACHE_DIR"); d && *d) return std::filesystem::path(d);
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "vitvk" / "pipelines";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "vitvk" / "pipelines";
  return std::nullopt;
}

std::filesystem::path pipeline_cache_file(const std::filesystem::path& dir, const DeviceInfo& dev) {
  return dir / (dev.device_uuid + "-" + std::to_string(dev.driver_version) + ".bin");
}

std::vector<uint8_t> pack_pipeline_cache(std::span<const uint8_t> blob) {
  std::vector<uint8_t> out(kMagic, kMagic + 8);
  put64(out, embedded_shader_hash());
  put64(out, blob.size());
  put64(out, fnv1a(blob.data(), blob.size()));
  out.insert(out.end(), blob.begin(), blob.end());
  return out;
}

std::optional<std::vector<uint8_t>> unpack_pipeline_cache(std::span<const uint8_t> file, const DeviceInfo& dev,
                                                          std::string* reason) {
  auto fail = [&](const char* why) -> std::optional<std::vector<uint8_t>> {
    if (reason) *reason = why;
    return std::nullopt;
  };
  if (file.size() < kEnvelope || std::memcmp(file.data(), kMagic, 8) != 0) return fail("not a vitvk pipeline cache");
  if (get64(file.data() + 8) != embedded_shader_hash()) return fail(kStaleShadersReason);
  const uint64_t size = get64(file.data() + 16);
  if (size != file.size() - kEnvelope) return fail("truncated or padded");
  const uint8_t* blob = file.data() + kEnvelope;
  if (fnv1a(blob, size) != get64(file.data() + 24)) return fail("checksum mismatch (corrupt)");
  // VkPipelineCacheHeaderVersionOne: headerSize, version, vendorID, deviceID, pipelineCacheUUID[16].
  if (size < 32 || get32(blob) < 32 || get32(blob + 4) != 1) return fail("bad Vulkan cache header");
  if (get32(blob + 8) != dev.vendor_id || get32(blob + 12) != dev.device_id ||
      std::memcmp(blob + 16, dev.pipeline_cache_uuid.data(), 16) != 0)
    return fail("made for another device or driver");
  return std::vector<uint8_t>(blob, blob + size);
}

}  // namespace vitvk::gpu
