#include <algorithm>

#include "ops/rope.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void rope_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const RopeShape& s, const gpu::Slice& sin,
             const gpu::Slice& cos) {
  if (s.batch < 1 || s.heads < 1 || s.head_dim < 2 || s.head_dim % 2 || s.prefix < 0 || s.tokens <= s.prefix)
    throw Error(ErrorCode::InvalidArgument, "rope_vk: bad shape (an even head_dim and tokens > prefix needed)");
  const uint64_t pairs = uint64_t(s.batch) * s.rotated() * 2 * s.heads * (s.head_dim / 2);
  if (pairs > 0xffffffffull) throw Error(ErrorCode::Unsupported, "rope_vk: more than 2^32 pairs");
  if (qkv.size < uint64_t(s.batch) * s.tokens * 3 * s.dim() * oc.esize())
    throw Error(ErrorCode::InvalidArgument, "rope_vk: the qkv slice is smaller than the shape");
  const uint64_t table = uint64_t(s.rotated()) * s.head_dim * 4;  // fp32 in both precisions
  if (sin.size < table || cos.size < table) throw Error(ErrorCode::InvalidArgument, "rope_vk: a table is too small");
  struct {
    uint32_t pairs, tokens, prefix, heads, head_dim, rotate_half;
  } push{uint32_t(pairs), uint32_t(s.tokens), uint32_t(s.prefix), uint32_t(s.heads), uint32_t(s.head_dim),
         s.rotate_half ? 1u : 0u};
  const uint32_t total = gpu::groups(pairs, 64), gx = std::min<uint32_t>(total, 65535);
  oc.rec.dispatch(oc.kernels.get(oc.shader("rope"), 3, sizeof push), {qkv, sin, cos}, push, gx,
                  gpu::groups(total, gx), 1, "rope");
}

}  // namespace vitvk::ops
