#include <catch2/catch.hpp>

#include "ops/layernorm.hpp"
#include "support/test_data.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"
#include "vk/spirv_blobs.hpp"

using namespace vitvk;

TEST_CASE("Vulkan devices are listed with what kernel selection needs", "[vulkan]") {
  const auto devices = gpu::list_devices();
  REQUIRE(!devices.empty());
  for (const auto& d : devices) {
    INFO(d.name);
    CHECK(!d.name.empty());
    CHECK(!d.driver_name.empty());
    CHECK(d.subgroup_size > 0);
    CHECK(d.shared_memory_bytes > 0);
    CHECK(d.max_storage_buffer_range > 0);
  }
  const int picked = gpu::pick_device(devices, std::nullopt);
  for (const auto& d : devices) CHECK(devices[picked].type_rank <= d.type_rank);
  CHECK_THROWS_AS(gpu::pick_device(devices, static_cast<int>(devices.size())), Error);
}

TEST_CASE("a validated context starts clean and runs a kernel", "[vulkan]") {
  test::VkFixture fx;
  CHECK(fx.ctx.validation_messages().empty());
  CHECK(gpu::shaders::find("layernorm") != nullptr);
  CHECK(gpu::shaders::find("no_such_shader") == nullptr);
  CHECK_THROWS_AS(fx.kernels.get("no_such_shader", 1, 0), Error);
  fx.require_clean_validation();
}

TEST_CASE("the validation layer reports a misused binding", "[vulkan]") {
  // Proves the message log is live: tests that end with require_clean_validation() could otherwise pass vacuously.
  test::VkFixture fx;
  const auto align = fx.ctx.info().min_storage_buffer_offset_alignment;
  if (align <= 1) {
    test::skip("device accepts any storage buffer offset; cannot provoke the misalignment error");
    return;
  }
  std::vector<float> v(256, 1.f);
  auto buf = fx.upload(v);
  auto oc = fx.ops(false);
  fx.rec.begin();
  const gpu::Slice bad{&buf, 4, 64};  // misaligned offset
  ops::layernorm_vk(oc, bad, bad, bad, gpu::whole(buf).sub(512, 64), 1, 16, 1e-6f, 16, 16);
  fx.rec.submit_and_wait();
  CHECK(!fx.ctx.validation_messages().empty());
}
