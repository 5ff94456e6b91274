#pragma once
// A one-line progress bar on stderr (done/total, images/s, ETA), drawn only when stderr is a terminal.
#include <chrono>
#include <cstddef>

namespace vitvk::cli {

class ProgressBar {
 public:
  // Disabled (draws nothing, ever) when `enabled` is false or stderr is not a terminal.
  ProgressBar(std::size_t total, bool enabled);
  ~ProgressBar();  // erases the bar
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws at most ~10 times a second, and always for the last item.
  void update(std::size_t done);
  // Erases the bar so other terminal output (results on stdout) does not run into it; update() redraws it.
  void clear();
  bool enabled() const { return enabled_; }

 private:
  using Clock = std::chrono::steady_clock;
  std::size_t total_;
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point start_, last_draw_{};
};

}  // namespace vitvk::cli
