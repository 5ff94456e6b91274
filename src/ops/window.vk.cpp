#include <algorithm>

#include "ops/window.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void window_vk(gpu::OpContext& oc, const gpu::Slice& in, const WindowShape& s, WindowMode mode, const gpu::Slice& out) {
  check_window_shape(s, mode);
  const uint64_t out_elems = uint64_t(s.batch) * window_out_rows(s, mode) * window_out_cols(s, mode);
  const uint64_t in_elems = uint64_t(s.batch) * window_in_rows(s, mode) * s.channels;
  if (std::max(out_elems, in_elems) > 0xffffffffull)
    throw Error(ErrorCode::Unsupported, std::string(to_string(mode)) + "_vk: more than 2^32 elements");
  if (in.size < in_elems * oc.esize() || out.size < out_elems * oc.esize())
    throw Error(ErrorCode::InvalidArgument, std::string(to_string(mode)) + "_vk: a slice is smaller than the shape");
  struct {
    uint32_t batch, height, width, channels, window_h, window_w, shift_h, shift_w, mode, total;
  } push{uint32_t(s.batch),    uint32_t(s.height),  uint32_t(s.width),   uint32_t(s.channels),
         uint32_t(std::max(s.window_h, 1)), uint32_t(std::max(s.window_w, 1)), uint32_t(s.shift_h), uint32_t(s.shift_w),
         uint32_t(mode),       uint32_t(out_elems)};
  const uint32_t total = gpu::groups(out_elems, 64), gx = std::min<uint32_t>(total, 65535);
  oc.rec.dispatch(oc.kernels.get(oc.shader("window"), 2, sizeof push), {in, out}, push, gx, gpu::groups(total, gx), 1,
                  to_string(mode));
}

}  // namespace vitvk::ops
