#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
#include <string>

#include "ops/gemm.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

namespace {

constexpr uint32_t kTiledTile = 64;  // BM = BN of the tiled kernel (shaders/gemm.glsl)
static_assert(static_cast<int>(Epilogue::Gelu) == 1 && static_cast<int>(Epilogue::Residual) == 2,
              "shaders/gemm.glsl numbers the epilogues so");

GemmVariant variant_from_env() {
  const char* v = std::getenv("VITVK_GEMM_VARIANT");
  if (!v || !*v || std::string(v) == "auto") return GemmVariant::Auto;
  if (std::string(v) == "regs") return GemmVariant::Regs;
  if (std::string(v) == "texel") return GemmVariant::Texel;
  if (std::string(v) == "tiled") return GemmVariant::Tiled;
  throw Error(ErrorCode::InvalidArgument,
              std::string("VITVK_GEMM_VARIANT='") + v + "': expected 'regs', 'texel', 'tiled' or 'auto'");
}

// The texel variant's view format of x and W (shaders/gemm.glsl): 4 floats, or 8 packed halves, per texel.
gpu::TexelFormat texel_format(bool fp16) { return fp16 ? gpu::TexelFormat::Rgba32u : gpu::TexelFormat::Rgba32f; }

bool has_texel_formats(const gpu::DeviceInfo& dev) {
  auto has = [&](gpu::TexelFormat f) { return (dev.uniform_texel_formats >> static_cast<int>(f) & 1u) != 0; };
  return has(texel_format(false)) && (!dev.fp16_storage || has(texel_format(true)));
}

uint32_t ceil_div(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }
// Scales per output column of an int8 layer: one, or one per `group` of k.
std::size_t int8_scale_groups(int K, int group) { return group > 0 && K > 0 ? ceil_div(K, group) : 1; }

void require_fits(const gpu::Slice& s, uint64_t elements, uint64_t esize, const char* what) {
  if (s.buffer == nullptr || s.size < elements * esize)
    throw Error(ErrorCode::InvalidArgument, std::string("linear_vk: the ") + what + " slice holds " +
                                                std::to_string(s.size) + " bytes, the shape needs " +
                                                std::to_string(elements * esize));
}

}  // namespace

uint32_t GemmConfig::tile_rows() const { return variant == GemmVariant::Tiled ? kTiledTile : rows; }
uint32_t GemmConfig::tile_cols() const { return variant == GemmVariant::Tiled ? kTiledTile : invocations * cols; }

GemmConfig gemm_config(const gpu::DeviceInfo& dev, GemmVariant requested) {
  GemmVariant v = requested == GemmVariant::Auto ? variant_from_env() : requested;
  // CPU drivers run a workgroup's invocations as SIMD lanes of one thread: shared memory and barriers cost
  // more than they save there. Every other device type gets the shared-memory tiles.
  if (v == GemmVariant::Auto)
    v = !(dev.is_lavapipe() || dev.is_cpu()) ? GemmVariant::Tiled
        : has_texel_formats(dev)             ? GemmVariant::Texel
                                             : GemmVariant::Regs;
  GemmConfig cfg;
  cfg.variant = v;
  // One SIMD vector of invocations per workgroup on CPU drivers (lavapipe: the subgroup size).
  cfg.invocations = std::clamp<uint32_t>(dev.subgroup_size, 4, 64);
  // Texel: x and W loads are cheap gathers, so a bigger block (more FMAs per load) pays; 12x12 measured ~20% faster
  // than 8x8 on lavapipe (bigger blocks: a few % more at a steeply growing shader compile time).
  if (v == GemmVariant::Texel) cfg.rows = cfg.cols = 12;
  return cfg;
}

std::size_t linear_vk_packed_count(const GemmConfig& cfg, int N, int K) {
  const std::size_t panel = cfg.tile_cols();
  return std::size_t(ceil_div(N, panel)) * panel * ceil_div(K, 8) * 8;
}

std::vector<float> linear_vk_pack(const GemmConfig& cfg, std::span<const float> w, int N, int K) {
  if (N <= 0 || K <= 0 || w.size() != std::size_t(N) * K)
    throw Error(ErrorCode::InvalidArgument, "linear_vk_pack: weight holds " + std::to_string(w.size()) +
                                                " values, expected N*K = " + std::to_string(N) + "*" +
                                                std::to_string(K));
  // Panels of `panel` output columns; within a panel, 8 consecutive k of one column are one group, and the
  // groups of one k step lie side by side for all columns of the panel (see shaders/gemm.glsl).
  const std::size_t panel = cfg.tile_cols(), k8s = ceil_div(K, 8);
  std::vector<float> out(linear_vk_packed_count(cfg, N, K), 0.f);
  for (std::size_t n = 0; n < std::size_t(N); ++n)
    for (std::size_t k = 0; k < std::size_t(K); ++k)
      out[(((n / panel) * k8s + k / 8) * panel + n % panel) * 8 + k % 8] = w[n * K + k];
  return out;
}

std::size_t linear_vk_int8_packed_words(const GemmConfig& cfg, int N, int K, int group) {
  // bytes (a multiple of 8), scales
  return linear_vk_packed_count(cfg, N, K) / 4 + std::size_t(std::max(N, 0)) * int8_scale_groups(K, group);
}

std::vector<uint32_t> linear_vk_pack_int8(const GemmConfig& cfg, std::span<const int8_t> q,
                                          std::span<const float> scale, int N, int K, int group) {
  if (group < 0 || group % 8 != 0)
    throw Error(ErrorCode::InvalidArgument, "linear_vk_pack_int8: scale group " + std::to_string(group) +
                                                " is not 0 or a multiple of 8 (the shader reads k 8 at a time)");
  const std::size_t groups = int8_scale_groups(K, group);
  if (N <= 0 || K <= 0 || q.size() != std::size_t(N) * K || scale.size() != std::size_t(N) * groups)
    throw Error(ErrorCode::InvalidArgument, "linear_vk_pack_int8: " + std::to_string(q.size()) + " weights and " +
                                                std::to_string(scale.size()) + " scales, expected N*K = " +
                                                std::to_string(N) + "*" + std::to_string(K) + " and N*" +
                                                std::to_string(groups));
  if (std::find(q.begin(), q.end(), int8_t{-128}) != q.end())
    throw Error(ErrorCode::InvalidArgument, "linear_vk_pack_int8: a weight is -128 (int8 weights lie in [-127, 127])");
  // Byte e of the packing is element e of linear_vk_pack's layout; byte j of a word sits at bits 8j.
  const std::size_t panel = cfg.tile_cols(), k8s = ceil_div(K, 8), bytes = linear_vk_packed_count(cfg, N, K);
  std::vector<uint32_t> out(linear_vk_int8_packed_words(cfg, N, K, group), 0u);
  for (std::size_t n = 0; n < std::size_t(N); ++n)
    for (std::size_t k = 0; k < std::size_t(K); ++k) {
      const std::size_t e = (((n / panel) * k8s + k / 8) * panel + n % panel) * 8 + k % 8;
      out[e / 4] |= uint32_t(uint8_t(q[n * K + k])) << (8 * (e % 4));
    }
  for (std::size_t i = 0; i < scale.size(); ++i) out[bytes / 4 + i] = std::bit_cast<uint32_t>(scale[i]);
  return out;
}

std::size_t linear_vk_packed_count(const gpu::DeviceInfo& dev, int N, int K) {
  return linear_vk_packed_count(gemm_config(dev), N, K);
}
std::vector<float> linear_vk_pack(const gpu::DeviceInfo& dev, std::span<const float> w, int N, int K) {
  return linear_vk_pack(gemm_config(dev), w, N, K);
}

namespace detail {

uint64_t packed_weight_bytes(const GemmConfig& cfg, int N, int K, bool int8, uint64_t esize, int group) {
  return int8 ? uint64_t(linear_vk_int8_packed_words(cfg, N, K, group)) * 4
              : uint64_t(linear_vk_packed_count(cfg, N, K)) * esize;
}

void gemm_dispatch(gpu::OpContext& oc, const char* shader, const GemmConfig& cfg, GemmPush push, bool x_wide,
                   uint32_t patch, const gpu::Slice& x, const gpu::Slice& w_packed, const gpu::Slice& bias,
                   const gpu::Slice& y, const char* label, bool int8) {
  push.k8s = ceil_div(push.K, 8);
  push.has_bias = bias.size != 0;
  // int8: the scales follow the packed bytes (linear_vk_pack_int8).
  push.scale_off = int8 ? static_cast<uint32_t>(linear_vk_packed_count(cfg, push.N, push.K) / 4) : 0;
  const bool tiled = cfg.variant == GemmVariant::Tiled;
  // Texel: x and W through texel views of their whole buffers, the slices' offsets passed as element offsets
  // (lavapipe compiles a shader variant per distinct view-size pattern it sees, so one view per buffer keeps it to
  // one variant). Where a buffer cannot be viewed, the storage-buffer form of the same blocking runs (same packing).
  // int8 W: RGBA32UI texels, its offset in words and a whole texel (so that a group's two words share a texel).
  const gpu::TexelFormat tf = texel_format(oc.fp16), wtf = int8 ? gpu::TexelFormat::Rgba32u : tf;
  const uint64_t es = oc.esize(), wes = int8 ? 4 : es;  // W: bytes per shader index (element, or int8 word)
  const gpu::Slice xv = x.buffer ? gpu::whole(*x.buffer) : x, wv = w_packed.buffer ? gpu::whole(*w_packed.buffer) : w_packed;
  const bool texel = cfg.variant == GemmVariant::Texel && x.offset % es == 0 &&
                     w_packed.offset % (int8 ? 16 : 8 * es) == 0 &&
                     xv.size / es < (1ull << 32) && wv.size / wes < (1ull << 32) &&  // shader indices are 32-bit
                     gpu::texel_bindable(oc.device(), xv, tf) && gpu::texel_bindable(oc.device(), wv, wtf);
  push.x_off = texel ? static_cast<uint32_t>(x.offset / es) : 0;
  push.w_off = texel ? static_cast<uint32_t>(w_packed.offset / wes) : 0;
  const std::string name = oc.shader(
      (std::string(shader) + (tiled ? ".tiled" : texel ? ".texel" : "") + (int8 ? ".int8" : "")).c_str());
  // Spec constants (shaders/gemm.glsl, patch_embed.comp): workgroup size, X_WIDE, RB, CB, PATCH.
  const std::array<uint32_t, 5> spec{tiled ? 256u : cfg.invocations, x_wide ? 1u : 0u, cfg.rows, cfg.cols, patch};
  const std::array<gpu::Binding, 4> kinds{gpu::Binding::uniform_texel(tf), gpu::Binding::uniform_texel(wtf),
                                          gpu::Binding::storage(), gpu::Binding::storage()};
  const auto& k = oc.kernels.get(name, 4, sizeof push, spec, texel ? std::span<const gpu::Binding>(kinds)
                                                                   : std::span<const gpu::Binding>());
  const uint64_t groups = uint64_t(ceil_div(push.M, cfg.tile_rows())) * ceil_div(push.N, cfg.tile_cols());
  const uint32_t gx = static_cast<uint32_t>(std::min<uint64_t>(groups, 65535)), gy = ceil_div(groups, gx);
  // Without a bias, binding 2 still needs a valid buffer; the shader does not read it.
  oc.rec.dispatch(k, {texel ? xv : x, texel ? wv : w_packed, bias.size ? bias : w_packed, y}, push, gx, gy, 1, label);
}

}  // namespace detail

namespace {

void linear_impl(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_packed,
                 const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep,
                 const GemmConfig& cfg, bool int8, int group) {
  if (group < 0 || group % 8 != 0)
    throw Error(ErrorCode::InvalidArgument, "linear_vk_int8: scale group " + std::to_string(group) +
                                                " is not 0 or a multiple of 8");
  if (M < 0 || N < 0 || K <= 0 || x_stride < K || y_stride < N)
    throw Error(ErrorCode::InvalidArgument, "linear_vk: bad shape M=" + std::to_string(M) + " N=" +
                                                std::to_string(N) + " K=" + std::to_string(K) + " x_stride=" +
                                                std::to_string(x_stride) + " y_stride=" + std::to_string(y_stride));
  if (M == 0 || N == 0) return;
  const uint64_t es = oc.esize();
  const uint64_t x_count = uint64_t(M - 1) * x_stride + K;
  require_fits(x, x_count, es, "x");
  require_fits(y, uint64_t(M - 1) * y_stride + N, es, "y");
  require_fits(w_packed, detail::packed_weight_bytes(cfg, N, K, int8, es, group), 1, "packed weight");
  if (bias.size) require_fits(bias, N, es, "bias");

  // Wide reads of x take 8 elements at a time from an element index that is a multiple of 8 (whole 8-groups
  // of k only, so they stay inside each row).
  const bool x_wide = x_stride % 8 == 0 && x.offset % (8 * es) == 0;

  detail::GemmPush push;
  push.M = M;
  push.N = N;
  push.K = K;
  push.ep = static_cast<uint32_t>(ep);
  push.x_stride = x_stride;
  push.y_stride = y_stride;
  push.scale_g8 = static_cast<uint32_t>(group / 8);
  push.scale_groups = static_cast<uint32_t>(int8_scale_groups(K, group));
  detail::gemm_dispatch(oc, "gemm", cfg, push, x_wide, 1, x, w_packed, bias, y, int8 ? "linear_int8" : "linear",
                        int8);
}

}  // namespace

void linear_vk(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_packed,
               const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep,
               const GemmConfig& cfg) {
  linear_impl(oc, x, M, K, x_stride, w_packed, bias, N, y, y_stride, ep, cfg, false, 0);
}

void linear_vk(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_packed,
               const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep) {
  linear_vk(oc, x, M, K, x_stride, w_packed, bias, N, y, y_stride, ep, gemm_config(oc.device()));
}

void linear_vk_int8(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_int8,
                    const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep,
                    const GemmConfig& cfg, int group) {
  linear_impl(oc, x, M, K, x_stride, w_int8, bias, N, y, y_stride, ep, cfg, true, group);
}

void linear_vk_int8(gpu::OpContext& oc, const gpu::Slice& x, int M, int K, int x_stride, const gpu::Slice& w_int8,
                    const gpu::Slice& bias, int N, const gpu::Slice& y, int y_stride, Epilogue ep, int group) {
  linear_vk_int8(oc, x, M, K, x_stride, w_int8, bias, N, y, y_stride, ep, gemm_config(oc.device()), group);
}

}  // namespace vitvk::ops
