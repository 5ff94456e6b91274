// Device faults reach callers as vitvk::Error with the right code: out of memory (with the Vulkan backend
// splitting its passes where that helps) and device loss. A lost device cannot be provoked on purpose, so its
// mapping is checked at the one function every Vulkan failure goes through.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>

#include "engine/backend.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/error.hpp"
#include "vk/buffer.hpp"
#include "vk/context_impl.hpp"

using namespace vitvk;

namespace {

ErrorCode code_of(vk::Result r) {
  try {
    gpu::throw_vulkan_error("doing something", r);
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("doing something"));
    return e.code();
  }
  FAIL("throw_vulkan_error returned");
  return ErrorCode::Internal;
}

std::unique_ptr<Backend> vulkan(std::shared_ptr<const Model> m, uint64_t budget, int max_batch = 16) {
  VulkanBackendOptions o;
  o.max_batch = max_batch;
  o.validation = true;
  o.memory_budget = budget;
  return make_vulkan_backend(std::move(m), o);
}

}  // namespace

TEST_CASE("Vulkan failures keep their meaning: device lost, out of memory, other", "[vulkan][faults]") {
  CHECK(code_of(vk::Result::eErrorDeviceLost) == ErrorCode::DeviceLost);
  CHECK(code_of(vk::Result::eErrorOutOfDeviceMemory) == ErrorCode::OutOfMemory);
  CHECK(code_of(vk::Result::eErrorOutOfHostMemory) == ErrorCode::OutOfMemory);
  CHECK(code_of(vk::Result::eErrorInitializationFailed) == ErrorCode::Vulkan);
  CHECK(code_of(vk::Result::eErrorMemoryMapFailed) == ErrorCode::Vulkan);
}

TEST_CASE("a Vulkan allocation larger than the device's memory is Error(OutOfMemory)", "[vulkan][faults]") {
  // Without the validation layer: asking for more than the heap is what this test does on purpose.
  gpu::Context ctx(gpu::ContextOptions{});
  uint64_t largest_heap = 0;
  for (uint32_t i = 0; i < ctx.impl().memory.memoryHeapCount; ++i)
    largest_heap = std::max<uint64_t>(largest_heap, ctx.impl().memory.memoryHeaps[i].size);
  const uint64_t bytes = 2 * largest_heap + (1ull << 30);
  try {
    gpu::Buffer b(ctx, bytes, gpu::MemoryUse::Device);
    WARN("the driver granted a " << (bytes >> 30) << " GiB allocation beyond its " << (largest_heap >> 30)
                                 << " GiB heap; nothing to check on " << ctx.info().name);
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.code() == ErrorCode::OutOfMemory);
    CHECK_THAT(e.what(), Catch::Contains("MiB Vulkan buffer"));
  }
}

TEST_CASE("the Vulkan backend halves its pass to fit device memory, and says when one image does not fit",
          "[vulkan][faults][engine]") {
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(false, 64, 8, 32, 2, 2, 10), 3));
  const std::size_t image = 3 * 64 * 64;
  std::vector<float> images(7 * image);
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = static_cast<float>((i * 7919) % 255) / 128.f - 1.f;
  const auto cpu = make_cpu_backend(model)->forward(images, 7, {});

  // No budget the weights do not fit in.
  try {
    (void)vulkan(model, 1024);
    FAIL("a 1 KiB budget was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::OutOfMemory);
    CHECK_THAT(e.what(), Catch::Contains("weights need"));
  }
  // Double the budget until a backend with max_batch 16 fits. The last refusal must have come after halving all
  // the way down to one image (the 16-image arena was not just refused outright).
  uint64_t budget = 64 << 10;
  std::string last_refusal;
  std::unique_ptr<Backend> gpu;
  while (!gpu) {
    REQUIRE(budget < (1ull << 32));
    try {
      gpu = vulkan(model, budget);
    } catch (const Error& e) {
      REQUIRE(e.code() == ErrorCode::OutOfMemory);
      last_refusal = e.what();
      budget *= 2;
    }
  }
  INFO("budget " << budget << " bytes; last refusal: " << last_refusal);
  CHECK_THAT(last_refusal, Catch::Contains("activations of 1 image(s)"));
  // At twice what one image needed the pass holds a few images, so a batch of 7 runs as several passes; the
  // results are the CPU's.
  const auto r = gpu->forward(images, 7, {});
  REQUIRE(r.logits.size() == cpu.logits.size());
  for (std::size_t i = 0; i < r.logits.size(); ++i) CHECK(r.logits[i] == Approx(cpu.logits[i]).margin(2e-3));
  const auto msgs = gpu->validation_messages();
  for (const auto& m : msgs) UNSCOPED_INFO(m);
  CHECK(msgs.empty());
  // Without a budget the same model takes 16 images per pass (nothing refused).
  CHECK_NOTHROW(vulkan(model, 0));
}
