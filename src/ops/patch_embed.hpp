#pragma once
// Patch embedding: the stride-P, kernel-P convolution of timm's PatchEmbed, as im2col + GEMM.

namespace vitvk::ops {

struct PatchEmbedShape {
  int batch = 1;
  int channels = 3;
  int height = 0, width = 0;  // multiples of patch
  int patch = 16;
  int dim = 0;
  int grid_h() const { return height / patch; }
  int grid_w() const { return width / patch; }
  int num_patches() const { return grid_h() * grid_w(); }
};

// images: [B, C, H, W]; weight: [dim, C*P*P] (conv kernel flattened [c][ky][kx]); bias: [dim].
// Writes patch p of image b to tokens[(b * tokens_per_image + first_token + p) * dim].
void patch_embed_cpu(const float* images, const PatchEmbedShape& s, const float* weight, const float* bias,
                     float* tokens, int tokens_per_image, int first_token);

}  // namespace vitvk::ops

#include <span>
#include <vector>

#include "ops/gemm.hpp"
#include "vk/op_context.hpp"

namespace vitvk::ops {

// --- Vulkan (patch_embed.vk.cpp, shaders/patch_embed.comp): im2col on the fly + GEMM with bias. ---
// The weight [dim, C*P*P] is packed like a linear layer's (linear_vk_pack with N = dim, K = C*P*P).
void patch_embed_vk(gpu::OpContext& oc, const gpu::Slice& images, const PatchEmbedShape& s, const gpu::Slice& w_packed,
                    const gpu::Slice& bias, const gpu::Slice& tokens, int tokens_per_image, int first_token);
void patch_embed_vk(gpu::OpContext& oc, const gpu::Slice& images, const PatchEmbedShape& s, const gpu::Slice& w_packed,
                    const gpu::Slice& bias, const gpu::Slice& tokens, int tokens_per_image, int first_token,
                    const GemmConfig& cfg);
// int8 weights (VITVK_INT8_LAYERS=patch on an int8 backend), packed by linear_vk_pack_int8; as linear_vk_int8.
void patch_embed_vk_int8(gpu::OpContext& oc, const gpu::Slice& images, const PatchEmbedShape& s,
                         const gpu::Slice& w_int8, const gpu::Slice& bias, const gpu::Slice& tokens,
                         int tokens_per_image, int first_token, const GemmConfig& cfg);
void patch_embed_vk_int8(gpu::OpContext& oc, const gpu::Slice& images, const PatchEmbedShape& s,
                         const gpu::Slice& w_int8, const gpu::Slice& bias, const gpu::Slice& tokens,
                         int tokens_per_image, int first_token);

}  // namespace vitvk::ops
