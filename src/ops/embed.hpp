#pragma once
// Token concat + position embedding: prefix tokens (class, registers, distillation) in front of the patches,
// plus pos_embed over the last `pos_rows` tokens (all of them, or the patches only as in DeiT-III / DINOv2-reg).
#include "vk/buffer.hpp"
#include "vk/op_context.hpp"

namespace vitvk::ops {

struct EmbedShape {
  int batch = 1;
  int tokens = 0;    // T: prefix + patches
  int dim = 0;
  int prefix = 0;    // rows 0..prefix-1 come from the prefix tensor
  int pos_rows = 0;  // pos_embed is added to rows T-pos_rows..T-1 (0: no position embedding)
};

// tokens: [B, T, D] whose rows prefix..T-1 already hold patch embeddings. Writes the prefix rows from
// prefix [prefix, D], then adds pos [pos_rows, D] to the last pos_rows rows.
void embed_tokens_cpu(float* tokens, const EmbedShape& s, const float* prefix, const float* pos);

// Vulkan (embed.vk.cpp, shaders/embed.comp); every slice in the storage precision. prefix.size may be 0
// when s.prefix == 0, pos.size when s.pos_rows == 0.
void embed_tokens_vk(gpu::OpContext& oc, const gpu::Slice& tokens, const EmbedShape& s, const gpu::Slice& prefix,
                     const gpu::Slice& pos);

}  // namespace vitvk::ops
