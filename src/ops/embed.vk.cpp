#include <algorithm>

#include "ops/embed.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void embed_tokens_vk(gpu::OpContext& oc, const gpu::Slice& tokens, const EmbedShape& s, const gpu::Slice& prefix,
                     const gpu::Slice& pos) {
  const uint64_t n = uint64_t(s.batch) * s.tokens * s.dim, es = oc.esize();
  if (s.batch < 1 || s.tokens < 1 || s.dim < 1 || s.prefix < 0 || s.pos_rows < 0 || s.prefix > s.tokens ||
      s.pos_rows > s.tokens)
    throw Error(ErrorCode::InvalidArgument, "embed_tokens_vk: bad shape");
  if (tokens.size < n * es || prefix.size < uint64_t(s.prefix) * s.dim * es || pos.size < uint64_t(s.pos_rows) * s.dim * es)
    throw Error(ErrorCode::InvalidArgument, "embed_tokens_vk: a slice is smaller than the shape");
  struct {
    uint32_t batch, T, D, prefix, pos_rows;
  } push{uint32_t(s.batch), uint32_t(s.tokens), uint32_t(s.dim), uint32_t(s.prefix), uint32_t(s.pos_rows)};
  const auto& k = oc.kernels.get(oc.shader("embed"), 3, sizeof push);
  const uint32_t total = gpu::groups(n, 64), gx = std::min<uint32_t>(total, 65535), gy = gpu::groups(total, gx);
  // A binding must not be empty: an absent prefix or position embedding binds the tokens again (never read).
  oc.rec.dispatch(k, {tokens, prefix.size ? prefix : tokens, pos.size ? pos : tokens}, push, gx, gy, 1, "embed");
}

}  // namespace vitvk::ops
