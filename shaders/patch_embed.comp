#version 450
//! variant fp16 -DVITVK_FP16=1 requires=FP16
//! variant tiled -DGEMM_TILED=1
//! variant tiled.fp16 -DGEMM_TILED=1 -DVITVK_FP16=1 requires=FP16
//! variant texel -DGEMM_TEXEL=1
//! variant texel.fp16 -DGEMM_TEXEL=1 -DVITVK_FP16=1 requires=FP16
//! variant int8 -DGEMM_INT8=1
//! variant int8.fp16 -DGEMM_INT8=1 -DVITVK_FP16=1 requires=FP16
//! variant tiled.int8 -DGEMM_TILED=1 -DGEMM_INT8=1
//! variant tiled.int8.fp16 -DGEMM_TILED=1 -DGEMM_INT8=1 -DVITVK_FP16=1 requires=FP16
//! variant texel.int8 -DGEMM_TEXEL=1 -DGEMM_INT8=1
//! variant texel.int8.fp16 -DGEMM_TEXEL=1 -DGEMM_INT8=1 -DVITVK_FP16=1 requires=FP16
// Patch embedding (stride-P, kernel-P convolution) as a GEMM whose x is gathered from the [B, C, H, W] images on
// the fly: row = b * patches + patch index, k = (c * P + ky) * P + kx, as in the flattened conv weight.
#include "common.glsl"

// The patch size is a specialization constant: the k -> pixel mapping below runs in the inner loop, and division
// by a constant is cheap where division by a variable is not (lavapipe does it lane by lane).
layout(constant_id = 4) const uint PATCH = 16;

uint x_row_base(uint row);
uint x_k_offset(uint k);
uint y_row_base(uint row);
#include "gemm.glsl"

uint x_row_base(uint row) {
  const uint b = row / p.patches, q = row % p.patches, py = q / p.grid_w, px = q % p.grid_w;
  return ((b * p.channels * p.height) + py * PATCH) * p.width + px * PATCH;
}
uint x_k_offset(uint k) {
  const uint c = k / (PATCH * PATCH), r = k % (PATCH * PATCH);
  return (c * p.height + r / PATCH) * p.width + r % PATCH;
}
uint y_row_base(uint row) {
  const uint b = row / p.patches, q = row % p.patches;
  return (b * p.tokens_per_image + p.first_token + q) * p.N;
}

void main() { gemm_main(); }
