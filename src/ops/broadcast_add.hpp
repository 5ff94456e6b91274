#pragma once
// x[b, i] += v[i] for every batch entry b: position embeddings added to the patch tokens (models without a
// class token, where embed_tokens does not apply).

namespace vitvk::ops {

// x: [B, n], v: [n].
void broadcast_add_cpu(float* x, int batch, long n, const float* v);

}  // namespace vitvk::ops

#include "vk/op_context.hpp"

namespace vitvk::ops {

// Vulkan (broadcast_add.vk.cpp, shaders/broadcast_add.comp); x and v in the storage precision.
void broadcast_add_vk(gpu::OpContext& oc, const gpu::Slice& x, int batch, long n, const gpu::Slice& v);

}  // namespace vitvk::ops
