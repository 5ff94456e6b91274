#include <algorithm>

#include "ops/glu.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void glu_vk(gpu::OpContext& oc, const gpu::Slice& x, const GluShape& s, const gpu::Slice& y) {
  if (s.rows < 1 || s.hidden < 1) throw Error(ErrorCode::InvalidArgument, "glu_vk: empty shape");
  const uint64_t n = uint64_t(s.rows) * s.hidden;
  if (n > 0xffffffffull / 2) throw Error(ErrorCode::Unsupported, "glu_vk: more than 2^31 outputs");
  if (x.size < 2 * n * oc.esize() || y.size < n * oc.esize())
    throw Error(ErrorCode::InvalidArgument, "glu_vk: a slice is smaller than the shape");
  struct {
    uint32_t n, hidden;
  } push{uint32_t(n), uint32_t(s.hidden)};
  const uint32_t total = gpu::groups(n, 64), gx = std::min<uint32_t>(total, 65535);
  oc.rec.dispatch(oc.kernels.get(oc.shader("glu"), 2, sizeof push), {x, y}, push, gx, gpu::groups(total, gx), 1,
                  "glu");
}

}  // namespace vitvk::ops
