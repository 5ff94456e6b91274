#pragma once
// Progress on stderr (done/total, images/s, time left): a one-line bar redrawn in place when stderr is a
// terminal; otherwise (a batch job's log: Kubernetes, Slurm, nohup) a plain line once a minute, so a long run
// still shows its rate and time left without flooding the log.
#include <chrono>
#include <cstddef>

namespace vitvk::cli {

class ProgressBar {
 public:
  // Disabled (prints nothing, ever) when `enabled` is false.
  ProgressBar(std::size_t total, bool enabled);
  ~ProgressBar();  // erases the bar
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws at most ~10 times a second, and always for the last item.
  void update(std::size_t done);
  // Erases the bar so other terminal output (results on stdout) does not run into it; update() redraws it.
  void clear();
  bool enabled() const { return enabled_ && tty_; }  // draws a bar that other terminal output must not run into

 private:
  using Clock = std::chrono::steady_clock;
  std::size_t total_;
  bool enabled_;
  bool tty_;
  bool drawn_ = false;
  Clock::time_point start_, last_draw_{};
};

}  // namespace vitvk::cli
