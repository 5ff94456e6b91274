#pragma once
// EVA-02's rotary position tables (the sin / cos that ops/rope.hpp applies). timm keeps them out of its
// state_dict, so the loader derives them from the patch grid (model/load_eva.cpp); pure arithmetic, no backend.
#include <vector>

namespace vitvk {

// The tables of timm's RotaryEmbeddingCat for a grid_h x grid_w patch grid (row-major tokens), in_pixels=False:
// num_bands = head_dim / 4 frequencies f_j = temperature^(-j / num_bands); a token at grid row y, column x has
// coordinates t_y = (y + offset) * ref_h / grid_h and t_x = (x + offset) * ref_w / grid_w (ref 0: unscaled,
// t = y + offset), and angles t_y f_0 .. t_y f_{nb-1}, t_x f_0 .. t_x f_{nb-1} (the row coordinate first: 'ij'
// indexing), one per pair. Interleaved pairs repeat each angle twice ([a0, a0, a1, a1, ...]); rotate_half lays
// the angles out twice over ([a0, a1, ..., a0, a1, ...]). head_dim must be a multiple of 4.
struct RopeTables {
  std::vector<float> sin, cos;  // [grid_h * grid_w, head_dim] each
};
struct RopeGrid {
  int grid_h = 0, grid_w = 0;
  int ref_h = 0, ref_w = 0;  // ref_feat_shape (0: none)
  double temperature = 10000.0;
  double offset = 0.0;  // rope_grid_offset
  bool rotate_half = false;
};
RopeTables rope_tables_2d(const RopeGrid& g, int head_dim);

}  // namespace vitvk
