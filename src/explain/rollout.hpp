#pragma once
// Attention rollout (Abnar & Zuidema 2020) over the head-fused attention a backend returns in explain mode,
// and the raw map's file formats (.npy, .json).
//
// Definition, per image (matches tools/goldens/rollout_reference.py, which the tests compare against):
//   per layer l: F = the chosen head fusion (mean | max | min over heads) of the attention probabilities [N, N];
//     discard ratio r > 0: among all N*N entries of F the k = floor(N*N*r) smallest (ties: lower flat index
//       first) are set to 0, except flat entry 0 (class token -> class token), which is always kept — the
//       jacobgil/vit-explain rule, so with r > 0 at most k entries are zeroed;
//     A'_l = (F + I) / 2 with every row divided by its own sum (jacobgil's `a / a.sum(dim=-1)` broadcasts the
//       row sums over columns instead; the two agree when r = 0);
//   R = A'_L ... A'_1; the map is the row of R the head reads, over the patch tokens (prefix tokens — registers,
//   the distillation token — take part in the product but are not patches and are left out of the map), as
//   grid_h x grid_w, divided by its maximum (all-zero stays zero). The row the head reads: the class token's
//   (token pooling); the mean of the patch rows (average pooling); for the attention-pool head (map), the pool
//   query's fused attention over the patch tokens, as a last factor without identity term.
// Computed in double: only R's first row is needed, so it is accumulated as e0^T A'_L ... A'_1 (O(L N^2)).
#include <filesystem>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "model/model.hpp"

namespace vitvk {

enum class HeadFusion { Mean = 0, Max = 1, Min = 2 };  // = index into ForwardResult::attention's fused axis

HeadFusion parse_head_fusion(const std::string& s);  // "mean" | "max" | "min"; throws Error(InvalidArgument)
const char* to_string(HeadFusion f) noexcept;

struct RolloutOptions {
  HeadFusion head_fusion = HeadFusion::Mean;
  double discard_ratio = 0.0;  // [0, 1): the lowest fraction of each layer's fused weights set to 0
};

struct RolloutMap {
  int w = 0, h = 0;             // patch grid
  std::vector<float> values;    // h * w, row-major, max 1 (unless all zero)
  RolloutOptions options;       // how it was computed (written into the .json)

  float at(int x, int y) const { return values[static_cast<std::size_t>(y) * w + x]; }
};

// Throws Error(InvalidArgument) for a result without attention (forward without explain), an image index out
// of range, sizes that do not fit `dims`, or a discard ratio outside [0, 1).
RolloutMap rollout(const ForwardResult& result, int image, const RolloutOptions& options, const ModelDims& dims);

// NPY v1.0: float32 little-endian, C order, shape (h, w).
std::vector<uint8_t> encode_npy(const RolloutMap& map);
// {"width", "height", "head_fusion", "discard_ratio", "values": [[row 0], ...]}.
std::string rollout_to_json(const RolloutMap& map);
// Both write atomically (temp file + rename); Error(Io) names the path.
void write_rollout_npy(const std::filesystem::path& path, const RolloutMap& map);
void write_rollout_json(const std::filesystem::path& path, const RolloutMap& map);

enum class RolloutFormat { Npy, Json };
RolloutFormat parse_rollout_format(const std::string& s);  // "npy" | "json"; throws Error(InvalidArgument)
const char* file_extension(RolloutFormat f) noexcept;      // ".npy" | ".json"
void write_rollout(const std::filesystem::path& path, const RolloutMap& map, RolloutFormat format);

}  // namespace vitvk
