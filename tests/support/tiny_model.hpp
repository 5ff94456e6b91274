#pragma once
// Random-weight models the tests make themselves: no shared data needed.
#include <string>

#include "model/config.hpp"
#include "model/model.hpp"

namespace vitvk::test {

// A small ViT: 32x32 input, patch 8 (4x4 grid), dim 24, 2 blocks, 2 heads, 10 classes; `distilled` adds a
// distillation token and head_dist. Image size and patch can be overridden for odd-shape tests.
inline ModelConfig tiny_config(bool distilled = false, int img = 32, int patch = 8, int dim = 24, int depth = 2,
                               int heads = 2, int classes = 10) {
  ModelConfig c;
  c.architecture = distilled ? "deit_test_distilled" : "vit_test";
  c.img_size = img;
  c.patch_size = patch;
  c.embed_dim = dim;
  c.depth = depth;
  c.num_heads = heads;
  c.num_classes = classes;
  c.distilled = distilled;
  c.preprocess.height = c.preprocess.width = img;
  for (int i = 0; i < classes; ++i) c.labels.push_back("label " + std::to_string(i));
  return c;
}

}  // namespace vitvk::test
