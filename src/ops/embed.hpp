#pragma once
// Token concat + position embedding: prefix tokens (class, distillation) in front of the patches, plus pos_embed.

namespace vitvk::ops {

// tokens: [B, T, D] whose rows prefix..T-1 already hold patch embeddings. Writes rows 0 (cls) and 1 (dist,
// when dist != nullptr), then adds pos [T, D] to every row.
void embed_tokens_cpu(float* tokens, int batch, int T, int D, const float* cls, const float* dist, const float* pos);

}  // namespace vitvk::ops

#include "vk/op_context.hpp"

namespace vitvk::ops {

// Vulkan (embed.vk.cpp, shaders/embed.comp). dist.size == 0 when there is no distillation token.
void embed_tokens_vk(gpu::OpContext& oc, const gpu::Slice& tokens, int batch, int T, int D, const gpu::Slice& cls,
                     const gpu::Slice& dist, const gpu::Slice& pos);

}  // namespace vitvk::ops
