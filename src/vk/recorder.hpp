#pragma once
// Records a whole graph into one command buffer: dispatches with push descriptors (or, without them, descriptor
// sets from a pool reset once per recording) and push constants,
// buffer copies, and a full compute/transfer barrier between dependent commands; one submit, one fence wait.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "vk/buffer.hpp"

struct VkCommandBuffer_T;  // Vulkan's handle type, without including the Vulkan headers here

namespace vitvk::gpu {

class Context;
class Kernel;

struct OpTiming {
  std::string label;
  double ms = 0;
};

class Recorder {
 public:
  explicit Recorder(Context& ctx);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Starts a new recording (the previous one must have been submitted). With profiling, every dispatch is
  // bracketed by timestamps (where the queue supports them) and timings() reports them after submit.
  void begin(bool profiling = false);

  // Binds `bindings` to 0..n-1 and dispatches groups. A barrier is inserted first when anything was recorded
  // since the last barrier: every op reads what the previous one wrote.
  void dispatch(const Kernel& kernel, std::initializer_list<Slice> bindings, const void* push, uint32_t push_size,
                uint32_t gx, uint32_t gy = 1, uint32_t gz = 1, const char* label = nullptr);
  template <class Push>
  void dispatch(const Kernel& kernel, std::initializer_list<Slice> bindings, const Push& push, uint32_t gx,
                uint32_t gy = 1, uint32_t gz = 1, const char* label = nullptr) {
    dispatch(kernel, bindings, &push, sizeof(Push), gx, gy, gz, label);
  }

  void copy(const Slice& src, const Slice& dst);
  void fill_zero(const Slice& dst);

  // For libraries that append their own commands (VkFFT): the recording command buffer, after the barrier
  // that orders whatever comes next after everything recorded so far. Call mark_pending() once the commands
  // are in, so that the next command waits for what they wrote (and, when profiling, the time since the
  // previous timestamp is reported under `label`).
  VkCommandBuffer_T* raw_command_buffer();
  void mark_pending(const char* label = nullptr);
  // Counts begin() calls: such a library may rewrite its descriptor sets once per recording (the previous
  // recording has completed by then), never within one.
  uint64_t generation() const { return generation_; }

  // Ends, submits, waits. Throws Error(DeviceLost / Vulkan / OutOfMemory) on failure.
  void submit_and_wait();

  const std::vector<OpTiming>& timings() const { return timings_; }
  uint32_t dispatch_count() const { return dispatches_; }

  // Descriptor pools held (0 with push descriptors): 1 in the steady state of repeated passes.
  uint32_t descriptor_pools() const;

  struct Impl;

 private:
  void barrier_if_needed();
  Context& ctx_;
  std::unique_ptr<Impl> impl_;
  bool pending_ = false;  // commands recorded since the last barrier
  bool profiling_ = false;
  uint32_t dispatches_ = 0;
  uint64_t generation_ = 0;
  std::vector<std::string> labels_;
  std::vector<OpTiming> timings_;
};

}  // namespace vitvk::gpu
