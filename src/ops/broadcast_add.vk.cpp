#include <algorithm>

#include "ops/broadcast_add.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void broadcast_add_vk(gpu::OpContext& oc, const gpu::Slice& x, int batch, long n, const gpu::Slice& v) {
  if (batch < 1 || n < 1) throw Error(ErrorCode::InvalidArgument, "broadcast_add_vk: empty shape");
  const uint64_t total_elems = uint64_t(batch) * n;
  if (total_elems > 0xffffffffull) throw Error(ErrorCode::Unsupported, "broadcast_add_vk: more than 2^32 elements");
  if (x.size < total_elems * oc.esize() || v.size < uint64_t(n) * oc.esize())
    throw Error(ErrorCode::InvalidArgument, "broadcast_add_vk: a slice is smaller than the shape");
  struct {
    uint32_t total, n;
  } push{uint32_t(total_elems), uint32_t(n)};
  const uint32_t total = gpu::groups(total_elems, 64), gx = std::min<uint32_t>(total, 65535);
  oc.rec.dispatch(oc.kernels.get(oc.shader("broadcast_add"), 2, sizeof push), {x, v}, push, gx, gpu::groups(total, gx), 1,
                  "broadcast_add");
}

}  // namespace vitvk::ops
