#pragma once
/// @file explain.hpp
/// Where the model looked: attention-rollout maps (Abnar & Zuidema 2020) and overlays of them on the photo.
#include <cstddef>
#include <string>
#include <vector>

#include "vitvk/export.h"
#include "vitvk/image.hpp"
#include "vitvk/prediction.hpp"

namespace vitvk {

/// How each layer's attention heads are fused into one matrix before rollout.
enum class AttentionFusion { Mean, Max, Min };

/// Rollout settings.
struct ExplainOptions {
  AttentionFusion fusion = AttentionFusion::Mean;
  /// In [0, 1): the lowest fraction of each layer's fused attention weights is set to zero before rollout
  /// (0.9 gives sharper maps). Anything else is Error(InvalidArgument).
  double discard_ratio = 0.0;
  int top_k = 5;  ///< predictions returned with the map (Explanation::top)
};

/// The model's input window in the source image: the source (source_width x source_height) was resized to
/// resized_width x resized_height and the crop_width x crop_height window at (crop_x, crop_y) of the resized
/// image was what the model saw (negative origin: zero padding). Maps cover exactly this window.
struct CropRegion {
  int source_width = 0, source_height = 0;
  int resized_width = 0, resized_height = 0;
  int crop_x = 0, crop_y = 0;
  int crop_width = 0, crop_height = 0;
};

/// A rollout map: one value per image patch, row-major, scaled so the maximum is 1 (all zero stays zero).
struct AttentionMap {
  int width = 0;              ///< patch-grid columns (input width / patch size)
  int height = 0;             ///< patch-grid rows
  std::vector<float> values;  ///< width * height values in [0, 1]
  ExplainOptions options;     ///< how it was computed
  CropRegion crop;            ///< where the grid lies in the source image

  float at(int x, int y) const { return values[static_cast<std::size_t>(y) * width + x]; }
};

/// A classification together with its rollout map (both from one forward pass).
struct Explanation {
  std::vector<Prediction> top;
  AttentionMap map;
};

/// How an overlay is drawn.
struct OverlayStyle {
  float opacity = 0.5f;             ///< [0, 1]: 0 = photo only, 1 = heat colours only (inside the crop)
  std::string colormap = "viridis"; ///< viridis, inferno, magma, plasma, turbo, cividis, jet, hot, ...
  float outside_brightness = 0.45f; ///< [0, 1]: the photo outside the model's crop is dimmed to this
};

/// Draws `map` over `photo` (the image it was computed for, or a scaled copy of it, e.g. a thumbnail): the map
/// is upsampled bicubically onto the crop region, coloured and blended. Returns an Rgb8 image of the photo's size.
/// Throws Error(InvalidArgument) for an empty map, a bad view or option (an unknown colormap lists the names).
VITVK_API Image render_overlay(const ImageView& photo, const AttentionMap& map, const OverlayStyle& style = {});

}  // namespace vitvk
