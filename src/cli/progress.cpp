#include "cli/progress.hpp"

#include <fmt/core.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace vitvk::cli {
namespace {

int terminal_columns() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

}  // namespace

ProgressBar::ProgressBar(std::size_t total, bool enabled)
    : total_(total), enabled_(enabled), tty_(::isatty(STDERR_FILENO) == 1), start_(Clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() { clear(); }

void ProgressBar::clear() {
  if (!drawn_) return;
  std::fputs("\r\x1b[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

void ProgressBar::update(std::size_t done) {
  if (!enabled_) return;
  const auto now = Clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const std::string eta = rate > 0 && done < total_ ? clock_text(static_cast<double>(total_ - done) / rate) : "--:--";
  if (!tty_) {  // a log: one line a minute (a short run prints none; its summary line says the rest)
    if (done >= total_ || now - last_draw_ < std::chrono::seconds(60)) return;
    last_draw_ = now;
    std::fprintf(stderr, "vitvk: %zu/%zu (%.1f %%)  %.1f img/s  elapsed %s  ETA %s\n", done, total_,
                 total_ ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0, rate,
                 clock_text(elapsed).c_str(), eta.c_str());
    return;
  }
  if (drawn_ && done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const std::string tail = fmt::format(" {}/{}  {:.1f} img/s  ETA {}", done, total_, rate, eta);
  // The bar takes what the terminal width leaves; one column spare so the cursor never wraps.
  const int width = std::clamp(terminal_columns() - static_cast<int>(tail.size()) - 3, 0, 50);
  const int filled = total_ ? static_cast<int>(static_cast<double>(width) * static_cast<double>(done) / static_cast<double>(total_)) : width;
  std::string bar;
  if (width > 0) {
    bar.assign(1, '[');
    bar.append(static_cast<std::size_t>(filled), '#').append(static_cast<std::size_t>(width - filled), '.').push_back(']');
  }
  std::fprintf(stderr, "\r%s%s\x1b[K", bar.c_str(), tail.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace vitvk::cli
