#include "ops/layernorm.hpp"

#include <algorithm>
#include <array>

namespace vitvk::ops {

void layernorm_vk(gpu::OpContext& oc, const gpu::Slice& x, const gpu::Slice& gamma, const gpu::Slice& beta,
                  const gpu::Slice& y, int rows, int dim, float eps, int x_stride, int y_stride) {
  struct {
    uint32_t rows, dim, x_stride, y_stride;
    float eps;
  } push{uint32_t(rows), uint32_t(dim), uint32_t(x_stride), uint32_t(y_stride), eps};
  // One subgroup per row: the reduction needs no shared memory (costly on lavapipe) on any device.
  const uint32_t wg = oc.subgroup();
  const auto& k = oc.kernels.get(oc.reduce_shader("layernorm"), 4, sizeof push, std::array{wg});
  const uint32_t gx = std::min<uint32_t>(rows, 65535), gy = gpu::groups(rows, gx);
  oc.rec.dispatch(k, {x, gamma, beta, y}, push, gx, gy, 1, "layernorm");
}

}  // namespace vitvk::ops
