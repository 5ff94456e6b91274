#include <algorithm>

#include "ops/qk_norm.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

void qk_norm_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const QkNormShape& s, const gpu::Slice& q_gamma,
                const gpu::Slice& q_beta, const gpu::Slice& k_gamma, const gpu::Slice& k_beta, float eps) {
  if (s.rows < 1 || s.heads < 1 || s.head_dim < 1) throw Error(ErrorCode::InvalidArgument, "qk_norm_vk: empty shape");
  const uint64_t es = oc.esize();
  if (qkv.size < uint64_t(s.rows) * 3 * s.dim() * es)
    throw Error(ErrorCode::InvalidArgument, "qk_norm_vk: the qkv slice is smaller than the shape");
  for (const gpu::Slice* g : {&q_gamma, &q_beta, &k_gamma, &k_beta})
    if (g->size < uint64_t(s.head_dim) * es) throw Error(ErrorCode::InvalidArgument, "qk_norm_vk: a weight is too small");
  struct {
    uint32_t rows, heads, head_dim;
    float eps;
  } push{uint32_t(s.rows), uint32_t(s.heads), uint32_t(s.head_dim), eps};
  const uint32_t total = gpu::groups(uint64_t(s.rows) * 2 * s.heads, 64), gx = std::min<uint32_t>(total, 65535);
  oc.rec.dispatch(oc.kernels.get(oc.shader("qk_norm"), 5, sizeof push), {qkv, q_gamma, q_beta, k_gamma, k_beta}, push,
                  gx, gpu::groups(total, gx), 1, "qk_norm");
}

}  // namespace vitvk::ops
