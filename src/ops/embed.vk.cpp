#include <algorithm>

#include "ops/embed.hpp"

namespace vitvk::ops {

void embed_tokens_vk(gpu::OpContext& oc, const gpu::Slice& tokens, int batch, int T, int D, const gpu::Slice& cls,
                     const gpu::Slice& dist, const gpu::Slice& pos) {
  struct {
    uint32_t batch, T, D, has_dist;
  } push{uint32_t(batch), uint32_t(T), uint32_t(D), dist.size ? 1u : 0u};
  const auto& k = oc.kernels.get(oc.shader("embed"), 4, sizeof push);
  const uint64_t n = uint64_t(batch) * T * D;
  const uint32_t total = gpu::groups(n, 64), gx = std::min<uint32_t>(total, 65535), gy = gpu::groups(total, gx);
  // A binding must not be empty: without a distillation token, bind cls again (never read).
  oc.rec.dispatch(k, {tokens, cls, dist.size ? dist : cls, pos}, push, gx, gy, 1, "embed");
}

}  // namespace vitvk::ops
