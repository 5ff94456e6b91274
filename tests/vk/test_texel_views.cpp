#include <catch2/catch.hpp>

#include <array>

#include "ops/gemm.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"
#include "vk/context_impl.hpp"

using namespace vitvk;

TEST_CASE("texel views are cached per buffer by offset, range and format", "[vulkan][texel]") {
  test::VkFixture fx;
  const auto& dev = fx.ctx.info();
  const auto f = gpu::TexelFormat::Rgba32f;
  if (!(dev.uniform_texel_formats >> static_cast<int>(f) & 1u)) {
    WARN("no RGBA32F uniform texel buffers on this device");
    return;
  }
  const uint64_t align = std::max<uint64_t>(dev.min_texel_buffer_offset_alignment, 16);
  auto buf = fx.zeros(1001);  // an odd size: whole-buffer views round the range up into the allocation's padding
  auto other = fx.zeros(64);
  const gpu::Slice all = gpu::whole(buf);
  REQUIRE(gpu::texel_bindable(dev, all, f));
  CHECK(buf.texel_view_count() == 0);

  const vk::BufferView v1 = gpu::texel_view(all, f);
  CHECK(v1 != vk::BufferView{});
  CHECK(gpu::texel_view(all, f) == v1);             // same slice: the cached view
  CHECK(gpu::texel_view(gpu::whole(buf), f) == v1);  // an equal slice built anew: the same view
  CHECK(buf.texel_view_count() == 1);

  const vk::BufferView v2 = gpu::texel_view(all.sub(align, all.size - align), f);  // different offset
  CHECK(v2 != v1);
  CHECK(buf.texel_view_count() == 2);
  const vk::BufferView v3 = gpu::texel_view(all.sub(0, 64), f);  // different range
  CHECK(v3 != v1);
  CHECK(v3 != v2);
  CHECK(buf.texel_view_count() == 3);
  // 61 and 64 bytes both round up to 4 whole texels: one view.
  CHECK(gpu::texel_view(all.sub(0, 61), f) == v3);
  CHECK(buf.texel_view_count() == 3);
  if (dev.uniform_texel_formats >> static_cast<int>(gpu::TexelFormat::R32f) & 1u) {
    CHECK(gpu::texel_view(all, gpu::TexelFormat::R32f) != v1);  // different format
    CHECK(buf.texel_view_count() == 4);
  }
  // Views belong to their buffer.
  CHECK(gpu::texel_view(gpu::whole(other), f) != v1);
  CHECK(other.texel_view_count() == 1);
  // Not bindable: an Error, not an invalid view.
  CHECK_THROWS_AS(gpu::texel_view(all.sub(4, 64), f), Error);
  fx.require_clean_validation();
}

TEST_CASE("texel_bindable checks alignment, range and the device's limits", "[vulkan][texel]") {
  test::VkFixture fx;
  gpu::DeviceInfo dev = fx.ctx.info();
  // Pretend limits, so that every check is exercised whatever this device's are.
  dev.uniform_texel_formats = 1u << static_cast<int>(gpu::TexelFormat::Rgba32f);
  dev.min_texel_buffer_offset_alignment = 64;
  dev.max_texel_buffer_elements = 100;
  auto buf = fx.zeros(1000);  // 4000 bytes = 250 texels of 16 bytes
  const gpu::Slice all = gpu::whole(buf);
  const auto f = gpu::TexelFormat::Rgba32f;
  CHECK_FALSE(gpu::texel_bindable(dev, all, f));                         // 250 texels > 100
  CHECK(gpu::texel_bindable(dev, all.sub(0, 1600), f));                  // exactly 100
  CHECK_FALSE(gpu::texel_bindable(dev, all.sub(0, 1601), f));            // 101 after rounding up
  CHECK(gpu::texel_bindable(dev, all.sub(64, 100), f));                  // aligned offset, partial texel
  CHECK_FALSE(gpu::texel_bindable(dev, all.sub(32, 100), f));            // offset not a multiple of 64
  CHECK_FALSE(gpu::texel_bindable(dev, all.sub(3968, 100), f));          // runs past the buffer
  CHECK_FALSE(gpu::texel_bindable(dev, all.sub(0, 0), f));               // empty
  CHECK_FALSE(gpu::texel_bindable(dev, gpu::Slice{}, f));                // no buffer
  CHECK_FALSE(gpu::texel_bindable(dev, all.sub(0, 64), gpu::TexelFormat::Rgba16f));  // format not supported
  fx.require_clean_validation();
}

TEST_CASE("kernels declare texel bindings per binding, all storage by default", "[vulkan][texel]") {
  test::VkFixture fx;
  const std::array<uint32_t, 5> spec{8, 0, 8, 8, 1};
  const uint32_t push = sizeof(ops::detail::GemmPush);
  const auto& plain = fx.kernels.get("gemm", 4, push, spec);
  for (uint32_t i = 0; i < 4; ++i) CHECK_FALSE(plain.binding(i).texel.has_value());
  if (!fx.kernels.has_shader("gemm.texel")) return;
  const auto t = gpu::Binding::uniform_texel(gpu::TexelFormat::Rgba32f);
  const std::array<gpu::Binding, 4> kinds{t, t, gpu::Binding::storage(), gpu::Binding::storage()};
  const auto& texel = fx.kernels.get("gemm.texel", 4, push, spec, kinds);
  CHECK(texel.binding(0) == t);
  CHECK(texel.binding(1) == t);
  CHECK_FALSE(texel.binding(3).texel.has_value());
  CHECK(&fx.kernels.get("gemm.texel", 4, push, spec, kinds) == &texel);  // cached by binding kinds too
  CHECK_THROWS_AS(fx.kernels.get("gemm.texel", 4, push, spec, std::span(kinds).first(2)), Error);  // one per binding
  fx.require_clean_validation();
}
