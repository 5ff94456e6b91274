#pragma once
// Token concat + position embedding: prefix tokens (class, distillation) in front of the patches, plus pos_embed.

namespace vitvk::ops {

// tokens: [B, T, D] whose rows prefix..T-1 already hold patch embeddings. Writes rows 0 (cls) and 1 (dist,
// when dist != nullptr), then adds pos [T, D] to every row.
void embed_tokens_cpu(float* tokens, int batch, int T, int D, const float* cls, const float* dist, const float* pos);

}  // namespace vitvk::ops
