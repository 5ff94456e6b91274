#pragma once
// Persistent Vulkan pipeline cache: one file per (device UUID, driver version, embedded-shader hash) in the
// user cache dir, written atomically. A corrupt or foreign file is ignored with a warning, never handed to the
// driver unchecked (some drivers crash on garbage cache data).
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vitvk::gpu {

struct DeviceInfo;

// FNV-1a over every embedded SPIR-V module: changes whenever any shader changes.
uint64_t embedded_shader_hash();

// $VITVK_PIPELINE_CACHE_DIR, else $XDG_CACHE_HOME/vitvk/pipelines, else ~/.cache/vitvk/pipelines; nullopt when
// none can be determined or VITVK_PIPELINE_CACHE=0.
std::optional<std::filesystem::path> pipeline_cache_dir();
std::filesystem::path pipeline_cache_file(const std::filesystem::path& dir, const DeviceInfo& dev);

// The reason unpack_pipeline_cache gives for a file written by a build with other shaders.
inline constexpr const char* kStaleShadersReason = "made by a build with other shaders";

// Our envelope around the driver's blob: magic, shader hash, size, checksum, then the blob whose own header
// (VkPipelineCacheHeaderVersionOne) must name this device. Returns the blob, or nullopt plus a reason.
std::optional<std::vector<uint8_t>> unpack_pipeline_cache(std::span<const uint8_t> file, const DeviceInfo& dev,
                                                          std::string* reason);
std::vector<uint8_t> pack_pipeline_cache(std::span<const uint8_t> blob);

}  // namespace vitvk::gpu
