#include "pipeline/classify.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <latch>
#include <memory>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "vitvk/error.hpp"

namespace vitvk::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// One batch in flight: inputs [first, first + count), decoded into consecutive image slots.
struct Slot {
  std::size_t first = 0, count = 0;
  std::vector<float> pixels;        // batch * image_floats
  std::vector<std::string> errors;  // per input; empty = decoded
  std::vector<cv::Mat> photos;      // explain only: per input, the capped photo
  std::vector<CropGeometry> geometry;  // explain only
  std::unique_ptr<std::latch> done;
};

}  // namespace

cv::Mat cap_longest_side(const cv::Mat& image, int max_side) {
  const int side = std::max(image.cols, image.rows);
  if (max_side <= 0 || side <= max_side) return image;
  const double s = static_cast<double>(max_side) / side;
  const cv::Size size(std::max(1, static_cast<int>(std::lround(image.cols * s))),
                      std::max(1, static_cast<int>(std::lround(image.rows * s))));
  cv::Mat out;
  cv::resize(image, out, size, 0, 0, cv::INTER_AREA);
  return out;
}

std::string error_reason(const std::filesystem::path& path, const std::string& message) {
  const std::string prefix = path.string() + ": ";
  if (message.size() > prefix.size() && message.compare(0, prefix.size(), prefix) == 0)
    return message.substr(prefix.size());
  return message;
}

Classifier::Classifier(Backend& backend, const ClassifyOptions& options)
    : backend_(backend), options_(options), pool_(options.jobs) {
  if (options_.top_k < 1) throw Error(ErrorCode::InvalidArgument, "top-k must be at least 1");
  if (options_.batch < 1) throw Error(ErrorCode::InvalidArgument, "batch size must be at least 1");
  if (options_.explain.enabled) {
    const ExplainOptions& e = options_.explain;
    if (!(e.rollout.discard_ratio >= 0.0 && e.rollout.discard_ratio < 1.0))
      throw Error(ErrorCode::InvalidArgument, fmt::format("discard ratio {} is outside [0, 1)", e.rollout.discard_ratio));
    if (e.max_photo_side < 0) throw Error(ErrorCode::InvalidArgument, "the photo size cap must not be negative");
    const Model& m = backend_.model();
    if (!m.has_attention_maps())
      throw Error(ErrorCode::Unsupported, "attention rollout needs attention maps, and " + m.no_attention_maps_reason());
  }
}

ClassifyStats Classifier::run(std::span<const InputEntry> inputs,
                              const std::function<void(const ClassifyResult&)>& on_result) {
  const auto t0 = Clock::now();
  const Model& model = backend_.model();
  const ModelDims& d = model.dims;
  const PreprocessConfig& pre = model.config.preprocess;
  const std::size_t image_floats = static_cast<std::size_t>(d.channels) * d.img_h * d.img_w;
  const std::size_t batch = static_cast<std::size_t>(options_.batch);
  const std::size_t groups = (inputs.size() + batch - 1) / batch;

  const ExplainOptions& explain = options_.explain;

  ClassifyStats stats;
  stats.inputs = inputs.size();
  Slot slots[2];
  for (Slot& s : slots) s.pixels.resize(batch * image_floats);

  // Queues the decodes of group g into slot s. Tasks only touch their own slot entries; the latch publishes them.
  auto start = [&](std::size_t g, Slot& s) {
    s.first = g * batch;
    s.count = std::min(batch, inputs.size() - s.first);
    s.errors.assign(s.count, {});
    if (explain.enabled) {
      s.photos.assign(s.count, {});
      s.geometry.assign(s.count, {});
    }
    s.done = std::make_unique<std::latch>(static_cast<std::ptrdiff_t>(s.count));
    for (std::size_t j = 0; j < s.count; ++j) {
      const InputEntry& in = inputs[s.first + j];
      if (!in.ok()) {
        s.errors[j] = in.error;
        s.done->count_down();
        continue;
      }
      pool_.submit([&s, &in, &pre, j, image_floats, limits = options_.limits, &explain] {
        try {
          // BGR as decoded: the model input does not need the full-image channel swap.
          const cv::Mat bgr = decode_image_file(in.path, limits, PixelOrder::Bgr);
          const CropGeometry g = preprocess_into(bgr, pre, std::span<float>(s.pixels).subspan(j * image_floats, image_floats),
                                                 PixelOrder::Bgr);
          if (explain.enabled) {  // a copy small enough to keep until the result is written
            s.geometry[j] = g;
            cv::Mat rgb;
            cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
            s.photos[j] = cap_longest_side(rgb, explain.max_photo_side);
          }
        } catch (const std::exception& e) {  // vitvk::Error, cv::Exception, bad_alloc: all become an error row
          s.errors[j] = error_reason(in.path, e.what());
          if (s.errors[j].empty()) s.errors[j] = "unknown error";
        }
        s.done->count_down();
      });
    }
  };

  // The pool may still be running tasks of the next group if on_result or forward throws; wait for them before
  // the slots go away.
  struct DrainOnExit {
    Slot* slots;
    ~DrainOnExit() {
      for (int i = 0; i < 2; ++i)
        if (slots[i].done) slots[i].done->wait();
    }
  } drain{slots};

  if (groups > 0) start(0, slots[0]);
  for (std::size_t g = 0; g < groups; ++g) {
    Slot& s = slots[g % 2];
    s.done->wait();
    if (g + 1 < groups) start(g + 1, slots[(g + 1) % 2]);  // decodes while this batch runs

    // Pack the decoded images to the front of the slot (failed ones leave gaps).
    int n = 0;
    for (std::size_t j = 0; j < s.count; ++j) {
      if (!s.errors[j].empty()) continue;
      if (static_cast<std::size_t>(n) != j)
        std::memmove(s.pixels.data() + n * image_floats, s.pixels.data() + j * image_floats, image_floats * sizeof(float));
      ++n;
    }
    ForwardResult fr;
    if (n > 0) {
      const auto tf = Clock::now();
      fr = backend_.forward(std::span<const float>(s.pixels).first(n * image_floats), n, {.explain = explain.enabled});
      stats.forward_seconds += since(tf);
      if (explain.enabled && fr.attention.empty())
        throw Error(ErrorCode::Unsupported, "the " + backend_.name() + " backend returned no attention maps for " +
                                                model.config.architecture + ": attention rollout is not available");
    }

    int b = 0;
    for (std::size_t j = 0; j < s.count; ++j) {
      ClassifyResult r;
      r.input = s.first + j;
      r.path = inputs[r.input].path;
      if (!s.errors[j].empty()) {
        r.error = std::move(s.errors[j]);
        ++stats.failed;
      } else {
        if (fr.num_classes > 0) {  // a checkpoint without a classifier has features only
          const auto logits = fr.logits_of(b);
          r.top = top_k(softmax(logits), options_.top_k);
          if (options_.keep_logits) r.logits.assign(logits.begin(), logits.end());
        }
        if (options_.keep_embedding) {
          const std::size_t dim = static_cast<std::size_t>(fr.dim);
          if (fr.features.size() < (static_cast<std::size_t>(b) + 1) * dim || dim == 0)
            throw Error(ErrorCode::Internal, "the " + backend_.name() + " backend returned no embeddings");
          r.embedding.assign(fr.features.begin() + static_cast<std::ptrdiff_t>(b * dim),
                             fr.features.begin() + static_cast<std::ptrdiff_t>((b + 1) * dim));
        }
        if (explain.enabled) {
          r.photo = std::move(s.photos[j]);
          r.geometry = s.geometry[j];
          r.rollout = rollout(fr, b, explain.rollout, d);
        }
        ++b;
        ++stats.classified;
      }
      on_result(r);
    }
  }
  stats.seconds = since(t0);
  return stats;
}

}  // namespace vitvk::pipeline
