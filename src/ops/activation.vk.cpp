#include <algorithm>

#include "ops/activation.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void activation_vk(gpu::OpContext& oc, const gpu::Slice& x, std::size_t n, Activation a) {
  if (a == Activation::Gelu)
    throw Error(ErrorCode::InvalidArgument, "activation_vk: exact GELU is fused into linear_vk (Epilogue::Gelu)");
  if (n == 0) return;
  if (n > 0xffffffffull) throw Error(ErrorCode::Unsupported, "activation_vk: more than 2^32 elements");
  if (x.size < n * oc.esize()) throw Error(ErrorCode::InvalidArgument, "activation_vk: the slice is smaller than n");
  struct {
    uint32_t n, kind;
  } push{uint32_t(n), uint32_t(a)};
  const uint32_t total = gpu::groups(n, 64), gx = std::min<uint32_t>(total, 65535);
  oc.rec.dispatch(oc.kernels.get(oc.shader("activation"), 1, sizeof push), {x}, push, gx, gpu::groups(total, gx), 1,
                  "activation");
}

}  // namespace vitvk::ops
