#pragma once
// The CPU backend's thread team: a fixed set of worker threads running one parallel loop at a time, the
// calling thread taking part as worker 0. A forward pass at batch 1 is ~100 loops of ~0.1 ms each, so how
// fast an idle worker notices the next loop matters as much as the loops themselves: workers spin briefly
// (kSpin) before sleeping on a condition variable, and the caller spins briefly for the last task to finish.
// Sleeping after every loop cost a futex wake-up per loop and per worker (measured: ~136 context switches
// per ViT-Ti pass, 1.33 of 2 cores busy).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace vitvk {

class CpuWorkers {
 public:
  // How long an idle thread polls before sleeping: long enough to bridge the gap between two loops of a
  // pass (microseconds), short enough that an idle backend costs nothing measurable.
  static constexpr std::chrono::microseconds kSpin{200};

  explicit CpuWorkers(int threads);
  ~CpuWorkers();
  CpuWorkers(const CpuWorkers&) = delete;
  CpuWorkers& operator=(const CpuWorkers&) = delete;

  int size() const { return static_cast<int>(threads_.size()) + 1; }

  // fn(task, worker) for task in [0, tasks), handed out dynamically; returns when all are done and rethrows
  // the first exception a task threw. One loop at a time: not to be called concurrently.
  void run(int tasks, const std::function<void(int, int)>& fn);

 private:
  void work(int worker);
  void loop(int worker);

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  // Written by run() before it publishes a new generation (release), read by workers after seeing it (acquire).
  const std::function<void(int, int)>* fn_ = nullptr;
  int tasks_ = 0;
  std::atomic<int> next_{0};
  std::atomic<int> busy_{0};                  // workers still in the current loop
  std::atomic<unsigned long> generation_{0};  // bumped once per loop
  std::atomic<bool> stop_{false};
  int sleepers_ = 0;  // workers waiting on start_ (guarded by mutex_)
  bool waiting_ = false;  // run() waiting on done_ (guarded by mutex_)
  std::exception_ptr error_;  // guarded by mutex_
};

}  // namespace vitvk
