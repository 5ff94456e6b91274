#include <algorithm>

#include "ops/token_mean.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void token_mean_vk(gpu::OpContext& oc, const gpu::Slice& x, const TokenMeanShape& s, const gpu::Slice& y) {
  if (s.batch < 1 || s.tokens < 1 || s.dim < 1 || s.offset < 0) throw Error(ErrorCode::InvalidArgument, "token_mean_vk: empty shape");
  const uint64_t last = uint64_t(s.offset) + uint64_t(s.batch - 1) * s.image_step() + uint64_t(s.tokens - 1) * s.row_step() + s.dim;
  if (last > 0xffffffffull) throw Error(ErrorCode::Unsupported, "token_mean_vk: more than 2^32 elements");
  if (x.size < last * oc.esize() || y.size < uint64_t(s.batch) * s.dim * oc.esize())
    throw Error(ErrorCode::InvalidArgument, "token_mean_vk: a slice is smaller than the shape");
  struct {
    uint32_t batch, tokens, dim, image_stride, row_stride, offset;
  } push{uint32_t(s.batch), uint32_t(s.tokens), uint32_t(s.dim), uint32_t(s.image_step()), uint32_t(s.row_step()),
         uint32_t(s.offset)};
  // One invocation per output (image, channel): consecutive invocations read consecutive channels.
  const uint32_t total = gpu::groups(uint64_t(s.batch) * s.dim, 64), gx = std::min<uint32_t>(total, 65535);
  oc.rec.dispatch(oc.kernels.get(oc.shader("token_mean"), 2, sizeof push), {x, y}, push, gx, gpu::groups(total, gx), 1,
                  "token_mean");
}

}  // namespace vitvk::ops
