#pragma once
// GFNet's global filter: spectral token mixing over the h x w patch grid, per channel,
//   y = irfft2(rfft2(x, norm="ortho") * W, s=(h, w), norm="ortho")
// with a learned complex filter W of shape [h, w/2+1, C] (stored [h, w/2+1, C, 2]: real, imaginary).
// CPU reference here (spectral_filter.cpp, a plain separable DFT); the Vulkan dispatch in
// spectral_filter.vk.cpp (VkFFT, or a dense DFT as four small GEMMs), shaders/spectral_filter*.comp.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vitvk::ops {

struct SpectralShape {
  int batch = 1;
  int h = 0, w = 0;    // the token grid; tokens are row-major over it (token = y * w + x)
  int channels = 0;
  int wh() const { return w / 2 + 1; }  // frequencies kept along w (real input)
  int tokens() const { return h * w; }
  std::size_t filter_floats() const { return std::size_t(h) * wh() * channels * 2; }
};

// x, y: [B, h*w, C] token-major; weight: [h, w/2+1, C, 2]. y must not alias x. Exactly torch's semantics,
// including irfft's treatment of the imaginary parts of the zero (and, for even w, Nyquist) columns.
void spectral_filter_cpu(const float* x, const SpectralShape& s, const float* weight, float* y);

}  // namespace vitvk::ops

#include <map>
#include <memory>
#include <tuple>

#include "vk/op_context.hpp"

namespace vitvk::ops {

// How the GPU computes the filter. Fft: VkFFT R2C/C2R over all channels and images at once, with a transpose
// in and out (VkFFT transforms contiguous axes; our tokens are channel-minor). Dft: the same transform as dense
// DFT matrices applied along w and h in the native token-major layout (four small GEMM-like passes, filter
// multiply fused into the second). Auto: per shape, whichever measured faster where it was measured.
enum class SpectralImpl { Auto, Fft, Dft };
SpectralImpl parse_spectral_impl(const std::string& s);  // "auto" | "fft" | "dft"; throws InvalidArgument
const char* to_string(SpectralImpl impl);

// The device form of a filter: scaled by 1/(h*w) (ortho forward and inverse, folded together) and with the
// zero (and even-w Nyquist) frequency columns replaced by their Hermitian part along h, so the product is a
// valid half spectrum and every C2R implementation returns what torch's irfft2 does. Same [h, w/2+1, C, 2]
// layout, fp32 (both implementations read it).
std::vector<float> spectral_filter_vk_pack(std::span<const float> weight, int h, int w, int channels);

// Holds what a shape needs across passes: VkFFT plans (built once per shape and work-space size, reused) and the
// DFT matrices. One per Vulkan context, single-threaded like the Recorder; must outlive the recordings using it.
class SpectralFilterVk {
 public:
  explicit SpectralFilterVk(gpu::Context& ctx);
  ~SpectralFilterVk();
  SpectralFilterVk(const SpectralFilterVk&) = delete;
  SpectralFilterVk& operator=(const SpectralFilterVk&) = delete;

  // fp32 work space the implementation needs (bytes); scratch slices must hold at least this much.
  static uint64_t scratch_bytes(SpectralImpl impl, const SpectralShape& s);
  // Auto's choice for a shape on this device (Fft or Dft).
  SpectralImpl resolve(SpectralImpl impl, const SpectralShape& s) const;

  // Records y = filter(x) into oc.rec. x, y: [B, h*w, C] in the storage precision (must not overlap);
  // weight: spectral_filter_vk_pack output (fp32); scratch: fp32 work space of scratch_bytes(). Slices may lie
  // anywhere in bigger buffers (at offsets the device accepts for bindings; VkFFT gets the scratch offset as a
  // launch parameter, so one plan serves every offset, and any buffer of the same size from one recording to
  // the next; within one recording all FFT-path records of a shape must use the same scratch buffer).
  void record(gpu::OpContext& oc, SpectralImpl impl, const gpu::Slice& x, const SpectralShape& s,
              const gpu::Slice& weight, const gpu::Slice& scratch, const gpu::Slice& y);

  // Builds now what record() would build on first use for this shape and work space (VkFFT plans compile
  // their kernels: up to seconds on a CPU driver), so that a model's first pass is not the slow one.
  void prepare(SpectralImpl impl, const SpectralShape& s, const gpu::Slice& scratch);

  // Number of VkFFT plans built so far (tests check reuse).
  std::size_t fft_plans() const { return plans_.size(); }

  struct FftPlan;
  struct DftMatrices;

 private:
  FftPlan& fft_plan(const SpectralShape& s, const gpu::Slice& scratch);
  DftMatrices& dft_matrices(int h, int w);
  void record_fft(gpu::OpContext& oc, const gpu::Slice& x, const SpectralShape& s, const gpu::Slice& weight,
                  const gpu::Slice& scratch, const gpu::Slice& y);
  void record_dft(gpu::OpContext& oc, const gpu::Slice& x, const SpectralShape& s, const gpu::Slice& weight,
                  const gpu::Slice& scratch, const gpu::Slice& y);

  gpu::Context& ctx_;
  struct Vk;
  std::unique_ptr<Vk> vk_;  // command pool and fence VkFFT uses while building plans
  // (batch*channels, h, w, bound bytes of the work-space buffer)
  std::map<std::tuple<int, int, int, uint64_t>, std::unique_ptr<FftPlan>> plans_;
  std::map<std::pair<int, int>, std::unique_ptr<DftMatrices>> dft_;
};

}  // namespace vitvk::ops
