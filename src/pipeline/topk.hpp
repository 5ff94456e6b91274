#pragma once
// Class probabilities (fp32 softmax of the logits) and the k most probable classes.
#include <span>
#include <vector>

namespace vitvk::pipeline {

struct ScoredClass {
  int index = 0;
  float prob = 0.f;
};

// softmax(logits) in fp32 (max-subtracted).
std::vector<float> softmax(std::span<const float> logits);

// The min(k, size) largest entries, largest first; equal values in ascending index order (deterministic).
std::vector<ScoredClass> top_k(std::span<const float> probs, int k);

}  // namespace vitvk::pipeline
