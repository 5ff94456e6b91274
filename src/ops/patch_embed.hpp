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
