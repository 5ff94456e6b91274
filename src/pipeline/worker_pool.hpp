#pragma once
// A fixed set of threads running queued tasks in FIFO order (image decoding for the classify pipeline).
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vitvk::pipeline {

class WorkerPool {
 public:
  // threads <= 0: one per hardware thread.
  explicit WorkerPool(int threads);
  // Finishes the tasks already running, drops the queued ones, joins. Tasks must not throw.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void submit(std::function<void()> task);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void loop(std::stop_token stop);

  std::mutex mutex_;
  std::condition_variable_any cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::jthread> threads_;  // last member: joined (in ~jthread) before the queue is destroyed
};

}  // namespace vitvk::pipeline
