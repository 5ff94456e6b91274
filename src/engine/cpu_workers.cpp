#include "engine/cpu_workers.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace vitvk {
namespace {

// A polite busy-wait step: lets the sibling hyper-thread run and saves power while polling.
inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls ready() until it holds or kSpin has passed; true if it holds.
template <class Ready>
bool spin_until(Ready ready) {
  const auto until = std::chrono::steady_clock::now() + CpuWorkers::kSpin;
  for (int i = 0;; ++i) {
    if (ready()) return true;
    relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return ready();
  }
}

}  // namespace

CpuWorkers::CpuWorkers(int threads) {
  for (int i = 1; i < threads; ++i) threads_.emplace_back([this, i] { loop(i); });
}

CpuWorkers::~CpuWorkers() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true);
  }
  start_.notify_all();
  for (auto& t : threads_) t.join();
}

void CpuWorkers::run(int tasks, const std::function<void(int, int)>& fn) {
  if (tasks <= 0) return;
  if (threads_.empty() || tasks == 1) {
    for (int t = 0; t < tasks; ++t) fn(t, 0);
    return;
  }
  fn_ = &fn;
  tasks_ = tasks;
  next_.store(0, std::memory_order_relaxed);
  busy_.store(static_cast<int>(threads_.size()), std::memory_order_relaxed);
  bool wake;
  {
    // Under the mutex so that a worker about to sleep either sees the new generation or is counted.
    std::lock_guard lock(mutex_);
    error_ = nullptr;
    generation_.fetch_add(1, std::memory_order_release);
    wake = sleepers_ > 0;
  }
  if (wake) start_.notify_all();
  work(0);
  const auto finished = [this] { return busy_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(finished)) {
    std::unique_lock lock(mutex_);
    waiting_ = true;
    done_.wait(lock, finished);
    waiting_ = false;
  }
  fn_ = nullptr;
  std::exception_ptr error;
  {
    std::lock_guard lock(mutex_);
    error = std::exchange(error_, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

void CpuWorkers::work(int worker) {
  for (int t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) {
    try {
      (*fn_)(t, worker);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void CpuWorkers::loop(int worker) {
  unsigned long seen = 0;
  for (;;) {
    const auto ready = [&] {
      return stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_acquire) != seen;
    };
    if (!spin_until(ready)) {
      std::unique_lock lock(mutex_);
      ++sleepers_;
      start_.wait(lock, ready);
      --sleepers_;
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    work(worker);
    if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard lock(mutex_);
      if (waiting_) done_.notify_one();
    }
  }
}

}  // namespace vitvk
