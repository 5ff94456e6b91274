// GEMM core shared by gemm.comp (linear layers) and patch_embed.comp (im2col on the fly):
//   y[row, n] (=, gelu(), +=) sum_k x[row, k] * W[n, k] + bias[n], fp32 accumulation.
// The including shader defines, before including this file:
//   uint x_row_base(uint row)  element index of x[row, 0] in binding 0
//   uint x_k_offset(uint k)    + this = element index of x[row, k]
//   uint y_row_base(uint row)  element index of y[row, 0] in binding 3
// With X_WIDE, the 8 elements of x[row, k..k+7] (k a multiple of 8, k + 7 < K) are consecutive and start on an
// element index that is a multiple of 8: they are read as two vec4 (fp32) or one uvec4 of 8 halves (fp16).
//
// W is packed by linear_vk_pack in panels of PANEL output columns, 8 consecutive k of one column side by side:
//   element (n, k) at ((n / PANEL * k8s + k / 8) * PANEL + n % PANEL) * 8 + k % 8,   k8s = ceil(K / 8),
// zero-padded to whole panels and to k8s * 8.
//
// With GEMM_INT8, W holds int8 weights (weight-only quantization; x, y and bias keep the storage precision):
// the same layout with one byte per element, four to a 32-bit word (byte j of a word at bits 8j, so group g of 8
// k is words 2g and 2g + 1), read as uint words: no 8-bit storage feature needed. After the packed bytes, at
// word p.scale_off, one fp32 scale per output column (as uint bits). W[n, k] = scale[n] * q[n, k]: the sum over
// k runs on q (exact in fp32: |q| <= 127) and the scale multiplies the fp32 sum before bias and epilogue, which
// equals the fp32 GEMM on the dequantized weights within fp32 rounding and saves a multiply per weight.
// With p.scale_g8 != 0, p.scale_groups scales per column instead ([n][g]), each over p.scale_g8 8-k groups:
// W[n, k] = scale[n, k / (8 scale_g8)] * q[n, k], each 8-k group of weights multiplied by its scale as it is read
// (the fp32 GEMM on the dequantized weights, as above).
//
// Two kernel families, chosen at build time of the variant (GEMM_TILED) and by device at run time:
//  - register-blocked (default), for lavapipe: no shared memory, barriers or subgroup operations. There, every
//    buffer load is a loop over the SIMD lanes with a bounds check per component, costing far more than the FMAs
//    it feeds, and subgroup broadcasts are loops as well. So each invocation accumulates an RB x CB block in
//    registers from its own loads, 8 k per step (one load per 8 halves in fp16). With GEMM_TEXEL, x and W are
//    read through texel buffers instead (the "texel" variant; same packing, same blocking).
//  - tiled (GEMM_TILED), for GPUs: 64x64 output tiles through shared memory, 4x4 per invocation.
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 1) const bool X_WIDE = false;  // x read 8 elements at a time (see above)
layout(constant_id = 2) const uint RB = 8;          // register kernel: rows per invocation
layout(constant_id = 3) const uint CB = 4;          // register kernel: output columns per invocation

// One push block for both ops (linear leaves the patch fields zero).
layout(push_constant) uniform Push {
  uint M, N, K, k8s;  // rows, output columns, reduction length, packed K in groups of 8
  uint ep;            // 0 none, 1 gelu, 2 residual (y += ...)
  uint has_bias;
  uint x_stride, y_stride;                                // linear: row strides in elements
  uint channels, height, width, grid_w, patches;          // patch embed: image and grid geometry
  uint tokens_per_image, first_token;                     // patch embed: where each image's rows go
  uint x_off, w_off;  // GEMM_TEXEL: element offsets of x and W in their views (whole buffers); W's a multiple of 8
                      // (GEMM_INT8: W's offset in 32-bit words, a multiple of 4)
  uint scale_off;     // GEMM_INT8: word index of column 0's scale, relative to W's slice
  uint scale_g8;      // GEMM_INT8: 8-k groups per scale along k (0: one scale per output column)
  uint scale_groups;  // GEMM_INT8: scales per output column (1 where scale_g8 is 0)
} p;

#if GEMM_INT8
// Four int8 in a word to floats (exact), byte 0 first: shift each byte to the top, arithmetic shift back down.
vec4 unpack_i8x4(uint w) { return vec4((ivec4(int(w)) << ivec4(24, 16, 8, 0)) >> 24); }
#endif

#if GEMM_TEXEL && GEMM_INT8
// int8 W as an RGBA32UI texel buffer (16 bytes: two 8-k groups per fetch, of neighbouring columns, so half of
// each fetch is used; the same fetch count as fp16's). x as for fp32 / fp16 below.
layout(binding = 1) uniform usamplerBuffer wt;
uint w_word(uint i) { i += p.w_off; return texelFetch(wt, int(i >> 2))[i & 3]; }
uvec2 w_group(uint g) {
  const uvec4 t = texelFetch(wt, int((p.w_off + 2 * g) >> 2));
  return (g & 1) == 0 ? t.xy : t.zw;
}
#if VITVK_FP16
layout(binding = 0) uniform usamplerBuffer xt;
float half_at(uvec4 t, uint i) { return unpackHalf2x16(t[(i >> 1) & 3])[i & 1]; }
float x_at(uint i) { i += p.x_off; return half_at(texelFetch(xt, int(i >> 3)), i); }
#else
layout(binding = 0) uniform samplerBuffer xt;
float x_at(uint i) { i += p.x_off; return texelFetch(xt, int(i >> 2))[i & 3]; }
#endif
#elif GEMM_TEXEL && VITVK_FP16
// x and W as uniform texel buffers viewing their whole buffers, p.x_off / p.w_off elements in. On lavapipe a texel
// fetch is a branchless gather where a storage-buffer load is a per-lane loop with a bounds check per component.
// fp16: RGBA32UI texels of 8 packed halves (one fetch per 8 elements; measured faster than RGBA16F's 4).
layout(binding = 0) uniform usamplerBuffer xt;
layout(binding = 1) uniform usamplerBuffer wt;
float half_at(uvec4 t, uint i) { return unpackHalf2x16(t[(i >> 1) & 3])[i & 1]; }
float x_at(uint i) { i += p.x_off; return half_at(texelFetch(xt, int(i >> 3)), i); }
float w1_at(uint i) { i += p.w_off; return half_at(texelFetch(wt, int(i >> 3)), i); }
#elif GEMM_TEXEL
// fp32: RGBA32F texels of 4 elements.
layout(binding = 0) uniform samplerBuffer xt;
layout(binding = 1) uniform samplerBuffer wt;
float x_at(uint i) { i += p.x_off; return texelFetch(xt, int(i >> 2))[i & 3]; }
float w1_at(uint i) { i += p.w_off; return texelFetch(wt, int(i >> 2))[i & 3]; }
#else
// Binding 0 seen both ways: element-wise for any layout, 8 elements at a time when X_WIDE allows.
layout(binding = 0) readonly buffer X { STORE_T x[]; };
#if VITVK_FP16
layout(binding = 0) readonly buffer X8 { uvec4 x8[]; };
#else
layout(binding = 0) readonly buffer X8 { vec4 x4[]; };
#endif
float x_at(uint i) { return float(x[i]); }
#if GEMM_INT8
// int8 W seen as words and as 8-k groups of two words.
layout(binding = 1) readonly buffer WQ { uint wq[]; };
layout(binding = 1) readonly buffer WQ2 { uvec2 wq2[]; };
uint w_word(uint i) { return wq[i]; }
uvec2 w_group(uint g) { return wq2[g]; }
#else
layout(binding = 1) readonly buffer W1 { STORE_T w1[]; };
#if VITVK_FP16
layout(binding = 1) readonly buffer W { uvec4 w8[]; };
#else
layout(binding = 1) readonly buffer W { vec4 w4[]; };
#endif
float w1_at(uint i) { return float(w1[i]); }
#endif
#endif
#if GEMM_INT8
// Packed element i of W (its byte), and column n's scale for scale group g.
float w1_at(uint i) { return float(bitfieldExtract(int(w_word(i >> 2)), int(i & 3) * 8, 8)); }
float w_scale(uint n, uint g) { return uintBitsToFloat(w_word(p.scale_off + n * p.scale_groups + g)); }
// What the epilogue multiplies column n's sum by: its scale, or 1 where the weights were scaled as read.
float sum_scale(uint n) { return p.scale_g8 != 0 ? 1.0 : w_scale(n, 0); }
#endif
layout(binding = 2) readonly buffer Bias { STORE_T bias[]; };
layout(binding = 3) buffer Y { STORE_T y[]; };

// erf to float precision (|error| < 2e-7, measured against libm): erf(x) = x P(x^2) on |x| <= 1,
// 1 - exp(-x^2) Q(1/|x| - 0.5) on 1 < |x| < 4, and +-1 beyond (erfc(4) = 1.5e-8). The coefficients are
// least-squares polynomial fits on Chebyshev nodes (degree 6 and 8), made for this file. Both pieces are
// evaluated and selected without branches: on lavapipe, control flow costs more (to compile and to run) than
// the arithmetic.
float erf_f32(float v) {
  const float a = abs(v), t = a * a;
  const float near = a * (1.1283791658851527 + t * (-0.37612626912192770 + t * (0.11283597519547092 +
                     t * (-0.026854330277872977 + t * (0.0051893136786593979 + t * (-0.00080188630109331220 +
                     t * 0.000078825037208594202))))));
  const float s = 1.0 / max(a, 1.0) - 0.5;
  const float q = 0.25539568130917395 + s * (0.4271862352375519 + s * (-0.18552977484123095 +
                  s * (0.02280906781051294 + s * (0.06476451718107132 + s * (-0.08666516655120951 +
                  s * (0.05790910552800343 + s * (-0.01158239444757353 + s * -0.0071072114072071)))))));
  const float far = 1.0 - exp(-min(t, 16.0)) * q;
  return sign(v) * mix(mix(far, 1.0, a >= 4.0), near, a <= 1.0);
}

float gelu(float v) { return 0.5 * v * (1.0 + erf_f32(v * 0.70710678118654752)); }

// acc + bias[n] (b = bias[n], or 0 without bias) through the epilogue into y[row, n].
void store_out(uint row, uint n, float acc, float b) {
  acc += b;
  acc = mix(acc, gelu(acc), p.ep == 1);
  const uint i = y_row_base(row) + n;
  if (p.ep == 2) acc += float(y[i]);
  y[i] = STORE_T(acc);
}

// 8 values as two vec4: [0] = k..k+3, [1] = k+4..k+7.
#if VITVK_FP16
void unpack8(uvec4 u, out vec4 lo, out vec4 hi) {
  lo = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
  hi = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
}
#endif

// x[row, k..k+7] for the row whose x_row_base is `base`; k a multiple of 8 and k + 7 < K.
void load_x8(uint base, uint k, out vec4 lo, out vec4 hi) {
  if (X_WIDE) {
    const uint i = base + x_k_offset(k);
#if GEMM_TEXEL && VITVK_FP16
    unpack8(texelFetch(xt, int((i + p.x_off) >> 3)), lo, hi);
#elif GEMM_TEXEL
    lo = texelFetch(xt, int((i + p.x_off) >> 2));
    hi = texelFetch(xt, int((i + p.x_off) >> 2) + 1);
#elif VITVK_FP16
    unpack8(x8[i >> 3], lo, hi);
#else
    lo = x4[i >> 2];
    hi = x4[(i >> 2) + 1];
#endif
  } else {
    [[unroll]] for (uint c = 0; c < 4; ++c) {
      lo[c] = x_at(base + x_k_offset(k + c));
      hi[c] = x_at(base + x_k_offset(k + 4 + c));
    }
  }
}

// The same for any k that is a multiple of 8: values at k >= K read as 0.
void load_x8_tail(uint base, uint k, out vec4 lo, out vec4 hi) {
  lo = vec4(0.0);
  hi = vec4(0.0);
  [[unroll]] for (uint c = 0; c < 4; ++c) {
    if (k + c < p.K) lo[c] = x_at(base + x_k_offset(k + c));
    if (k + 4 + c < p.K) hi[c] = x_at(base + x_k_offset(k + 4 + c));
  }
}

// Packed W group g (8 consecutive k of one column).
void load_w8(uint g, out vec4 lo, out vec4 hi) {
#if GEMM_INT8
  const uvec2 u = w_group(g);
  lo = unpack_i8x4(u.x);
  hi = unpack_i8x4(u.y);
#elif GEMM_TEXEL && VITVK_FP16
  unpack8(texelFetch(wt, int(g + p.w_off / 8)), lo, hi);
#elif GEMM_TEXEL
  lo = texelFetch(wt, int(2 * g + p.w_off / 4));
  hi = texelFetch(wt, int(2 * g + p.w_off / 4 + 1));
#elif VITVK_FP16
  unpack8(w8[g], lo, hi);
#else
  lo = w4[2 * g];
  hi = w4[2 * g + 1];
#endif
}

float dot8(vec4 alo, vec4 ahi, vec4 blo, vec4 bhi, float acc) {
  acc = fma(alo.x, blo.x, acc);
  acc = fma(alo.y, blo.y, acc);
  acc = fma(alo.z, blo.z, acc);
  acc = fma(alo.w, blo.w, acc);
  acc = fma(ahi.x, bhi.x, acc);
  acc = fma(ahi.y, bhi.y, acc);
  acc = fma(ahi.z, bhi.z, acc);
  return fma(ahi.w, bhi.w, acc);
}

#if !GEMM_TILED
// ---- Register-blocked kernel: a workgroup of WG invocations computes an RB x (WG*CB) tile; invocation i owns
// rows m0..m0+RB-1 and CB columns of it, n0 + tile_col(c) (one packed panel, PANEL = WG*CB). ----
layout(local_size_x_id = 0) in;

float acc[RB * CB];

// Column of this invocation's block column c within the tile (and the packed panel).
uint tile_col(uint c) { return gl_LocalInvocationID.x + c * gl_WorkGroupSize.x; }

void gemm_main() {
  const uint TN = gl_WorkGroupSize.x * CB;
  const uint tiles_n = (p.N + TN - 1) / TN;
  const uint tile = flat_group_id();
  const uint tm = tile / tiles_n, tn = tile % tiles_n;
  const uint m0 = tm * RB, n0 = tn * TN;
  if (m0 >= p.M) return;  // uniform across the workgroup

  uint xb[RB];  // rows past M repeat the last row (loads stay in bounds; their results are not stored)
  [[unroll]] for (uint r = 0; r < RB; ++r) xb[r] = x_row_base(min(m0 + r, p.M - 1));
  const uint wg0 = tn * p.k8s * TN;  // packed group of (column n0, k = 0)

  [[unroll]] for (uint i = 0; i < RB * CB; ++i) acc[i] = 0.0;
  // Whole 8-k steps: the W groups of this invocation's columns, then each row's x against them.
  const uint full8 = p.K / 8;
  for (uint k8 = 0; k8 < full8; ++k8) {
    vec4 wlo[CB], whi[CB];
    [[unroll]] for (uint c = 0; c < CB; ++c) load_w8(wg0 + k8 * TN + tile_col(c), wlo[c], whi[c]);
#if GEMM_INT8
    if (p.scale_g8 != 0) {
      [[unroll]] for (uint c = 0; c < CB; ++c) {
        const float s = w_scale(min(n0 + tile_col(c), p.N - 1), k8 / p.scale_g8);
        wlo[c] *= s;
        whi[c] *= s;
      }
    }
#endif
    [[unroll]] for (uint r = 0; r < RB; ++r) {
      vec4 xlo, xhi;
      load_x8(xb[r], 8 * k8, xlo, xhi);
      [[unroll]] for (uint c = 0; c < CB; ++c) acc[r * CB + c] = dot8(xlo, xhi, wlo[c], whi[c], acc[r * CB + c]);
    }
  }
  // The last K % 8 values of k one at a time (kept small: it is code, not time, that matters here).
  for (uint k = full8 * 8; k < p.K; ++k) {
    float wk[CB];
    [[unroll]] for (uint c = 0; c < CB; ++c) wk[c] = w1_at((wg0 + full8 * TN + tile_col(c)) * 8 + k % 8);
#if GEMM_INT8
    if (p.scale_g8 != 0)
      [[unroll]] for (uint c = 0; c < CB; ++c) wk[c] *= w_scale(min(n0 + tile_col(c), p.N - 1), full8 / p.scale_g8);
#endif
    [[unroll]] for (uint r = 0; r < RB; ++r) {
      const float xk = x_at(xb[r] + x_k_offset(k));
      [[unroll]] for (uint c = 0; c < CB; ++c) acc[r * CB + c] = fma(xk, wk[c], acc[r * CB + c]);
    }
  }

  // Epilogue in passes over the block, GELU behind a branch on p.ep (uniform: cheap everywhere), so that only the
  // layers that ask for it pay its ~40 operations per output.
  [[unroll]] for (uint c = 0; c < CB; ++c) {
    const uint nc = min(n0 + tile_col(c), p.N - 1);
    const float b = p.has_bias != 0 ? float(bias[nc]) : 0.0;
#if GEMM_INT8
    const float s = sum_scale(nc);
    [[unroll]] for (uint r = 0; r < RB; ++r) acc[r * CB + c] = acc[r * CB + c] * s + b;
#else
    [[unroll]] for (uint r = 0; r < RB; ++r) acc[r * CB + c] += b;
#endif
  }
  if (p.ep == 1) {
    [[unroll]] for (uint i = 0; i < RB * CB; ++i) acc[i] = gelu(acc[i]);
  }
  [[unroll]] for (uint c = 0; c < CB; ++c) {
    const uint n = n0 + tile_col(c);
    if (n < p.N) {
      [[unroll]] for (uint r = 0; r < RB; ++r) {
        if (m0 + r < p.M) {
          const uint i = y_row_base(m0 + r) + n;
          y[i] = STORE_T(p.ep == 2 ? acc[r * CB + c] + float(y[i]) : acc[r * CB + c]);
        }
      }
    }
  }
}

#else
// ---- Tiled kernel: 256 invocations compute a 64x64 tile. Per step, 64 rows x 32 k of x and of W go through
// shared memory (one 8-k group of each per invocation; 16 KiB); invocation (tx, ty) owns rows ty + 16i and
// columns tx + 16j, so neighbouring invocations read neighbouring shared words. ----
layout(local_size_x = 256) in;
const uint BM = 64, BN = 64, BK8 = 4;
shared vec4 xs[BK8 * 2][BM];  // [k / 4 within the step][row]
shared vec4 ws[BK8 * 2][BN];  // [k / 4 within the step][column]

void gemm_main() {
  const uint t = gl_LocalInvocationIndex, tx = t % 16, ty = t / 16;
  const uint tiles_n = (p.N + BN - 1) / BN;
  const uint tile = flat_group_id();
  const uint tm = tile / tiles_n, tn = tile % tiles_n;
  const uint m0 = tm * BM, n0 = tn * BN;
  if (m0 >= p.M) return;  // uniform across the workgroup

  // Loader roles, each one 8-k group per step, so that neighbouring invocations read neighbouring memory:
  // x row m0 + xr, group xg (a row's groups are consecutive); W column n0 + wc, group wg (a step's groups of
  // the panel's columns are consecutive).
  const uint xr = t / BK8, xg = t % BK8, wc = t % BN, wg = t / BN;
  const uint lx_base = x_row_base(min(m0 + xr, p.M - 1));
  const uint lw0 = tn * p.k8s * BN + wc;  // packed group of (column n0 + wc, k = 0)
  const uint full8 = p.K / 8;

  float acc[16];
  [[unroll]] for (uint i = 0; i < 16; ++i) acc[i] = 0.0;

  for (uint k8 = 0; k8 < p.k8s; k8 += BK8) {
    vec4 lo = vec4(0.0), hi = vec4(0.0);
    if (k8 + xg < full8)
      load_x8(lx_base, 8 * (k8 + xg), lo, hi);
    else if (k8 + xg < p.k8s)
      load_x8_tail(lx_base, 8 * (k8 + xg), lo, hi);
    xs[2 * xg][xr] = lo;
    xs[2 * xg + 1][xr] = hi;
    lo = vec4(0.0);
    hi = vec4(0.0);
    if (k8 + wg < p.k8s) {
      load_w8(lw0 + (k8 + wg) * BN, lo, hi);
#if GEMM_INT8
      if (p.scale_g8 != 0) {
        const float s = w_scale(min(n0 + wc, p.N - 1), (k8 + wg) / p.scale_g8);
        lo *= s;
        hi *= s;
      }
#endif
    }
    ws[2 * wg][wc] = lo;
    ws[2 * wg + 1][wc] = hi;
    barrier();
    [[unroll]] for (uint kk = 0; kk < BK8 * 2; ++kk) {
      vec4 xr[4], wc[4];
      [[unroll]] for (uint i = 0; i < 4; ++i) xr[i] = xs[kk][ty + 16 * i];
      [[unroll]] for (uint j = 0; j < 4; ++j) wc[j] = ws[kk][tx + 16 * j];
      [[unroll]] for (uint i = 0; i < 4; ++i)
        [[unroll]] for (uint j = 0; j < 4; ++j) acc[i * 4 + j] += dot(xr[i], wc[j]);
    }
    barrier();
  }

  [[unroll]] for (uint j = 0; j < 4; ++j) {
    const uint n = n0 + tx + 16 * j;
    if (n < p.N) {
      const float b = p.has_bias != 0 ? float(bias[n]) : 0.0;
#if GEMM_INT8
      const float s = sum_scale(n);
#else
      const float s = 1.0;
#endif
      [[unroll]] for (uint i = 0; i < 4; ++i)
        if (m0 + ty + 16 * i < p.M) store_out(m0 + ty + 16 * i, n, acc[i * 4 + j] * s, b);
    }
  }
}
#endif
