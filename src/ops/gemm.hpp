#pragma once
// Linear layer y = x W^T + b (W stored [N, K] as in PyTorch) with fused epilogues.
// CPU reference here; the Vulkan dispatch lives beside it in gemm.vk.cpp, the shader in shaders/gemm.comp.

namespace vitvk::ops {

enum class Epilogue {
  None,      // y = x W^T + b
  Gelu,      // y = gelu(x W^T + b), exact erf form
  Residual,  // y += x W^T + b (y holds the residual stream on entry)
};

float gelu(float x);

// x: [M, K] row-major, w: [N, K], b: [N] or nullptr, y: [M, N].
void linear_cpu(const float* x, int M, int K, const float* w, const float* b, int N, float* y, Epilogue ep);

}  // namespace vitvk::ops

#include <cstdint>
#include <span>
#include <vector>

#include "vk/op_context.hpp"

namespace vitvk::ops {

// --- Vulkan (gemm.vk.cpp, shaders/gemm*.comp) ---
// Kernel families (shaders/gemm.glsl):
//  Regs  - register-blocked, no shared memory, barriers or subgroup operations: each invocation accumulates a
//          block of outputs from its own loads. For CPU drivers (lavapipe), where those cost more than they save.
//  Texel - the register-blocked kernel reading x and W through uniform texel buffers: on lavapipe a texel fetch
//          is a branchless gather where a storage-buffer load is a per-lane loop with bounds checks. Same packing
//          as Regs; a dispatch whose x or W slice cannot be a texel view (gpu::texel_bindable) runs Regs instead.
//  Tiled - 64x64 shared-memory tiles, 256 invocations per workgroup: for GPUs.
// Auto picks by driver and device type (CPU drivers: Texel where the device has the texel formats, else Regs);
// the environment variable VITVK_GEMM_VARIANT=regs|texel|tiled overrides it.
enum class GemmVariant { Auto, Regs, Texel, Tiled };

// A resolved kernel choice: the weight packing and the dispatch both follow it, so pack and run with the same one.
struct GemmConfig {
  GemmVariant variant = GemmVariant::Regs;  // never Auto
  // Regs and Texel: a workgroup of `invocations` computes a rows x (invocations * cols) tile, each invocation a
  // rows x cols block (its columns strided by `invocations`).
  uint32_t invocations = 8, rows = 8, cols = 8;
  uint32_t tile_rows() const;
  uint32_t tile_cols() const;  // also the packed W panel width
};
// Throws Error(InvalidArgument) for a bad VITVK_GEMM_VARIANT value.
GemmConfig gemm_config(const gpu::DeviceInfo& dev, GemmVariant requested = GemmVariant::Auto);

// Weights are packed once, at upload, into whatever layout this device's kernel variant reads best
// (the identity [N, K] layout is allowed). Packed element count, then the packing itself (fp32 values;
// the caller converts to the storage precision).
std::size_t linear_vk_packed_count(const gpu::DeviceInfo& dev, int N, int K);
std::vector<float> linear_vk_pack(const gpu::DeviceInfo& dev, std::span<const float> w, int N, int K);
std::size_t linear_vk_packed_count(const GemmConfig& cfg, int N, int K);
std::vector<float> linear_vk_pack(const GemmConfig& cfg, std::span<const float> w, int N, int K);

// int8 weights (weight-only quantization): W[n, k] = scale[n] * q[n, k], q in [-127, 127], one fp32 scale per
// output channel (ops::quantize_per_row's form), or with `group` > 0 (a multiple of 8) one per output channel
// and group of `group` k: W[n, k] = scale[n, k / group] * q[n, k], scale [N][ceil(K / group)] row-major. Packed
// in the same panels as above, one byte per element, four to a 32-bit word, then the scales as fp32: a quarter of
// the fp32 packing's bytes plus 4 per scale, and the same whatever the storage precision of x and y. Words, then
// the packing itself; Error(InvalidArgument) when q or scale do not hold N*K values and a scale per channel (and
// group), when the group is not a multiple of 8, or when q holds -128.
std::size_t linear_vk_int8_packed_words(const GemmConfig& cfg, int N, int K, int group = 0);
std::vector<uint32_t> linear_vk_pack_int8(const GemmConfig& cfg, std::span<const int8_t> q,
                                          std::span<const float> scale, int N, int K, int group = 0);

// y[m * y_stride + n] (=, gelu(), or +=) sum_k x[m * x_stride + k] * W[n, k] + bias[n], in fp32 accumulation.
// bias.size == 0 means no bias. Residual: y holds the residual stream on entry (read-modify-write).
// Throws Error(InvalidArgument) when a slice is too small for the shape.
void linear_vk(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_packed,
               const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep);
void linear_vk(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_packed,
               const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep,
               const GemmConfig& cfg);
// The same with W packed by linear_vk_pack_int8 with the same `group` (x, bias and y in the storage precision):
// the int8 weights are converted to fp32 in the shader, the fp32 sum scaled per column before bias and epilogue
// (with groups: each 8-k group of weights scaled as it is read). Every variant runs it; Texel falls back to Regs
// where a slice cannot be a texel view, as above.
void linear_vk_int8(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_int8,
                    const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep, int group = 0);
void linear_vk_int8(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_int8,
                    const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep,
                    const GemmConfig& cfg, int group = 0);

namespace detail {
// The push block of shaders/gemm.glsl, shared by linear and patch embedding.
struct GemmPush {
  uint32_t M = 0, N = 0, K = 0, k8s = 0, ep = 0, has_bias = 0, x_stride = 0, y_stride = 0;
  uint32_t channels = 0, height = 0, width = 0, grid_w = 0, patches = 0, tokens_per_image = 0, first_token = 0;
  uint32_t x_off = 0, w_off = 0;  // texel variant: offsets of x and W in their buffers (set by gemm_dispatch)
  uint32_t scale_off = 0;         // int8: word index of the scales in W's slice (set by gemm_dispatch)
  uint32_t scale_g8 = 0, scale_groups = 1;  // int8: 8-k groups per scale (0: per column), scales per column
};
// Records one GEMM dispatch of `shader` ("gemm" or "patch_embed"); x_wide: x may be read 8 aligned elements
// at a time (shaders/gemm.glsl, X_WIDE); patch: patch_embed's patch size (a specialization constant); int8: W
// packed by linear_vk_pack_int8 (the ".int8" shader variants).
void gemm_dispatch(gpu::OpContext& oc, const char* shader, const GemmConfig& cfg, GemmPush push, bool x_wide,
                   uint32_t patch,
                   const gpu::Slice& x, const gpu::Slice& w_packed, const gpu::Slice& bias, const gpu::Slice& y,
                   const char* label, bool int8 = false);
// Bytes the packed W of an N x K layer takes in its slice (fp32/fp16: in the storage precision; int8: with its
// scales, per channel or per channel and `group` of k).
uint64_t packed_weight_bytes(const GemmConfig& cfg, int N, int K, bool int8, uint64_t esize, int group = 0);
}  // namespace detail

}  // namespace vitvk::ops
