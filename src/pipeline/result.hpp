#pragma once
// One input's classification outcome, as the pipeline delivers it and the writers print it.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/topk.hpp"

namespace vitvk::pipeline {

struct ClassifyResult {
  std::size_t input = 0;  // position in the input list
  std::filesystem::path path;
  std::string error;             // non-empty: this input failed, and why
  std::vector<ScoredClass> top;  // most probable first; probabilities are fp32 softmax of the logits
  std::vector<float> logits;     // only when asked for
  bool ok() const { return error.empty(); }
};

}  // namespace vitvk::pipeline
