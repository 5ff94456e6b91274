#pragma once
// CPU-only building blocks of the fast fp32 forward (engine/cpu_backend.cpp) that the reference ops share:
// SIMD-friendly exp/erf (GELU, softmax), a GEMM tile with its epilogue applied while the tile is hot, and one
// attention head. Each hot loop is compiled for AVX-512, AVX2+FMA and baseline x86-64 and picked at load time.
#include <cstddef>

#include "ops/attention.hpp"
#include "ops/cpu_gemm.hpp"
#include "ops/gemm.hpp"

namespace vitvk::ops {

// In place over n floats. Accuracy (tests/engine/test_cpu_kernels.cpp): exp within 2 ulp of std::exp on the
// softmax range; gelu within 1e-6 absolute of the std::erf form.
void gelu_inplace(float* y, long n);
// Row-wise max-subtracted softmax, in place; rows of `cols` floats at stride `ld`. With an ISA (one the CPU
// runs): CpuIsa::Avx2 runs the explicit AVX2 form (the same bits as the x86-64-v3 clone), others the clones.
void softmax_inplace(float* p, int rows, int cols, long ld);
void softmax_inplace(float* p, int rows, int cols, long ld, CpuIsa isa);
void exp_inplace(float* y, long n);

// The [m0, m1) x [n0, n1) tile of y = epilogue(x W^T + b): x [M, K] at row stride ldx, W [N, K] as stored
// (PyTorch layout), y at row stride ldy. One single-threaded sgemm, then bias / GELU / residual on the tile.
void linear_tile(const float* x, int K, long ldx, const float* w, const float* b, float* y, long ldy, int m0, int m1,
                 int n0, int n1, Epilogue ep);

// softmax(Q K^T / sqrt(hd) + bias) V of one (image, head) for query rows [row0, row1) into out [B, N, D] at
// that head's columns (every key and value row is read); score rows are processed `block` at a time in
// `scratch` (block * tokens floats). Row ranges let a few heads be shared among more threads. bias (nullable,
// with s.bias_groups > 0): the whole [bias_groups, H, N, N] term; `image` adds group image % bias_groups.
void attention_head_cpu(const float* qkv, const AttentionShape& s, int image, int head, int row0, int row1, float* out,
                        float* scratch, int block, const float* bias = nullptr);

// The same on the packed GEMM kernel (ops/cpu_gemm.hpp), which runs these small products 1.4-1.7x faster
// than OpenBLAS: the head's K (times 1/sqrt(hd)) and V are packed into `scratch` first, then the score rows
// go through `block` at a time. scratch: attention_packed_scratch_floats(s, block) floats, 64-byte aligned.
// probs (nullable): the head's probabilities, rows [row0, row1) of an [N, N] buffer (explain mode); the
// outputs are the same bits either way. bias: as attention_head_cpu's.
std::size_t attention_packed_scratch_floats(const AttentionShape& s, int block);
void attention_head_packed(const float* qkv, const AttentionShape& s, int image, int head, int row0, int row1,
                           float* out, float* scratch, int block, CpuIsa isa, float* probs = nullptr,
                           const float* bias = nullptr);
// The [N, N] bias matrix of (image, head) inside a [bias_groups, H, N, N] bias, or null without one.
inline const float* attention_bias_matrix(const float* bias, const AttentionShape& s, int image, int head) {
  if (!bias || s.bias_groups <= 0) return nullptr;
  const long nn = static_cast<long>(s.tokens) * s.tokens;
  return bias + (static_cast<long>(image % s.bias_groups) * s.heads + head) * nn;
}

// Explain mode's head fusion: head `head` of `heads` probabilities p [nn] into fused [3, nn] (mean, max, min
// over heads); the mean is complete after the last head.
void fuse_head_probs(const float* p, long nn, int head, int heads, float* fused);

}  // namespace vitvk::ops
