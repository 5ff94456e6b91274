#pragma once
// BEiT / BEiT-v2 (timm beit.py): a ViT block with a learned relative position bias inside each attention, q and v
// biases without a k bias, layer scale (gamma_1, gamma_2), no absolute position embedding by default, and the
// mean of the patch tokens through fc_norm. Loaded into ViTWeights (model.hpp), the ViT builder runs it with the
// attention op's additive bias (graph::Node::bias).
#include <optional>
#include <vector>

#include "model/model.hpp"

namespace vitvk {

// Model::from_tensors for family BEiT (config.cpp decides the family from the architecture name).
Model beit_from_tensors(const ModelConfig& config, const SafeTensors& tensors, std::optional<int> img_size);

// The tensors of beit_* / beitv2_*'s default layout (what Model::random makes): a relative position table per
// block, q/v biases, layer scale, no pos_embed, fc_norm + head.
std::vector<std::pair<std::string, std::vector<int64_t>>> beit_tensor_shapes(const Model& m);

// timm's relative_position_index for a grid_h x grid_w patch grid with a class token in front: the row of a
// [(2 grid_h - 1)(2 grid_w - 1) + 3, heads] table that the score of (query i, key j) adds, for i, j over the
// grid_h * grid_w + 1 tokens ([tokens * tokens], row-major). The last three rows are class-to-patch,
// patch-to-class and class-to-class.
std::vector<int> beit_relative_position_index(int grid_h, int grid_w);

// timm's resize_rel_pos_bias_table (its default, scipy-free form) for a flat [(side^2) + 3, heads] table of a
// square src_side x src_side offset grid, to a dst_h x dst_w offset grid: each head's offsets are placed on
// BEiT's geometric progression of coordinates and resampled bilinearly at the integer offsets of the new grid
// (edges clamped); the three class-token rows are kept. Returns [dst_h * dst_w + 3, heads].
std::vector<float> resize_relative_position_table(const std::vector<float>& table, int heads, int src_side, int dst_h,
                                                  int dst_w);

}  // namespace vitvk
