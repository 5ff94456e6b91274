#pragma once
// `vitvk bench --filter-sweep`: GFNet's global filter alone on the GPU, VkFFT against the dense DFT passes,
// over token grids, so the crossover is known (ops::SpectralImpl::Auto follows it).
#include <optional>
#include <string>
#include <vector>

namespace vitvk::cli {

struct FilterSweepOptions {
  std::vector<int> grids{7, 14, 24, 32};  // square token grids (patch 16: 112, 224, 384, 512 px)
  int channels = 256;
  int batch = 1;
  int iterations = 10, warmup = 2, reps = 4;  // reps: filter layers recorded per submitted command buffer
  bool fp16 = false;
  std::optional<int> device;
  std::string format = "table";
};

int run_filter_sweep(const FilterSweepOptions& o);

}  // namespace vitvk::cli
