#pragma once
// One input's classification outcome, as the pipeline delivers it and the writers print it.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "explain/rollout.hpp"
#include "image/preprocess.hpp"
#include "pipeline/topk.hpp"

namespace vitvk::pipeline {

struct ClassifyResult {
  std::size_t input = 0;  // position in the input list
  std::filesystem::path path;
  std::string error;             // non-empty: this input failed, and why
  std::vector<ScoredClass> top;  // most probable first; probabilities are fp32 softmax of the logits
  std::vector<float> logits;     // only when asked for
  std::vector<float> embedding;  // only when asked for: the pre-head features (ForwardResult::features)
  // Explain runs only (ClassifyOptions::explain), for classified inputs: the decoded photo (8-bit RGB, downscaled
  // to ExplainOptions::max_photo_side), where the model's crop lies in the original image (geometry refers to
  // the original size; the overlay functions scale it to the photo), and the attention-rollout map.
  cv::Mat photo;
  CropGeometry geometry;
  RolloutMap rollout;  // w = h = 0 when not computed
  bool ok() const { return error.empty(); }
};

}  // namespace vitvk::pipeline
