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
// Linear layer y = x W^T + b with fused epilogue; x and y rows strided (the head reads class-token rows only).
#include "common.glsl"

uint x_row_base(uint row);
uint x_k_offset(uint k);
uint y_row_base(uint row);
#include "gemm.glsl"

uint x_row_base(uint row) { return row * p.x_stride; }
uint x_k_offset(uint k) { return k; }
uint y_row_base(uint row) { return row * p.y_stride; }

void main() { gemm_main(); }
