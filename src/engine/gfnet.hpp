#pragma once
// GFNet (family ModelFamily::GFNet) forward passes. make_cpu_backend / make_vulkan_backend hand GFNet models
// here; the ViT backends stay as they are.
//   x = patch_embed(image) + pos_embed
//   per block: x = x + fc2(gelu(fc1(norm2(global_filter(norm1(x))))))   (one residual)
//   logits = head(mean over tokens of norm(x))
// GFNet has no attention: explain mode (attention maps) throws Error(Unsupported).
#include <memory>

#include "engine/backend.hpp"

namespace vitvk {

std::unique_ptr<Backend> make_gfnet_cpu_backend(std::shared_ptr<const Model> model);
std::unique_ptr<Backend> make_gfnet_vulkan_backend(std::shared_ptr<const Model> model, const VulkanBackendOptions& options);

// The error explain mode gets on a GFNet model.
[[noreturn]] void throw_gfnet_no_attention(const Model& model);

}  // namespace vitvk
