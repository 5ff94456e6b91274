#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <string>

#include "ops/attention.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

namespace {

constexpr uint32_t kRowsPerLane = 3;  // R in shaders/attention_rows.glsl

void check_binding(const char* what, const gpu::Slice& slice, uint64_t bytes) {
  if (slice.buffer == nullptr || slice.size < bytes)
    throw Error(ErrorCode::InvalidArgument, std::string("attention_vk: ") + what + " binding holds " +
                                                std::to_string(slice.buffer ? slice.size : 0) + " bytes, needs " +
                                                std::to_string(bytes));
}

// Keys per shared-memory tile for the Tiled form (two fp32 tiles of TK x head_dim, rounded up to vec4s),
// or 0 when even one key does not fit. CPU drivers run this form only when forced (tests); there the driver
// unrolls the whole tile, and a small one keeps its JIT compile to about a second instead of a minute.
uint32_t tiled_keys(const gpu::DeviceInfo& dev, int head_dim) {
  const uint64_t per_key = 2ull * 16 * ((head_dim + 3) / 4);
  const uint64_t budget = std::min<uint64_t>(dev.shared_memory_bytes, 32768);  // leave room for occupancy
  return static_cast<uint32_t>(std::min<uint64_t>(dev.is_cpu() ? 4 : 32, budget / per_key));
}

// The rows form broadcasts from lanes 0..7 of each subgroup (shaders/attention_rows.glsl), so it needs
// subgroup broadcasts and subgroups of at least 8 lanes; any size from 8 up is correct (lanes l and l + 8k
// load the same chunk element). Returns the subgroup size it runs at and whether that size must be requested:
// the device's own size where it is >= 8 (pipelines from SPIR-V 1.5 without the varying-size flag run at it),
// else the smallest size >= 8 in the device's range where the size can be requested; {0, false}: not at all.
struct RowsSubgroup {
  uint32_t size = 0;
  bool requested = false;
};
RowsSubgroup rows_subgroup(const gpu::OpContext& oc) {
  const auto& dev = oc.device();
  if (!oc.kernels.context().subgroup_ops_enabled()) return {};
  if (oc.subgroup() >= 8) return {oc.subgroup(), false};
  if (oc.kernels.context().subgroup_size_control_enabled() && dev.max_subgroup_size >= 8)
    return {std::max<uint32_t>(8, dev.min_subgroup_size), true};
  return {};
}

// Workgroup of the rows form: on a CPU driver one subgroup is one SIMD register of lanes, and the smallest
// group wastes the fewest tail lanes; elsewhere (forced) a usual GPU size. Either is a multiple of the size.
uint32_t rows_workgroup(const gpu::OpContext& oc, const RowsSubgroup& sg) {
  return oc.device().is_cpu() ? sg.size : std::max<uint32_t>(64, sg.size);
}

}  // namespace

void attention_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const AttentionShape& s, const gpu::Slice& out,
                  const gpu::Slice& fused) {
  attention_vk(oc, qkv, s, out, fused, gpu::Slice{}, AttentionKernel::Auto);
}

void attention_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const AttentionShape& s, const gpu::Slice& out,
                  const gpu::Slice& fused, AttentionKernel kernel) {
  attention_vk(oc, qkv, s, out, fused, gpu::Slice{}, kernel);
}

void attention_vk(gpu::OpContext& oc, const gpu::Slice& qkv, const AttentionShape& s, const gpu::Slice& out,
                  const gpu::Slice& fused, const gpu::Slice& bias, AttentionKernel kernel) {
  if (s.batch < 0 || s.tokens < 0 || s.heads <= 0 || s.head_dim <= 0 || s.bias_groups < 0)
    throw Error(ErrorCode::InvalidArgument, "attention_vk: bad shape (batch " + std::to_string(s.batch) + ", tokens " +
                                                std::to_string(s.tokens) + ", heads " + std::to_string(s.heads) +
                                                ", head_dim " + std::to_string(s.head_dim) + ", bias_groups " +
                                                std::to_string(s.bias_groups) + ")");
  const bool has_bias = bias.size != 0;
  if (has_bias != (s.bias_groups > 0))
    throw Error(ErrorCode::InvalidArgument, "attention_vk: bias binding and bias_groups " +
                                                std::to_string(s.bias_groups) + " disagree");
  if (s.batch == 0 || s.tokens == 0) return;
  if (s.batch > 65535 || s.heads > 65535)
    throw Error(ErrorCode::Unsupported, "attention_vk: batch and heads are limited to 65535 workgroups each");
  const uint64_t B = s.batch, N = s.tokens, D = s.dim();
  const uint64_t bias_floats = uint64_t(s.bias_groups) * s.heads * N * N;
  if (B * N * 3 * D >= (1ull << 32) || (fused.size != 0 && B * 3 * N * N >= (1ull << 32)) || bias_floats >= (1ull << 32))
    throw Error(ErrorCode::Unsupported, "attention_vk: tensors past 2^32 elements are not supported");
  check_binding("qkv", qkv, B * N * 3 * D * oc.esize());
  check_binding("out", out, B * N * D * oc.esize());
  if (fused.size != 0) check_binding("fused", fused, B * 3 * N * N * 4);
  if (has_bias) check_binding("bias", bias, bias_floats * 4);  // fp32 in both storage precisions

  const auto& dev = oc.device();
  const uint32_t hd = static_cast<uint32_t>(s.head_dim);
  const float scale = 1.0f / std::sqrt(static_cast<float>(s.head_dim));
  struct {
    uint32_t tokens, heads;
    float scale;
    uint32_t groups;  // read by the bias variants only, which declare it (the others take 12 bytes)
  } push{uint32_t(N), uint32_t(s.heads), scale, uint32_t(s.bias_groups)};
  // Without a bias: the plain kernels, two bindings, today's push block. With one: the VITVK_BIAS variants.
  const uint32_t push_bytes = has_bias ? sizeof push : offsetof(decltype(push), groups);
  const uint32_t nbind = has_bias ? 3 : 2;
  auto name = [&](const char* plain, const char* biased) { return oc.shader(has_bias ? biased : plain); };
  // Binds qkv, the output (out or the maps) and the bias where there is one.
  auto dispatch = [&](const gpu::Kernel& k, const gpu::Slice& o, const void* pc, uint32_t pc_bytes, uint32_t gx,
                      uint32_t gy, uint32_t gz, const char* label) {
    if (has_bias)
      oc.rec.dispatch(k, {qkv, o, bias}, pc, pc_bytes, gx, gy, gz, label);
    else
      oc.rec.dispatch(k, {qkv, o}, pc, pc_bytes, gx, gy, gz, label);
  };

  const uint32_t tile = tiled_keys(dev, s.head_dim);
  // The rows form broadcasts 8 values per load across the subgroup and keeps a head in registers (<= 128).
  const RowsSubgroup sg = rows_subgroup(oc);
  const bool rows_ok = sg.size >= 8 && s.head_dim <= 128;
  if (kernel == AttentionKernel::Auto)
    kernel = dev.is_cpu() || dev.is_lavapipe() ? AttentionKernel::Rows : AttentionKernel::Tiled;
  if (kernel == AttentionKernel::Rows && !rows_ok) kernel = AttentionKernel::Tiled;
  if (kernel == AttentionKernel::Tiled && tile == 0) {
    if (!rows_ok)
      throw Error(ErrorCode::Unsupported, "attention_vk: head_dim " + std::to_string(s.head_dim) +
                                              " fits neither kernel form on this device");
    kernel = AttentionKernel::Rows;
  }

  if (kernel == AttentionKernel::Rows) {
    const uint32_t wg = rows_workgroup(oc, sg);
    const auto& k = oc.kernels.get(name("attention", "attention.bias"), nbind, push_bytes, std::array{wg, hd}, {},
                                   sg.requested ? sg.size : 0);
    dispatch(k, out, &push, push_bytes, gpu::groups(N, wg * kRowsPerLane), s.heads, s.batch, "attention");
  } else {
    const uint32_t wg = 64;
    const auto& k =
        oc.kernels.get(name("attention_tiled", "attention_tiled.bias"), nbind, push_bytes, std::array{wg, hd, tile});
    dispatch(k, out, &push, push_bytes, gpu::groups(N, wg), s.heads, s.batch, "attention");
  }

  if (fused.size != 0) {
    if (kernel == AttentionKernel::Rows) {
      const uint32_t wg = rows_workgroup(oc, sg);
      const auto& k = oc.kernels.get(name("attention_explain_rows", "attention_explain_rows.bias"), nbind,
                                     push_bytes, std::array{wg, hd}, {}, sg.requested ? sg.size : 0);
      dispatch(k, fused, &push, push_bytes, gpu::groups(N, wg * kRowsPerLane), s.batch, 1, "attention_explain");
    } else {
      if (N > 65535) throw Error(ErrorCode::Unsupported, "attention_vk: explain mode is limited to 65535 tokens");
      struct {
        uint32_t tokens, heads, head_dim;
        float scale;
        uint32_t groups;  // bias variant only
      } ep{uint32_t(N), uint32_t(s.heads), hd, scale, uint32_t(s.bias_groups)};
      const uint32_t ep_bytes = has_bias ? sizeof ep : offsetof(decltype(ep), groups);
      const uint32_t wg = oc.subgroup();
      const auto& k = oc.kernels.get(oc.reduce_shader(has_bias ? "attention_explain.bias" : "attention_explain"),
                                     nbind, ep_bytes, std::array{wg});
      dispatch(k, fused, &ep, ep_bytes, uint32_t(N), s.batch, 1, "attention_explain");
    }
  }
}

}  // namespace vitvk::ops
