#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

#include "core/file.hpp"
#include "support/test_data.hpp"
#include "support/vk_fixture.hpp"
#include "vk/pipeline_cache.hpp"

using namespace vitvk;

namespace {

std::vector<uint8_t> read_all(const std::filesystem::path& p) {
  const std::string s = read_text_file(p, 1u << 30);
  return {s.begin(), s.end()};
}

}  // namespace

TEST_CASE("pipeline cache persists and rejects corrupt or foreign files", "[vulkan][pipeline-cache]") {
  test::TempDir tmp;
  ::setenv("VITVK_PIPELINE_CACHE_DIR", tmp.path().c_str(), 1);
  std::filesystem::path file;
  {
    test::VkFixture fx;
    file = gpu::pipeline_cache_file(tmp.path(), fx.ctx.info());
    (void)fx.kernels.get("layernorm", 4, 20, std::array<uint32_t, 1>{8});
    fx.kernels.save();
    REQUIRE(std::filesystem::exists(file));
    const auto bytes = read_all(file);
    std::string reason;
    REQUIRE(gpu::unpack_pipeline_cache(bytes, fx.ctx.info(), &reason).has_value());

    auto corrupt = bytes;
    corrupt.back() ^= 0x5a;
    CHECK_FALSE(gpu::unpack_pipeline_cache(corrupt, fx.ctx.info(), &reason));
    CHECK_THAT(reason, Catch::Contains("corrupt"));

    auto truncated = bytes;
    truncated.resize(truncated.size() / 2);
    CHECK_FALSE(gpu::unpack_pipeline_cache(truncated, fx.ctx.info(), &reason));
    CHECK_THAT(reason, Catch::Contains("truncated"));

    gpu::DeviceInfo other = fx.ctx.info();
    other.pipeline_cache_uuid[0] ^= 1;
    CHECK_FALSE(gpu::unpack_pipeline_cache(bytes, other, &reason));
    CHECK_THAT(reason, Catch::Contains("another device"));

    CHECK_FALSE(gpu::unpack_pipeline_cache(std::vector<uint8_t>(100, 7), fx.ctx.info(), &reason));
    fx.require_clean_validation();
  }
  // A garbage file is ignored (with a warning) and replaced; the context still works.
  std::ofstream(file, std::ios::binary | std::ios::trunc) << "garbage that is not a pipeline cache";
  {
    test::VkFixture fx;
    (void)fx.kernels.get("layernorm", 4, 20, std::array<uint32_t, 1>{8});
    fx.kernels.save();
    std::string reason;
    CHECK(gpu::unpack_pipeline_cache(read_all(file), fx.ctx.info(), &reason).has_value());
    fx.require_clean_validation();
  }
}
