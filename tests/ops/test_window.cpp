#include <catch2/catch.hpp>

#include <vector>

#include "ops/window.hpp"
#include "support/vk_fixture.hpp"

using namespace vitvk;
using ops::WindowMode;
using ops::WindowShape;

namespace {

// timm's steps spelt out one by one on [H, W, C] maps: torch.roll(x, (-sh, -sw)), F.pad to a multiple of the
// window, window_partition's view/permute (B, H/wh, wh, W/ww, ww, C) -> (B, H/wh, W/ww, wh, ww, C).
std::vector<float> timm_partition(const std::vector<float>& x, const WindowShape& s) {
  const int H = s.height, W = s.width, C = s.channels;
  const int Hp = s.windows_h() * s.window_h, Wp = s.windows_w() * s.window_w;
  std::vector<float> out;
  for (int b = 0; b < s.batch; ++b) {
    std::vector<float> rolled(std::size_t(Hp) * Wp * C, 0.f);  // zero padding after the roll
    for (int h = 0; h < H; ++h)
      for (int w = 0; w < W; ++w)
        for (int c = 0; c < C; ++c)  // roll by -shift: rolled[h] = x[(h + shift) mod H]
          rolled[(std::size_t(h) * Wp + w) * C + c] =
              x[((std::size_t(b) * H + (h + s.shift_h) % H) * W + (w + s.shift_w) % W) * C + c];
    for (int wy = 0; wy < s.windows_h(); ++wy)
      for (int wx = 0; wx < s.windows_w(); ++wx)
        for (int ky = 0; ky < s.window_h; ++ky)
          for (int kx = 0; kx < s.window_w; ++kx)
            for (int c = 0; c < C; ++c)
              out.push_back(rolled[((std::size_t(wy) * s.window_h + ky) * Wp + wx * s.window_w + kx) * C + c]);
  }
  return out;
}

// PatchMerging: pad to even sizes, reshape(B, H/2, 2, W/2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3).
std::vector<float> timm_merge(const std::vector<float>& x, const WindowShape& s) {
  const int H = s.height, W = s.width, C = s.channels;
  std::vector<float> out;
  for (int b = 0; b < s.batch; ++b)
    for (int i = 0; i < s.merged_h(); ++i)
      for (int j = 0; j < s.merged_w(); ++j)
        for (int dx = 0; dx < 2; ++dx)  // the permute puts the column pair (dim 4) before the row pair (dim 2)
          for (int dy = 0; dy < 2; ++dy)
            for (int c = 0; c < C; ++c) {
              const int y = 2 * i + dy, xx = 2 * j + dx;
              out.push_back(y < H && xx < W ? x[((std::size_t(b) * H + y) * W + xx) * C + c] : 0.f);
            }
  return out;
}

// Odd shapes: windows at the image edge (sizes not multiples of the window), shifts 0 and window / 2, a window
// clipped to the map, odd channel counts, non-square maps and windows.
const WindowShape kShapes[] = {
    {1, 1, 1, 1, 1, 1, 0, 0},    {2, 7, 7, 3, 7, 7, 0, 0},     {2, 7, 7, 3, 7, 7, 3, 3},
    {1, 12, 12, 5, 7, 7, 3, 3},  {3, 9, 13, 7, 4, 5, 2, 2},    {1, 6, 6, 33, 6, 6, 0, 0},
    {2, 14, 10, 9, 7, 7, 0, 0},  {1, 24, 24, 12, 12, 12, 6, 6}, {2, 5, 11, 3, 3, 4, 1, 2},
};

}  // namespace

TEST_CASE("window: CPU partition is timm's roll, pad and window_partition", "[ops][cpu][window]") {
  for (const WindowShape& s : kShapes) {
    const auto x = test::random_floats(std::size_t(s.batch) * s.pixels() * s.channels, 11);
    std::vector<float> got(std::size_t(s.batch) * s.window_rows() * s.channels, -1.f);
    ops::window_cpu(x.data(), s, WindowMode::Partition, got.data());
    INFO(s.height << "x" << s.width << " window " << s.window_h << "x" << s.window_w << " shift " << s.shift_h);
    CHECK(got == timm_partition(x, s));
  }
}

TEST_CASE("window: CPU reverse_add undoes the partition and adds into the stream", "[ops][cpu][window]") {
  for (const WindowShape& s : kShapes) {
    const std::size_t n = std::size_t(s.batch) * s.pixels() * s.channels;
    const auto x = test::random_floats(n, 12), base = test::random_floats(n, 13);
    std::vector<float> win(std::size_t(s.batch) * s.window_rows() * s.channels);
    ops::window_cpu(x.data(), s, WindowMode::Partition, win.data());
    auto y = base;
    ops::window_cpu(win.data(), s, WindowMode::ReverseAdd, y.data());
    std::vector<float> want(n);
    for (std::size_t i = 0; i < n; ++i) want[i] = base[i] + x[i];
    INFO(s.height << "x" << s.width << " window " << s.window_h << "x" << s.window_w << " shift " << s.shift_h);
    CHECK(y == want);
  }
}

TEST_CASE("window: CPU merge is PatchMerging's 2x2 gather", "[ops][cpu][window]") {
  for (const WindowShape& s : kShapes) {
    const auto x = test::random_floats(std::size_t(s.batch) * s.pixels() * s.channels, 14);
    std::vector<float> got(std::size_t(s.batch) * s.merged_rows() * 4 * s.channels, -1.f);
    // In two row ranges, as the CPU backend's workers call it.
    const long rows = long(s.batch) * s.merged_rows(), half = rows / 2;
    ops::window_cpu(x.data(), s, WindowMode::Merge, got.data(), 0, half);
    ops::window_cpu(x.data(), s, WindowMode::Merge, got.data(), half, rows);
    INFO(s.height << "x" << s.width << " C " << s.channels);
    CHECK(got == timm_merge(x, s));
  }
}

TEST_CASE("window: bad shapes are refused", "[ops][cpu][window]") {
  std::vector<float> buf(64);
  CHECK_THROWS(ops::window_cpu(buf.data(), {1, 4, 4, 1, 0, 2, 0, 0}, WindowMode::Partition, buf.data()));
  CHECK_THROWS(ops::window_cpu(buf.data(), {1, 4, 4, 1, 2, 2, 4, 0}, WindowMode::Partition, buf.data()));
  CHECK_THROWS(ops::window_cpu(buf.data(), {1, 0, 4, 1, 2, 2, 0, 0}, WindowMode::Merge, buf.data()));
}

TEST_CASE("window: Vulkan matches the CPU op on odd shapes", "[ops][vulkan][window]") {
  test::VkFixture fx;
  for (const WindowShape& s : kShapes)
    for (WindowMode mode : {WindowMode::Partition, WindowMode::ReverseAdd, WindowMode::Merge})
      for (bool fp16 : test::precisions(fx.ctx)) {
        const std::size_t in_n = std::size_t(s.batch) * ops::window_in_rows(s, mode) * s.channels;
        const std::size_t out_n = std::size_t(s.batch) * ops::window_out_rows(s, mode) * ops::window_out_cols(s, mode);
        auto x = test::random_floats(in_n, 21);
        auto y0 = test::random_floats(out_n, 22);  // the residual stream for reverse_add; overwritten otherwise
        if (fp16)
          for (auto* v : {&x, &y0}) *v = gpu::from_storage(gpu::to_storage(*v, true).data(), v->size(), true);
        auto want = y0;
        ops::window_cpu(x.data(), s, mode, want.data());
        auto bx = fx.upload(x, fp16), by = fx.upload(y0, fp16);
        auto oc = fx.ops(fp16);
        fx.rec.begin();
        ops::window_vk(oc, gpu::whole(bx), s, mode, gpu::whole(by));
        fx.rec.submit_and_wait();
        const float diff = test::max_abs_diff(fx.download(by, out_n, fp16), want);
        INFO(ops::to_string(mode) << " B " << s.batch << " " << s.height << "x" << s.width << " C " << s.channels
                                  << " window " << s.window_h << "x" << s.window_w << " shift " << s.shift_h << ","
                                  << s.shift_w << (fp16 ? " fp16" : " fp32") << ": max diff " << diff);
        // Gathers are exact; the fp16 sum rounds once to half precision (|values| < ~10: ulp <= 2^-7).
        CHECK(diff <= (fp16 && mode == WindowMode::ReverseAdd ? 1e-2f : 0.f));
      }
  fx.require_clean_validation();
}
