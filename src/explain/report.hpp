#pragma once
// A self-contained static report page: DIR/index.html (inline CSS/JS, data as one inline JSON array, no
// network) plus the images it shows, written beside it under DIR/img/. A grid of thumbnails with top-k labels
// and probabilities; each card has an overlay toggle and an opacity slider (the heat layer is a second image
// stacked over the photo with CSS opacity, so the slider is live); click opens a larger view; paging keeps
// 5,000+ images responsive (images also load lazily). Inputs that failed are listed with their error.
//
// Opening index.html#selftest runs a check in the page (every card rendered across all pages, every image
// loaded, the toggle and slider change what is shown, the large view opens) and writes the verdict into
// document.title ("vitvk-selftest: PASS ..." / "vitvk-selftest: FAIL ...") and #selftest-result.
#include <opencv2/core.hpp>

#include <cstddef>
#include <filesystem>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "explain/overlay.hpp"
#include "explain/rollout.hpp"
#include "image/preprocess.hpp"

namespace vitvk {

struct ReportPrediction {
  std::string label;
  int index = 0;            // class index
  float probability = 0.f;  // [0, 1]
};

struct ReportOptions {
  std::string title = "vitvk classification report";
  std::vector<std::pair<std::string, std::string>> info;  // shown in the header, e.g. {"model", "..."}
  OverlayOptions overlay;   // colormap and outside dimming of the heat layers; opacity = sliders' start value
  int thumb_size = 320;     // longest side of grid images, pixels
  int view_size = 1024;     // longest side of large-view images
  int page_size = 60;       // cards per page
  int jpeg_quality = 88;
};

// Writes images as entries are added (so memory stays flat for large runs) and index.html on finish().
// add()/add_error() may be called from several threads; entries appear in the order they were added.
class ReportWriter {
 public:
  // Creates dir and dir/img (Error(Io) naming the path when it cannot).
  ReportWriter(std::filesystem::path dir, ReportOptions options = {});
  ReportWriter(const ReportWriter&) = delete;
  ReportWriter& operator=(const ReportWriter&) = delete;

  // photo_rgb8: the decoded original (8-bit RGB). map/geometry: both or neither (no overlay without them).
  void add(const std::string& name, const cv::Mat& photo_rgb8, std::span<const ReportPrediction> topk,
           const RolloutMap* map = nullptr, const CropGeometry* geometry = nullptr);
  void add_error(const std::string& name, const std::string& message);

  // Writes dir/index.html atomically; may be called again after more adds. Returns its path.
  std::filesystem::path finish();

  std::size_t images() const;
  std::size_t errors() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  struct Entry {
    std::string name;
    std::string error;                   // non-empty: a failed input
    std::string id;                      // asset base name
    int width = 0, height = 0;           // original size
    bool heat = false;
    std::vector<ReportPrediction> topk;
  };

  std::filesystem::path dir_;
  ReportOptions options_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  std::size_t next_id_ = 0;
  std::size_t errors_ = 0;
};

}  // namespace vitvk
