#include "ops/window.hpp"

#include <algorithm>
#include <string>

#include "vitvk/error.hpp"

namespace vitvk::ops {

const char* to_string(WindowMode m) noexcept {
  switch (m) {
    case WindowMode::Partition: return "window_partition";
    case WindowMode::ReverseAdd: return "window_reverse_add";
    case WindowMode::Merge: return "patch_merge";
  }
  return "?";
}

int window_out_rows(const WindowShape& s, WindowMode mode) {
  switch (mode) {
    case WindowMode::Partition: return s.window_rows();
    case WindowMode::ReverseAdd: return s.pixels();
    case WindowMode::Merge: return s.merged_rows();
  }
  return 0;
}

int window_in_rows(const WindowShape& s, WindowMode mode) {
  return mode == WindowMode::ReverseAdd ? s.window_rows() : s.pixels();
}

int window_out_cols(const WindowShape& s, WindowMode mode) { return mode == WindowMode::Merge ? 4 * s.channels : s.channels; }

void check_window_shape(const WindowShape& s, WindowMode mode) {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorCode::InvalidArgument, std::string(to_string(mode)) + ": " + what);
  };
  if (s.batch < 1 || s.height < 1 || s.width < 1 || s.channels < 1) fail("empty shape");
  if (mode == WindowMode::Merge) return;
  if (s.window_h < 1 || s.window_w < 1) fail("window < 1");
  if (s.shift_h < 0 || s.shift_w < 0 || s.shift_h >= s.height || s.shift_w >= s.width)
    fail("shift outside [0, feature size)");
}

namespace {

// The source row of output row r of one image (-1: a zero-padding row).
// Partition: the window layout's row r sits at padded position (py, px) of the rolled map, which holds pixel
// ((py + shift_h) mod H, (px + shift_w) mod W) where (py, px) lies inside the map.
long partition_source(const WindowShape& s, long r) {
  const long area = s.window_area();
  const long win = r / area, k = r % area;
  const long py = win / s.windows_w() * s.window_h + k / s.window_w;
  const long px = win % s.windows_w() * s.window_w + k % s.window_w;
  if (py >= s.height || px >= s.width) return -1;
  return (py + s.shift_h) % s.height * s.width + (px + s.shift_w) % s.width;
}

// Reverse: pixel r = (h, w) came from rolled position ((h - shift_h) mod H, (w - shift_w) mod W): its window row.
long reverse_source(const WindowShape& s, long r) {
  const long py = (r / s.width - s.shift_h + s.height) % s.height;
  const long px = (r % s.width - s.shift_w + s.width) % s.width;
  return (py / s.window_h * s.windows_w() + px / s.window_w) * s.window_area() + py % s.window_h * s.window_w +
         px % s.window_w;
}

}  // namespace

void window_cpu(const float* in, const WindowShape& s, WindowMode mode, float* out, long row0, long row1) {
  check_window_shape(s, mode);
  const long out_rows = window_out_rows(s, mode), in_rows = window_in_rows(s, mode), C = s.channels;
  if (row1 < 0) row1 = s.batch * out_rows;
  for (long row = row0; row < row1; ++row) {
    const long b = row / out_rows, r = row % out_rows;
    const float* src = in + b * in_rows * C;
    float* dst = out + row * window_out_cols(s, mode);
    switch (mode) {
      case WindowMode::Partition: {
        const long from = partition_source(s, r);
        if (from < 0) std::fill_n(dst, C, 0.f);
        else std::copy_n(src + from * C, C, dst);
        break;
      }
      case WindowMode::ReverseAdd: {
        const float* w = src + reverse_source(s, r) * C;
        for (long c = 0; c < C; ++c) dst[c] += w[c];
        break;
      }
      case WindowMode::Merge: {
        const long i = r / s.merged_w(), j = r % s.merged_w();
        for (int q = 0; q < 4; ++q) {  // q = 2 dx + dy
          const long y = 2 * i + q % 2, x = 2 * j + q / 2;
          if (y < s.height && x < s.width) std::copy_n(src + (y * s.width + x) * C, C, dst + q * C);
          else std::fill_n(dst + q * C, C, 0.f);
        }
        break;
      }
    }
  }
}

}  // namespace vitvk::ops
