// Vulkan dispatch of GFNet's global filter: VkFFT (appended into the Recorder's command buffer) or dense DFT
// matrices (shaders/spectral_filter_dft.comp). The only translation unit that includes VkFFT.
#define VKFFT_BACKEND 0
#include <vkFFT.h>  // the build's patched copy of Debian's header (tools/cmake/patch_vkfft.cmake)

#include <cmath>
#include <numbers>

#include "ops/spectral_filter.hpp"
#include "vitvk/error.hpp"
#include "vk/context_impl.hpp"
#include "vk/transfer.hpp"

namespace vitvk::ops {

SpectralImpl parse_spectral_impl(const std::string& s) {
  if (s == "auto") return SpectralImpl::Auto;
  if (s == "fft") return SpectralImpl::Fft;
  if (s == "dft") return SpectralImpl::Dft;
  throw Error(ErrorCode::InvalidArgument, "unknown filter implementation '" + s + "' (auto, fft, dft)");
}

const char* to_string(SpectralImpl impl) {
  switch (impl) {
    case SpectralImpl::Fft: return "fft";
    case SpectralImpl::Dft: return "dft";
    default: return "auto";
  }
}

std::vector<float> spectral_filter_vk_pack(std::span<const float> weight, int h, int w, int channels) {
  const int K = w / 2 + 1, C = channels;
  if (weight.size() != std::size_t(h) * K * C * 2)
    throw Error(ErrorCode::InvalidArgument, "spectral_filter_vk_pack: weight size does not match the grid");
  const double scale = 1.0 / (double(h) * w);
  std::vector<float> out(weight.size());
  auto at = [&](int ky, int k, int c) { return ((std::size_t(ky) * K + k) * C + c) * 2; };
  for (int ky = 0; ky < h; ++ky)
    for (int k = 0; k < K; ++k) {
      // Columns whose frequency along w is its own mirror (0, and w/2 for even w): keep the part that is
      // Hermitian along h, (W[ky] + conj W[-ky]) / 2. The spectrum of real input is Hermitian there, so the
      // product's anti-Hermitian part only ever reaches the imaginary parts irfft discards.
      const bool self_mirror = k == 0 || (w % 2 == 0 && k == w / 2);
      const int my = (h - ky) % h;
      for (int c = 0; c < C; ++c) {
        double re = weight[at(ky, k, c)], im = weight[at(ky, k, c) + 1];
        if (self_mirror) {
          re = 0.5 * (re + weight[at(my, k, c)]);
          im = 0.5 * (im - weight[at(my, k, c) + 1]);
        }
        out[at(ky, k, c)] = static_cast<float>(re * scale);
        out[at(ky, k, c) + 1] = static_cast<float>(im * scale);
      }
    }
  return out;
}

namespace {

void check_shape(const SpectralShape& s) {
  if (s.batch < 1 || s.h < 1 || s.w < 1 || s.channels < 1)
    throw Error(ErrorCode::InvalidArgument, "spectral_filter: empty shape");
}

// FFT path scratch: one plane per (image, channel) of h rows of 2*(w/2+1) floats (in-place R2C padding).
uint64_t fft_scratch_bytes(const SpectralShape& s) {
  return uint64_t(s.batch) * s.channels * s.h * 2 * s.wh() * 4;
}
// DFT path scratch: two [B, h, 2, w/2+1, C] fp32 half spectra (ping-pong between passes), the second at an
// offset every device accepts for a binding.
uint64_t dft_half_bytes(const SpectralShape& s) {
  return (uint64_t(s.batch) * s.h * 2 * s.wh() * s.channels * 4 + 255) / 256 * 256;
}

const char* vkfft_error(VkFFTResult r) {
  switch (r) {
    case VKFFT_ERROR_MALLOC_FAILED: return "out of host memory";
    case VKFFT_ERROR_FAILED_TO_COMPILE_PROGRAM: return "generated shader failed to compile";
    case VKFFT_ERROR_FAILED_SHADER_PREPROCESS: return "generated shader failed to preprocess";
    case VKFFT_ERROR_FAILED_SHADER_PARSE: return "generated shader failed to parse";
    case VKFFT_ERROR_FAILED_SHADER_LINK: return "generated shader failed to link";
    case VKFFT_ERROR_FAILED_SPIRV_GENERATE: return "SPIR-V generation failed";
    case VKFFT_ERROR_FAILED_TO_ALLOCATE_MEMORY: return "device memory allocation failed";
    case VKFFT_ERROR_FAILED_TO_CREATE_PIPELINE: return "pipeline creation failed";
    default: return "error";
  }
}

}  // namespace

struct SpectralFilterVk::Vk {
  vk::raii::CommandPool pool{nullptr};
  vk::raii::Fence fence{nullptr};
  // VkFFT keeps pointers to these handles: they live here, at stable addresses.
  VkPhysicalDevice physical = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  VkCommandPool pool_raw = VK_NULL_HANDLE;
  VkFence fence_raw = VK_NULL_HANDLE;
};

struct SpectralFilterVk::FftPlan {
  VkFFTApplication app{};
  // The work-space buffer is given at launch, not at plan time: VkFFT 1.2.26 writes descriptor sets at plan time
  // before it allocates its Bluestein buffers (sizes with a prime factor > 13), leaving those bindings null.
  // VkFFT rewrites every descriptor set (both directions) when a launch passes a buffer array at a new address,
  // so the first launch of each recording passes the other of two slots: descriptors always name the buffer in
  // use (buffers may be destroyed and their handles reused between recordings), and are never rewritten while
  // the recording that bound them is still open.
  VkBuffer slots[2] = {VK_NULL_HANDLE, VK_NULL_HANDLE};
  int slot = 0;
  uint64_t generation = ~0ull;  // the Recorder generation of the last launch
  uint64_t buffer_bytes = 0;    // bound range: VkFFT binds from the buffer's start and adds the offset itself
  ~FftPlan() { deleteVkFFT(&app); }
};

struct SpectralFilterVk::DftMatrices {
  gpu::Buffer buffer;
  gpu::Slice r2c, fwd, inv, c2r;  // [2K][W], [2H][2H], [2H][2H], [W][2K] row-major
};

SpectralFilterVk::SpectralFilterVk(gpu::Context& ctx) : ctx_(ctx), vk_(std::make_unique<Vk>()) {
  auto& c = ctx.impl();
  try {
    vk_->pool = vk::raii::CommandPool(c.device, vk::CommandPoolCreateInfo{
                                                    .flags = vk::CommandPoolCreateFlagBits::eResetCommandBuffer,
                                                    .queueFamilyIndex = c.queue_family});
    vk_->fence = vk::raii::Fence(c.device, vk::FenceCreateInfo{});
  } catch (const vk::SystemError& e) {
    throw Error(ErrorCode::Vulkan, std::string("creating the FFT command pool: ") + e.what());
  }
  vk_->physical = static_cast<VkPhysicalDevice>(*c.physical);
  vk_->device = static_cast<VkDevice>(*c.device);
  vk_->queue = static_cast<VkQueue>(*c.queue);
  vk_->pool_raw = static_cast<VkCommandPool>(*vk_->pool);
  vk_->fence_raw = static_cast<VkFence>(*vk_->fence);
}

SpectralFilterVk::~SpectralFilterVk() {
  plans_.clear();  // VkFFT objects before the pool and fence they were built with
}

uint64_t SpectralFilterVk::scratch_bytes(SpectralImpl impl, const SpectralShape& s) {
  switch (impl) {
    case SpectralImpl::Fft: return fft_scratch_bytes(s);
    case SpectralImpl::Dft: return 2 * dft_half_bytes(s);
    default: return std::max(fft_scratch_bytes(s), 2 * dft_half_bytes(s));
  }
}

SpectralImpl SpectralFilterVk::resolve(SpectralImpl impl, const SpectralShape& s) const {
  if (impl != SpectralImpl::Auto) return impl;
  // Crossover measured on lavapipe with `vitvk bench --filter-sweep` (256 channels, square grids): the dense
  // DFT passes win up to 20x20 tokens (3x at 7x7, ~1.1-1.5x at 14x14), VkFFT from 24x24 on (3-5x at 40x40 and
  // beyond). Both costs are linear in batch and channels, so the grid alone decides. Not measured on a GPU:
  // the same rule applies there until it is (--filter-impl overrides).
  return s.h * s.w < 24 * 24 ? SpectralImpl::Dft : SpectralImpl::Fft;
}

void SpectralFilterVk::prepare(SpectralImpl impl, const SpectralShape& s, const gpu::Slice& scratch) {
  check_shape(s);
  if (resolve(impl, s) == SpectralImpl::Fft)
    (void)fft_plan(s, scratch);
  else
    (void)dft_matrices(s.h, s.w);
}

void SpectralFilterVk::record(gpu::OpContext& oc, SpectralImpl impl, const gpu::Slice& x, const SpectralShape& s,
                              const gpu::Slice& weight, const gpu::Slice& scratch, const gpu::Slice& y) {
  check_shape(s);
  impl = resolve(impl, s);
  const uint64_t act = uint64_t(s.batch) * s.tokens() * s.channels * oc.esize();
  if (x.size < act || y.size < act || weight.size < s.filter_floats() * 4 || scratch.size < scratch_bytes(impl, s))
    throw Error(ErrorCode::Internal, "spectral_filter_vk: a binding is smaller than the shape needs");
  if (impl == SpectralImpl::Fft)
    record_fft(oc, x, s, weight, scratch, y);
  else
    record_dft(oc, x, s, weight, scratch, y);
}

// --- VkFFT ---------------------------------------------------------------------------------------------

SpectralFilterVk::FftPlan& SpectralFilterVk::fft_plan(const SpectralShape& s, const gpu::Slice& scratch) {
  // VkFFT binds the whole buffer and adds the offset inside its shaders: bind as much as the device allows.
  uint64_t bytes = scratch.buffer->size();
  if (bytes > ctx_.info().max_storage_buffer_range) bytes = scratch.offset + scratch.size;
  if (bytes > ctx_.info().max_storage_buffer_range)
    throw Error(ErrorCode::Unsupported, "spectral_filter: FFT work space lies beyond the device's storage buffer range");
  const auto key = std::make_tuple(s.batch * s.channels, s.h, s.w, bytes);
  if (auto it = plans_.find(key); it != plans_.end()) return *it->second;

  auto plan = std::make_unique<FftPlan>();
  plan->buffer_bytes = bytes;
  VkFFTConfiguration cfg{};
  cfg.FFTdim = 2;
  cfg.size[0] = uint64_t(s.w);  // axis 0 (contiguous, R2C) runs along w, axis 1 along h
  cfg.size[1] = uint64_t(s.h);
  cfg.numberBatches = uint64_t(s.batch) * s.channels;
  cfg.performR2C = 1;  // in place: rows padded to w/2+1 complex
  cfg.specifyOffsetsAtLaunch = 1;  // offsets as push constants: one plan serves any offset in this buffer
  // Twiddle factors from a table computed on the host in double precision, not from sin/cos in the shader:
  // SwiftShader's fast sin/cos left the 24x24 FFT 1.1e-3 and the 17-point Bluestein plan 7.4e-4 from the
  // CPU filter (lavapipe: under 2e-5 either way).
  cfg.useLUT = 1;
  cfg.physicalDevice = &vk_->physical;
  cfg.device = &vk_->device;
  cfg.queue = &vk_->queue;
  cfg.commandPool = &vk_->pool_raw;
  cfg.fence = &vk_->fence_raw;
  cfg.bufferSize = &plan->buffer_bytes;
  const VkFFTResult r = initializeVkFFT(&plan->app, cfg);
  if (r != VKFFT_SUCCESS)
    throw Error(ErrorCode::Vulkan, "VkFFT: building the " + std::to_string(s.h) + "x" + std::to_string(s.w) +
                                       " R2C plan failed: " + vkfft_error(r) + " (VkFFTResult " + std::to_string(int(r)) + ")");
  auto& slot = plans_[key];
  slot = std::move(plan);
  return *slot;
}

void SpectralFilterVk::record_fft(gpu::OpContext& oc, const gpu::Slice& x, const SpectralShape& s,
                                  const gpu::Slice& weight, const gpu::Slice& scratch, const gpu::Slice& y) {
  if (scratch.offset % 16) throw Error(ErrorCode::Internal, "spectral_filter: FFT work space offset not 16-byte aligned");
  FftPlan& plan = fft_plan(s, scratch);
  const gpu::Slice planes = scratch.sub(0, fft_scratch_bytes(s));
  struct {
    uint32_t batch, h, w, channels, row;
  } push{uint32_t(s.batch), uint32_t(s.h), uint32_t(s.w), uint32_t(s.channels), uint32_t(2 * s.wh())};
  const uint64_t spectrum = uint64_t(s.batch) * s.channels * s.h * s.wh();
  auto grid = [](uint64_t n, uint32_t& gx, uint32_t& gy) {
    const uint32_t total = gpu::groups(n, 64);
    gx = std::min<uint32_t>(total, 65535);
    gy = gpu::groups(total, gx);
  };
  uint32_t gx, gy;
  // Transpose in: VkFFT transforms a contiguous axis (R2C only along axis 0, no element stride in 1.2.26),
  // while our tokens keep channels innermost; this pass also widens fp16 storage to fp32.
  // One invocation per (token, 4 channels); 4-channel loads and stores where channels and offsets allow.
  const uint64_t token_groups = uint64_t(s.batch) * s.tokens() * ((s.channels + 3) / 4);
  const uint32_t x_vec4 = s.channels % 4 == 0 && x.offset % 16 == 0, y_vec4 = s.channels % 4 == 0 && y.offset % 16 == 0;
  grid(token_groups, gx, gy);
  oc.rec.dispatch(oc.kernels.get(oc.shader("spectral_filter_pack"), 2, sizeof push, std::array{x_vec4}), {x, planes},
                  push, gx, gy, 1, "spectral_filter.pack");

  const VkBuffer buffer = static_cast<VkBuffer>(gpu::raw_buffer(*scratch.buffer));
  if (plan.generation != oc.rec.generation()) {
    plan.slot ^= 1;
    plan.slots[plan.slot] = buffer;
    plan.generation = oc.rec.generation();
  } else if (plan.slots[plan.slot] != buffer) {
    throw Error(ErrorCode::Internal, "spectral_filter: within one recording, an FFT plan serves one work-space buffer");
  }
  VkFFTLaunchParams lp{};
  VkCommandBuffer cmd = oc.rec.raw_command_buffer();
  lp.commandBuffer = &cmd;
  lp.buffer = &plan.slots[plan.slot];
  lp.bufferOffset = scratch.offset;
  if (const VkFFTResult r = VkFFTAppend(&plan.app, -1, &lp); r != VKFFT_SUCCESS)
    throw Error(ErrorCode::Vulkan, "VkFFT: recording the forward transform failed (VkFFTResult " + std::to_string(int(r)) + ")");
  oc.rec.mark_pending("spectral_filter.rfft2");

  grid(spectrum, gx, gy);
  oc.rec.dispatch(oc.kernels.get("spectral_filter", 2, sizeof push), {planes, weight}, push, gx, gy, 1,
                  "spectral_filter.mul");

  cmd = oc.rec.raw_command_buffer();
  if (const VkFFTResult r = VkFFTAppend(&plan.app, 1, &lp); r != VKFFT_SUCCESS)
    throw Error(ErrorCode::Vulkan, "VkFFT: recording the inverse transform failed (VkFFTResult " + std::to_string(int(r)) + ")");
  oc.rec.mark_pending("spectral_filter.irfft2");

  grid(token_groups, gx, gy);
  oc.rec.dispatch(oc.kernels.get(oc.shader("spectral_filter_unpack"), 2, sizeof push, std::array{y_vec4}), {planes, y},
                  push, gx, gy, 1, "spectral_filter.unpack");
}

// --- Dense DFT -----------------------------------------------------------------------------------------

// Matrix parts are zero-padded: rows to a multiple of the pass's row block (8 for one output part, 4 for two,
// keeping 32 accumulators per invocation), columns to a multiple of 4 (the shader reads 4 at a time).
uint32_t pad_to(uint32_t n, uint32_t m) { return (n + m - 1) / m * m; }
constexpr uint32_t rows_for(uint32_t np_out) { return np_out == 1 ? 8 : 4; }

SpectralFilterVk::DftMatrices& SpectralFilterVk::dft_matrices(int H, int W) {
  if (auto it = dft_.find({H, W}); it != dft_.end()) return *it->second;
  const int K = W / 2 + 1;
  // Padded rows (per part) and columns (per part) of each matrix.
  const int KR = int(pad_to(K, rows_for(2))), HR = int(pad_to(H, rows_for(2))), WR = int(pad_to(W, rows_for(1)));
  const int WC = int(pad_to(W, 4)), HC = int(pad_to(H, 4)), KC = int(pad_to(K, 4));
  auto cs = [](long num, long n, double& c, double& s) {
    const double a = 2.0 * std::numbers::pi * double(num % n) / double(n);
    c = std::cos(a);
    s = std::sin(a);
  };
  double c, sn;
  // R2C along w: rows (re k | im k), columns x.
  std::vector<float> r2c(std::size_t(2 * KR) * WC, 0.f);
  for (int k = 0; k < K; ++k)
    for (int x = 0; x < W; ++x) {
      cs(long(k) * x, W, c, sn);
      r2c[std::size_t(k) * WC + x] = float(c);
      r2c[std::size_t(KR + k) * WC + x] = float(-sn);
    }
  // Complex DFT along h as a real matrix, rows (re | im), columns (re | im); sign -1 forward, +1 inverse.
  auto complex_dft = [&](double sign) {
    std::vector<float> m(std::size_t(2 * HR) * 2 * HC, 0.f);
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < H; ++j) {
        cs(long(i) * j, H, c, sn);
        sn *= sign;
        m[std::size_t(i) * 2 * HC + j] = float(c);               // re <- re
        m[std::size_t(i) * 2 * HC + HC + j] = float(-sn);        // re <- im
        m[std::size_t(HR + i) * 2 * HC + j] = float(sn);         // im <- re
        m[std::size_t(HR + i) * 2 * HC + HC + j] = float(c);     // im <- im
      }
    return m;
  };
  const auto fwd = complex_dft(-1.0), inv = complex_dft(1.0);
  // C2R along w: rows x, columns (re k | im k). Interior bins count twice (their mirror images); the zero and
  // Nyquist bins once, and their imaginary parts not at all (sin is 0 there), as irfft does.
  std::vector<float> c2r(std::size_t(WR) * 2 * KC, 0.f);
  for (int x = 0; x < W; ++x)
    for (int k = 0; k < K; ++k) {
      const bool self_mirror = k == 0 || (W % 2 == 0 && k == W / 2);
      cs(long(k) * x, W, c, sn);
      const double f = self_mirror ? 1.0 : 2.0;
      c2r[std::size_t(x) * 2 * KC + k] = float(f * c);
      c2r[std::size_t(x) * 2 * KC + KC + k] = self_mirror ? 0.f : float(-f * sn);
    }
  // One buffer, 256-byte aligned parts.
  auto padded = [](std::size_t n) { return (n * 4 + 255) / 256 * 256; };
  const uint64_t o1 = padded(r2c.size()), o2 = o1 + padded(fwd.size()), o3 = o2 + padded(inv.size());
  std::vector<uint8_t> host(o3 + padded(c2r.size()));
  std::memcpy(host.data(), r2c.data(), r2c.size() * 4);
  std::memcpy(host.data() + o1, fwd.data(), fwd.size() * 4);
  std::memcpy(host.data() + o2, inv.data(), inv.size() * 4);
  std::memcpy(host.data() + o3, c2r.data(), c2r.size() * 4);
  auto m = std::make_unique<DftMatrices>(DftMatrices{gpu::Buffer(ctx_, host.size(), gpu::MemoryUse::Device), {}, {}, {}, {}});
  gpu::upload(ctx_, gpu::whole(m->buffer), host.data(), host.size());
  m->r2c = {&m->buffer, 0, r2c.size() * 4};
  m->fwd = {&m->buffer, o1, fwd.size() * 4};
  m->inv = {&m->buffer, o2, inv.size() * 4};
  m->c2r = {&m->buffer, o3, c2r.size() * 4};
  auto& slot = dft_[{H, W}];
  slot = std::move(m);
  return *slot;
}

void SpectralFilterVk::record_dft(gpu::OpContext& oc, const gpu::Slice& x, const SpectralShape& s,
                                  const gpu::Slice& weight, const gpu::Slice& scratch, const gpu::Slice& y) {
  const DftMatrices& m = dft_matrices(s.h, s.w);
  const uint32_t H = s.h, W = s.w, K = s.wh(), C = s.channels, B = s.batch;
  if (uint64_t(B) * H > 65535) throw Error(ErrorCode::Unsupported, "spectral_filter: batch x grid rows exceed 65535");
  const gpu::Slice t1 = scratch.sub(0, dft_half_bytes(s)), t2 = scratch.sub(dft_half_bytes(s), dft_half_bytes(s));
  // See shaders/spectral_filter_dft.comp for the indexing.
  struct Push {
    uint32_t O, L, Iy, Iy_pad, Jy, Jy_pad, si_o, si_j, si_p, so_o, so_i, so_p;
  };
  enum : uint32_t { kInStore = 1, kOutStore = 2, kFilter = 4 };
  // 4-element loads and stores: every index the shader forms is then a multiple of 4 (all strides are
  // multiples of C), and the bound slices start on 16 bytes.
  const uint32_t vec4 = C % 4 == 0 && x.offset % 16 == 0 && y.offset % 16 == 0 && scratch.offset % 16 == 0;
  auto pass = [&](uint32_t np_in, uint32_t np_out, uint32_t flags, Push p, const gpu::Slice& in,
                  const gpu::Slice& mat, const gpu::Slice& out, const char* label) {
    const uint32_t rows = rows_for(np_out);
    p.Iy_pad = pad_to(p.Iy, rows);
    p.Jy_pad = pad_to(p.Jy, 4);
    const auto& k = oc.kernels.get(oc.shader("spectral_filter_dft"), 4, sizeof(Push),
                                   std::array{rows, np_in, np_out, flags, vec4});
    oc.rec.dispatch(k, {in, mat, weight, out}, p, gpu::groups(p.L, 4 * 64), p.Iy_pad / rows, p.O, label);
  };
  const uint32_t half = 2 * K * C;  // one row of the half spectrum: (re | im) x K x C
  // 1. R2C along w, per (image, row): [W][C] -> [2][K][C]
  pass(1, 2, kInStore, {B * H, C, K, 0, W, 0, W * C, C, 0, half, C, K * C}, x, m.r2c, t1, "spectral_filter.dft_w");
  // 2. DFT along h per image over the contiguous (k, c) block, times the filter
  const Push along_h{B, K * C, H, 0, H, 0, H * half, half, K * C, H * half, half, K * C};
  pass(2, 2, kFilter, along_h, t1, m.fwd, t2, "spectral_filter.dft_h");
  // 3. inverse DFT along h
  pass(2, 2, 0, along_h, t2, m.inv, t1, "spectral_filter.idft_h");
  // 4. C2R along w: [2][K][C] -> [W][C]
  pass(2, 1, kOutStore, {B * H, C, W, 0, K, 0, half, C, K * C, W * C, C, 0}, t1, m.c2r, y, "spectral_filter.idft_w");
}

}  // namespace vitvk::ops
