#include "ops/spectral_filter.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "vitvk/error.hpp"

namespace vitvk::ops {
namespace {

// cos and sin of 2*pi*k/n for k in [0, n): twiddles by table index (k * x mod n), exact-argument.
struct Twiddles {
  std::vector<double> c, s;
  explicit Twiddles(int n) : c(n), s(n) {
    for (int k = 0; k < n; ++k) {
      const double a = 2.0 * std::numbers::pi * k / n;
      c[k] = std::cos(a);
      s[k] = std::sin(a);
    }
  }
};

}  // namespace

void spectral_filter_cpu(const float* x, const SpectralShape& s, const float* weight, float* y) {
  const int H = s.h, W = s.w, K = s.wh(), C = s.channels;
  if (H < 1 || W < 1 || C < 1 || s.batch < 1) throw Error(ErrorCode::InvalidArgument, "spectral_filter: empty shape");
  const Twiddles tw(W), th(H);
  const double scale = 1.0 / (double(H) * W);  // norm="ortho" on both transforms
  // Complex work arrays [H][K][C], double precision: this is the oracle.
  const std::size_t plane = std::size_t(H) * K * C;
  std::vector<double> ar(plane), ai(plane), br(plane), bi(plane);
  auto at = [&](int row, int k) { return (std::size_t(row) * K + k) * C; };
  for (int b = 0; b < s.batch; ++b) {
    const float* xb = x + std::size_t(b) * H * W * C;
    float* yb = y + std::size_t(b) * H * W * C;
    // rfft along w: A[y][k] = sum_x x[y][x] e^{-2 pi i k x / W}
    std::fill(ar.begin(), ar.end(), 0.0);
    std::fill(ai.begin(), ai.end(), 0.0);
    for (int r = 0; r < H; ++r)
      for (int k = 0; k < K; ++k) {
        double* pr = &ar[at(r, k)];
        double* pi = &ai[at(r, k)];
        for (int j = 0; j < W; ++j) {
          const int t = int((long(k) * j) % W);
          const double cr = tw.c[t], ci = -tw.s[t];
          const float* xr = xb + (std::size_t(r) * W + j) * C;
          for (int c = 0; c < C; ++c) {
            pr[c] += cr * xr[c];
            pi[c] += ci * xr[c];
          }
        }
      }
    // fft along h, then the filter: B[ky][k] = W[ky][k] * sum_y A[y][k] e^{-2 pi i ky y / H} / (H W)
    std::fill(br.begin(), br.end(), 0.0);
    std::fill(bi.begin(), bi.end(), 0.0);
    for (int ky = 0; ky < H; ++ky)
      for (int r = 0; r < H; ++r) {
        const int t = int((long(ky) * r) % H);
        const double cr = th.c[t], ci = -th.s[t];
        for (int k = 0; k < K; ++k) {
          double* qr = &br[at(ky, k)];
          double* qi = &bi[at(ky, k)];
          const double* pr = &ar[at(r, k)];
          const double* pi = &ai[at(r, k)];
          for (int c = 0; c < C; ++c) {
            qr[c] += cr * pr[c] - ci * pi[c];
            qi[c] += cr * pi[c] + ci * pr[c];
          }
        }
      }
    for (int ky = 0; ky < H; ++ky)
      for (int k = 0; k < K; ++k) {
        const float* wf = weight + at(ky, k) * 2;
        double* qr = &br[at(ky, k)];
        double* qi = &bi[at(ky, k)];
        for (int c = 0; c < C; ++c) {
          const double wr = wf[2 * c] * scale, wi = wf[2 * c + 1] * scale;
          const double zr = qr[c] * wr - qi[c] * wi, zi = qr[c] * wi + qi[c] * wr;
          qr[c] = zr;
          qi[c] = zi;
        }
      }
    // inverse fft along h: A[y][k] = sum_ky B[ky][k] e^{+2 pi i ky y / H}
    std::fill(ar.begin(), ar.end(), 0.0);
    std::fill(ai.begin(), ai.end(), 0.0);
    for (int r = 0; r < H; ++r)
      for (int ky = 0; ky < H; ++ky) {
        const int t = int((long(ky) * r) % H);
        const double cr = th.c[t], ci = th.s[t];
        for (int k = 0; k < K; ++k) {
          double* pr = &ar[at(r, k)];
          double* pi = &ai[at(r, k)];
          const double* qr = &br[at(ky, k)];
          const double* qi = &bi[at(ky, k)];
          for (int c = 0; c < C; ++c) {
            pr[c] += cr * qr[c] - ci * qi[c];
            pi[c] += cr * qi[c] + ci * qr[c];
          }
        }
      }
    // irfft along w (c2r): y[x] = Re A[0] + 2 sum_{0<k<W/2} Re(A[k] e^{+2 pi i k x / W}) + (even W) Re A[W/2] (-1)^x.
    // Only the real parts of the zero and Nyquist bins contribute, as in torch/pocketfft.
    std::vector<double> acc(C);
    for (int r = 0; r < H; ++r)
      for (int j = 0; j < W; ++j) {
        float* yr = yb + (std::size_t(r) * W + j) * C;
        std::copy_n(&ar[at(r, 0)], C, acc.begin());
        for (int k = 1; k < K; ++k) {
          const bool nyquist = (W % 2 == 0) && k == W / 2;
          const int t = int((long(k) * j) % W);
          const double f = nyquist ? 1.0 : 2.0;
          const double cr = f * tw.c[t], ci = nyquist ? 0.0 : f * tw.s[t];
          const double* pr = &ar[at(r, k)];
          const double* pi = &ai[at(r, k)];
          for (int c = 0; c < C; ++c) acc[c] += cr * pr[c] - ci * pi[c];
        }
        for (int c = 0; c < C; ++c) yr[c] = static_cast<float>(acc[c]);
      }
  }
}

}  // namespace vitvk::ops
