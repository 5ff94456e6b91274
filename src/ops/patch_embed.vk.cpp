#include <string>

#include "ops/patch_embed.hpp"
#include "vitvk/error.hpp"

namespace vitvk::ops {

namespace {

void patch_embed_impl(gpu::OpContext& oc, const gpu::Slice& images, const PatchEmbedShape& s,
                      const gpu::Slice& w_packed, const gpu::Slice& bias, const gpu::Slice& tokens,
                      int tokens_per_image, int first_token, const GemmConfig& cfg, bool int8) {
  if (s.batch < 0 || s.channels <= 0 || s.patch <= 0 || s.dim <= 0 || s.height <= 0 || s.width <= 0 ||
      s.height % s.patch || s.width % s.patch || first_token < 0 ||
      first_token + s.num_patches() > tokens_per_image)
    throw Error(ErrorCode::InvalidArgument,
                "patch_embed_vk: bad shape: batch " + std::to_string(s.batch) + ", " + std::to_string(s.channels) +
                    "x" + std::to_string(s.height) + "x" + std::to_string(s.width) + " images, patch " +
                    std::to_string(s.patch) + ", dim " + std::to_string(s.dim) + ", tokens " +
                    std::to_string(first_token) + ".." + std::to_string(tokens_per_image));
  if (s.batch == 0) return;
  const uint64_t es = oc.esize();
  const uint64_t image_count = uint64_t(s.batch) * s.channels * s.height * s.width;
  const int K = s.channels * s.patch * s.patch;
  auto require = [&](const gpu::Slice& sl, uint64_t bytes, const char* what) {
    if (sl.buffer == nullptr || sl.size < bytes)
      throw Error(ErrorCode::InvalidArgument, std::string("patch_embed_vk: the ") + what + " slice holds " +
                                                  std::to_string(sl.size) + " bytes, the shape needs " +
                                                  std::to_string(bytes));
  };
  require(images, image_count * es, "images");
  require(w_packed, detail::packed_weight_bytes(cfg, s.dim, K, int8, es), "packed weight");
  require(tokens, uint64_t(s.batch) * tokens_per_image * s.dim * es, "tokens");
  if (bias.size) require(bias, s.dim * es, "bias");

  // An 8-group of k is 8 consecutive, 8-aligned pixels of one patch row when patch and image width are
  // multiples of 8.
  const bool x_wide = s.patch % 8 == 0 && s.width % 8 == 0 && images.offset % (8 * es) == 0;

  detail::GemmPush push;
  push.M = s.batch * s.num_patches();
  push.N = s.dim;
  push.K = K;
  push.channels = s.channels;
  push.height = s.height;
  push.width = s.width;
  push.grid_w = s.grid_w();
  push.patches = s.num_patches();
  push.tokens_per_image = tokens_per_image;
  push.first_token = first_token;
  detail::gemm_dispatch(oc, "patch_embed", cfg, push, x_wide, s.patch, images, w_packed, bias, tokens,
                        int8 ? "patch_embed_int8" : "patch_embed", int8);
}

}  // namespace

void patch_embed_vk(gpu::OpContext& oc, const gpu::Slice& images, const PatchEmbedShape& s, const gpu::Slice& w_packed,
                    const gpu::Slice& bias, const gpu::Slice& tokens, int tokens_per_image, int first_token,
                    const GemmConfig& cfg) {
  patch_embed_impl(oc, images, s, w_packed, bias, tokens, tokens_per_image, first_token, cfg, false);
}

void patch_embed_vk_int8(gpu::OpContext& oc, const gpu::Slice& images, const PatchEmbedShape& s,
                         const gpu::Slice& w_int8, const gpu::Slice& bias, const gpu::Slice& tokens,
                         int tokens_per_image, int first_token, const GemmConfig& cfg) {
  patch_embed_impl(oc, images, s, w_int8, bias, tokens, tokens_per_image, first_token, cfg, true);
}

void patch_embed_vk_int8(gpu::OpContext& oc, const gpu::Slice& images, const PatchEmbedShape& s,
                         const gpu::Slice& w_int8, const gpu::Slice& bias, const gpu::Slice& tokens,
                         int tokens_per_image, int first_token) {
  patch_embed_vk_int8(oc, images, s, w_int8, bias, tokens, tokens_per_image, first_token, gemm_config(oc.device()));
}

void patch_embed_vk(gpu::OpContext& oc, const gpu::Slice& images, const PatchEmbedShape& s, const gpu::Slice& w_packed,
                    const gpu::Slice& bias, const gpu::Slice& tokens, int tokens_per_image, int first_token) {
  patch_embed_vk(oc, images, s, w_packed, bias, tokens, tokens_per_image, first_token, gemm_config(oc.device()));
}

}  // namespace vitvk::ops
