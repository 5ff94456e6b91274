#include <algorithm>

#include "ops/token_mean.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void token_mean_vk(gpu::OpContext& oc, const gpu::Slice& x, int batch, int tokens, int dim, const gpu::Slice& y) {
  if (batch < 1 || tokens < 1 || dim < 1) throw Error(ErrorCode::InvalidArgument, "token_mean_vk: empty shape");
  if (x.size < uint64_t(batch) * tokens * dim * oc.esize() || y.size < uint64_t(batch) * dim * oc.esize())
    throw Error(ErrorCode::InvalidArgument, "token_mean_vk: a slice is smaller than the shape");
  struct {
    uint32_t batch, tokens, dim;
  } push{uint32_t(batch), uint32_t(tokens), uint32_t(dim)};
  // One invocation per output (image, channel): consecutive invocations read consecutive channels.
  const uint32_t total = gpu::groups(uint64_t(batch) * dim, 64), gx = std::min<uint32_t>(total, 65535);
  oc.rec.dispatch(oc.kernels.get(oc.shader("token_mean"), 2, sizeof push), {x, y}, push, gx, gpu::groups(total, gx), 1,
                  "token_mean");
}

}  // namespace vitvk::ops
