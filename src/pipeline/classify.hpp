#pragma once
// The batched classify pipeline: decode + preprocess on a worker pool, overlapped with inference
// (double-buffered: while batch i runs, batch i+1 decodes), results delivered in input order.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "explain/rollout.hpp"
#include "image/preprocess.hpp"
#include "pipeline/enumerate.hpp"
#include "pipeline/result.hpp"
#include "pipeline/topk.hpp"
#include "pipeline/worker_pool.hpp"

namespace vitvk::pipeline {

// Attention rollout from the same forward pass that gives the labels. The attention buffer of a batch is reduced
// to one small map per image right after its forward pass and dropped.
struct ExplainOptions {
  bool enabled = false;        // forward in explain mode; results carry photo, geometry and rollout
  RolloutOptions rollout;
  int max_photo_side = 1024;   // longest side of ClassifyResult::photo (INTER_AREA downscale); 0 = full size
};

struct ClassifyOptions {
  int top_k = 5;             // clamped to the number of classes
  int batch = 8;             // images per forward pass
  int jobs = 0;              // decode workers; <= 0: one per hardware thread
  bool keep_logits = false;  // fill ClassifyResult::logits
  bool keep_embedding = false;  // fill ClassifyResult::embedding (the pre-head features)
  DecodeLimits limits;
  ExplainOptions explain;
};

struct ClassifyStats {
  std::size_t inputs = 0, classified = 0, failed = 0;
  double seconds = 0;            // wall time of run()
  double forward_seconds = 0;    // time spent inside Backend::forward
};

// Reusable: the worker pool lives as long as the Classifier. One run() at a time (the backend is not shared-safe).
class Classifier {
 public:
  // Throws Error(InvalidArgument) for top_k < 1, batch < 1 or bad explain options, and Error(Unsupported) when
  // explain is asked of a model without attention maps (Model::has_attention_maps).
  Classifier(Backend& backend, const ClassifyOptions& options);

  // Classifies every input, calling on_result exactly once per input, in input order, on the calling thread, as
  // each batch finishes. A bad input yields a result with `error` set and never stops the run; errors from the
  // backend or from on_result propagate (the run stops).
  ClassifyStats run(std::span<const InputEntry> inputs, const std::function<void(const ClassifyResult&)>& on_result);

  const ClassifyOptions& options() const { return options_; }

 private:
  Backend& backend_;
  ClassifyOptions options_;
  WorkerPool pool_;
};

// `image` scaled down (INTER_AREA) so its longest side is at most max_side (0: returned as is). Sizes round to
// nearest: w' = max(1, round(w * max_side / max(w, h))).
cv::Mat cap_longest_side(const cv::Mat& image, int max_side);

// The reason part of an error message: drops a leading "<path>: " so rows that already name the file do not
// repeat it.
std::string error_reason(const std::filesystem::path& path, const std::string& message);

}  // namespace vitvk::pipeline
