#include <algorithm>
#include <array>
#include <string>

#include "ops/softmax.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void softmax_vk(gpu::OpContext& oc, const gpu::Slice& x, int rows, int cols, const gpu::Slice& y_f32) {
  if (rows < 0 || cols <= 0)
    throw Error(ErrorCode::InvalidArgument,
                "softmax_vk: bad shape (" + std::to_string(rows) + " rows, " + std::to_string(cols) + " cols)");
  if (rows == 0) return;
  const uint64_t n = static_cast<uint64_t>(rows) * cols;
  if (!x.buffer || x.size < n * oc.esize() || !y_f32.buffer || y_f32.size < n * 4)
    throw Error(ErrorCode::InvalidArgument, "softmax_vk: input or output binding is smaller than rows x cols");
  struct {
    uint32_t rows, cols;
  } push{uint32_t(rows), uint32_t(cols)};
  // One subgroup per row: the reduction needs no shared memory (costly on lavapipe) on any device.
  const uint32_t wg = oc.subgroup();
  const auto& k = oc.kernels.get(oc.reduce_shader("softmax"), 2, sizeof push, std::array{wg});
  const uint32_t gx = std::min<uint32_t>(rows, 65535), gy = gpu::groups(rows, gx);
  oc.rec.dispatch(k, {x, y_f32}, push, gx, gy, 1, "softmax");
}

}  // namespace vitvk::ops
