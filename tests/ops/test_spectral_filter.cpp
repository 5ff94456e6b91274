#include <catch2/catch.hpp>

#include <cmath>
#include <complex>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>

#include "ops/spectral_filter.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

std::vector<float> cpu_filter(const std::vector<float>& x, const ops::SpectralShape& s, const std::vector<float>& w) {
  std::vector<float> y(x.size());
  ops::spectral_filter_cpu(x.data(), s, w.data(), y.data());
  return y;
}

// A filter that is a pure phase ramp: multiplying the spectrum by e^{-2 pi i (ky dy / h + k dx / w)} shifts
// the grid circularly by (dy, dx).
std::vector<float> shift_filter(const ops::SpectralShape& s, int dy, int dx) {
  std::vector<float> w(s.filter_floats());
  for (int ky = 0; ky < s.h; ++ky)
    for (int k = 0; k < s.wh(); ++k)
      for (int c = 0; c < s.channels; ++c) {
        const double a = -2.0 * std::numbers::pi * (double(ky) * dy / s.h + double(k) * dx / s.w);
        const std::size_t i = ((std::size_t(ky) * s.wh() + k) * s.channels + c) * 2;
        w[i] = float(std::cos(a));
        w[i + 1] = float(std::sin(a));
      }
  return w;
}

}  // namespace

TEST_CASE("spectral filter CPU: an all-ones filter is the identity, a phase ramp a circular shift",
          "[ops][spectral_filter]") {
  for (auto [h, w] : {std::pair{7, 7}, std::pair{4, 6}, std::pair{13, 17}, std::pair{1, 5}, std::pair{6, 1}}) {
    const ops::SpectralShape s{2, h, w, 3};
    const auto x = test::random_floats(std::size_t(s.batch) * s.tokens() * s.channels, 11);
    std::vector<float> ones(s.filter_floats(), 0.f);
    for (std::size_t i = 0; i < ones.size(); i += 2) ones[i] = 1.f;
    const float id = test::max_abs_diff(cpu_filter(x, s, ones), x);
    INFO(h << "x" << w << ": identity diff " << id);
    CHECK(id < 1e-5f);

    const int dy = h > 1 ? 2 % h : 0, dx = w > 1 ? w - 1 : 0;
    const auto y = cpu_filter(x, s, shift_filter(s, dy, dx));
    std::vector<float> want(x.size());
    for (int b = 0; b < s.batch; ++b)
      for (int r = 0; r < h; ++r)
        for (int q = 0; q < w; ++q)
          for (int c = 0; c < s.channels; ++c)
            want[((std::size_t(b) * h + (r + dy) % h) * w + (q + dx) % w) * s.channels + c] =
                x[((std::size_t(b) * h + r) * w + q) * s.channels + c];
    const float sd = test::max_abs_diff(y, want);
    INFO(h << "x" << w << ": shift diff " << sd);
    CHECK(sd < 1e-5f);
  }
}

TEST_CASE("spectral filter CPU: irfft2 drops the anti-Hermitian part of the zero and Nyquist columns",
          "[ops][spectral_filter]") {
  for (int w : {4, 5, 6}) {
    const ops::SpectralShape s{1, 6, w, 2};
    for (int k : {0, w / 2}) {
      if (k == w / 2 && w % 2) continue;  // odd w has no Nyquist column
      // Filter: anti-Hermitian along h in column k (A[-ky] = -conj A[ky]), random elsewhere.
      auto filt = test::random_floats(s.filter_floats(), 7);
      for (int ky = 0; ky < s.h; ++ky)
        for (int c = 0; c < s.channels; ++c) {
          const std::size_t i = ((std::size_t(ky) * s.wh() + k) * s.channels + c) * 2;
          const int my = (s.h - ky) % s.h, lo = std::min(ky, my);
          filt[i] = ky == my ? 0.f : (ky < my ? 1.f : -1.f) * (1.5f * lo + 0.3f);
          filt[i + 1] = 0.25f + 0.1f * lo;
        }
      // Signal whose spectrum lies in column k only: constant (k = 0) or alternating (Nyquist) along w.
      std::vector<float> x(std::size_t(s.tokens()) * s.channels);
      const auto rows = test::random_floats(std::size_t(s.h) * s.channels, 4);
      for (int r = 0; r < s.h; ++r)
        for (int q = 0; q < w; ++q)
          for (int c = 0; c < s.channels; ++c)
            x[(std::size_t(r) * w + q) * s.channels + c] = rows[r * s.channels + c] * (k && q % 2 ? -1.f : 1.f);
      float m = 0.f;
      for (float v : cpu_filter(x, s, filt)) m = std::max(m, std::abs(v));
      INFO("w " << w << ", column " << k << ": max |y| " << m);
      CHECK(m < 1e-5f);
    }
    // The GPU packing keeps only the Hermitian part of those columns: same output on any signal.
    const auto filt = test::random_floats(s.filter_floats(), 8);
    const auto x = test::random_floats(std::size_t(s.tokens()) * s.channels, 9);
    auto packed = ops::spectral_filter_vk_pack(filt, s.h, s.w, s.channels);
    for (auto& v : packed) v *= float(s.h * s.w);  // undo the folded 1/(h w)
    const float d = test::max_abs_diff(cpu_filter(x, s, filt), cpu_filter(x, s, packed));
    INFO("w " << w << ": packed filter diff " << d);
    CHECK(d < 1e-5f);
  }
}

TEST_CASE("spectral filter: Vulkan FFT and DFT paths match the CPU oracle on odd grids",
          "[ops][vulkan][spectral_filter]") {
  test::VkFixture fx;
  ops::SpectralFilterVk sf(fx.ctx);
  struct Case {
    int batch, h, w, channels;
  };
  for (Case cs : {Case{2, 7, 7, 12}, Case{1, 14, 14, 32}, Case{2, 24, 24, 8}, Case{3, 13, 17, 5}}) {
    const ops::SpectralShape s{cs.batch, cs.h, cs.w, cs.channels};
    for (bool fp16 : test::precisions(fx.ctx)) {
      auto x = test::random_floats(std::size_t(s.batch) * s.tokens() * s.channels, 21);
      const auto filt = test::random_floats(s.filter_floats(), 22);
      if (fp16) x = gpu::from_storage(gpu::to_storage(x, true).data(), x.size(), true);
      const auto want = cpu_filter(x, s, filt);
      auto bx = fx.upload(x, fp16), bw = fx.upload(ops::spectral_filter_vk_pack(filt, s.h, s.w, s.channels));
      for (auto impl : {ops::SpectralImpl::Fft, ops::SpectralImpl::Dft}) {
        auto scratch = fx.zeros(ops::SpectralFilterVk::scratch_bytes(impl, s) / 4);
        auto by = fx.zeros(x.size(), fp16);
        auto oc = fx.ops(fp16);
        fx.rec.begin();
        sf.record(oc, impl, gpu::whole(bx), s, gpu::whole(bw), gpu::whole(scratch), gpu::whole(by));
        fx.rec.submit_and_wait();
        const float diff = test::max_abs_diff(fx.download(by, x.size(), fp16), want);
        INFO(s.batch << "x" << s.h << "x" << s.w << "x" << s.channels << " " << ops::to_string(impl)
                     << (fp16 ? " fp16" : " fp32") << ": max diff " << diff);
        CHECK(diff < (fp16 ? 1e-2f : 2e-5f));
      }
    }
  }
  fx.require_clean_validation();
}

TEST_CASE("spectral filter: Vulkan FFT plans are reused and work at offsets inside one shared buffer",
          "[ops][vulkan][spectral_filter]") {
  test::VkFixture fx;
  ops::SpectralFilterVk sf(fx.ctx);
  const ops::SpectralShape s{2, 6, 10, 4};
  const std::size_t n = std::size_t(s.batch) * s.tokens() * s.channels;
  const auto x = test::random_floats(n, 31);
  const auto f1 = test::random_floats(s.filter_floats(), 32), f2 = test::random_floats(s.filter_floats(), 33);
  const auto want = cpu_filter(cpu_filter(x, s, f1), s, f2);  // two layers back to back
  // One arena: [pad | x | pad | y | pad | z | pad | scratch], everything at non-zero offsets.
  const uint64_t act = n * 4, scr = ops::SpectralFilterVk::scratch_bytes(ops::SpectralImpl::Fft, s);
  auto al = [](uint64_t v) { return (v + 255) / 256 * 256; };
  const uint64_t ox = 256, oy = ox + al(act) + 256, oz = oy + al(act) + 512, os = oz + al(act) + 768;
  std::vector<float> host((os + scr) / 4, 0.f);
  std::copy(x.begin(), x.end(), host.begin() + ox / 4);
  auto arena = fx.upload(host);
  auto bw1 = fx.upload(ops::spectral_filter_vk_pack(f1, s.h, s.w, s.channels));
  auto bw2 = fx.upload(ops::spectral_filter_vk_pack(f2, s.h, s.w, s.channels));
  auto oc = fx.ops(false);
  sf.prepare(ops::SpectralImpl::Fft, s, {&arena, os, scr});  // built ahead: the records below reuse it
  CHECK(sf.fft_plans() == 1);
  for (int run = 0; run < 2; ++run) {
    fx.rec.begin();
    // Second layer's scratch at a different offset: the same plan must serve it (offsets are launch-time).
    sf.record(oc, ops::SpectralImpl::Fft, {&arena, ox, act}, s, gpu::whole(bw1), {&arena, os, scr}, {&arena, oy, act});
    sf.record(oc, ops::SpectralImpl::Fft, {&arena, oy, act}, s, gpu::whole(bw2), {&arena, os - 256, scr + 256},
              {&arena, oz, act});
    fx.rec.submit_and_wait();
    const auto all = fx.download(arena, host.size());
    const std::vector<float> got(all.begin() + oz / 4, all.begin() + oz / 4 + n);
    const float diff = test::max_abs_diff(got, want);
    INFO("run " << run << ": max diff " << diff);
    CHECK(diff < 2e-5f);
    // Everything outside x, y, z and the scratch areas is untouched.
    for (uint64_t i = 0; i < ox / 4; ++i) REQUIRE(all[i] == 0.f);
    for (uint64_t i = (ox + act) / 4; i < oy / 4; ++i) REQUIRE(all[i] == 0.f);
    for (uint64_t i = (oy + act) / 4; i < oz / 4; ++i) REQUIRE(all[i] == 0.f);
    for (uint64_t i = (oz + act) / 4; i < (os - 256) / 4; ++i) REQUIRE(all[i] == 0.f);
  }
  CHECK(sf.fft_plans() == 1);
  fx.require_clean_validation();
}

TEST_CASE("spectral filter CPU matches torch.fft (rfft2 / irfft2, norm='ortho') goldens", "[ops][spectral_filter]") {
  std::ifstream in(std::filesystem::path(VITVK_SOURCE_DIR) / "tests/data/gfnet/filter_goldens.json");
  REQUIRE(in);
  const auto doc = nlohmann::json::parse(in);
  REQUIRE(doc["cases"].size() >= 4);
  for (const auto& c : doc["cases"]) {
    const ops::SpectralShape s{c["batch"].get<int>(), c["h"].get<int>(), c["w"].get<int>(), c["channels"].get<int>()};
    const auto x = c["x"].get<std::vector<float>>(), w = c["complex_weight"].get<std::vector<float>>();
    const auto want = c["y"].get<std::vector<float>>();
    REQUIRE(w.size() == s.filter_floats());
    const float diff = test::max_abs_diff(cpu_filter(x, s, w), want);
    INFO(s.h << "x" << s.w << ": max diff vs torch " << diff);
    CHECK(diff < 1e-5f);
  }
}

TEST_CASE("spectral filter: a VkFFT plan follows its work-space buffer from one recording to the next",
          "[ops][vulkan][spectral_filter]") {
  test::VkFixture fx;
  ops::SpectralFilterVk sf(fx.ctx);
  const ops::SpectralShape s{1, 5, 17, 4};  // 17: Bluestein's algorithm, the plan with the most descriptor sets
  const std::size_t n = std::size_t(s.tokens()) * s.channels;
  const auto x = test::random_floats(n, 41), f = test::random_floats(s.filter_floats(), 42);
  const auto want = cpu_filter(x, s, f);
  auto bx = fx.upload(x), bw = fx.upload(ops::spectral_filter_vk_pack(f, s.h, s.w, s.channels));
  const std::size_t scratch_floats = ops::SpectralFilterVk::scratch_bytes(ops::SpectralImpl::Fft, s) / 4;
  auto oc = fx.ops(false);
  for (int round = 0; round < 3; ++round) {
    // A fresh scratch buffer each time, the previous one destroyed: its handle may well be reused.
    auto scratch = fx.zeros(scratch_floats);
    auto by = fx.zeros(n);
    fx.rec.begin();
    sf.record(oc, ops::SpectralImpl::Fft, gpu::whole(bx), s, gpu::whole(bw), gpu::whole(scratch), gpu::whole(by));
    fx.rec.submit_and_wait();
    const float diff = test::max_abs_diff(fx.download(by, n), want);
    INFO("round " << round << ": max diff " << diff);
    CHECK(diff < 2e-5f);
  }
  CHECK(sf.fft_plans() == 1);
  // Within one recording, a second buffer for the same plan would need its descriptor sets rewritten while
  // bound: refused.
  auto s1 = fx.zeros(scratch_floats), s2 = fx.zeros(scratch_floats), by = fx.zeros(n);
  fx.rec.begin();
  sf.record(oc, ops::SpectralImpl::Fft, gpu::whole(bx), s, gpu::whole(bw), gpu::whole(s1), gpu::whole(by));
  CHECK_THROWS_AS(sf.record(oc, ops::SpectralImpl::Fft, gpu::whole(bx), s, gpu::whole(bw), gpu::whole(s2), gpu::whole(by)),
                  Error);
  fx.rec.submit_and_wait();
  fx.require_clean_validation();
}
