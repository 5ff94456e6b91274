#pragma once
/// @file prediction.hpp
/// One ranked class of a classification.
#include <string>

namespace vitvk {

/// A class and its probability (fp32 softmax of the logits).
struct Prediction {
  int index = 0;            ///< class index into ModelInfo::labels
  std::string label;        ///< the class name from the model's config.json ("class N" when it has none)
  float probability = 0.f;  ///< in [0, 1]
};

}  // namespace vitvk
