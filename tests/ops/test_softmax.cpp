#include <catch2/catch.hpp>

#include <limits>

#include "ops/softmax.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

TEST_CASE("softmax: Vulkan matches the CPU op on odd row lengths", "[ops][vulkan][softmax]") {
  test::VkFixture fx;
  struct Shape {
    int rows, cols;
  };
  for (Shape s : {Shape{1, 1}, Shape{5, 1}, Shape{3, 7}, Shape{8, 1000}, Shape{3, 1001}, Shape{2, 4099}}) {
    for (bool fp16 : test::precisions(fx.ctx)) {
      // Large logits: without max subtraction exp() would overflow.
      auto x = test::random_floats(static_cast<std::size_t>(s.rows) * s.cols, 7, 8.f);
      for (auto& v : x) v += 40.f;
      if (fp16) x = gpu::from_storage(gpu::to_storage(x, true).data(), x.size(), true);
      std::vector<float> want(x.size());
      ops::softmax_cpu(x.data(), s.rows, s.cols, want.data());

      auto bx = fx.upload(x, fp16);
      auto by = fx.zeros(x.size(), false);
      auto oc = fx.ops(fp16);
      fx.rec.begin();
      ops::softmax_vk(oc, gpu::whole(bx), s.rows, s.cols, gpu::whole(by));
      fx.rec.submit_and_wait();
      const auto got = fx.download(by, x.size(), false);  // fp32 in both modes
      const float diff = test::max_abs_diff(got, want);
      INFO("rows " << s.rows << " cols " << s.cols << (fp16 ? " fp16" : " fp32") << ": max diff " << diff);
      CHECK(diff < 5e-6f);  // measured <= 1e-6 on lavapipe; exp() may be a few ulp off elsewhere
      for (int r = 0; r < s.rows; ++r) {
        double sum = 0;
        for (int c = 0; c < s.cols; ++c) sum += got[std::size_t(r) * s.cols + c];
        CHECK(sum == Approx(1.0).epsilon(1e-5));
      }
    }
  }
  fx.require_clean_validation();
}

TEST_CASE("softmax: -inf entries get zero probability", "[ops][vulkan][softmax]") {
  test::VkFixture fx;
  const float inf = std::numeric_limits<float>::infinity();
  // -inf first (before any finite max) and in the middle; 20 columns spread them over lanes.
  std::vector<float> x(20, 0.f);
  x[0] = -inf;
  x[9] = -inf;
  x[13] = 2.f;
  auto bx = fx.upload(x);
  auto by = fx.zeros(x.size());
  auto oc = fx.ops(false);
  fx.rec.begin();
  ops::softmax_vk(oc, gpu::whole(bx), 1, 20, gpu::whole(by));
  fx.rec.submit_and_wait();
  std::vector<float> want(x.size());
  ops::softmax_cpu(x.data(), 1, 20, want.data());
  const auto got = fx.download(by, x.size());
  CHECK(got[0] == 0.f);
  CHECK(got[9] == 0.f);
  CHECK(test::max_abs_diff(got, want) < 1e-6f);
  fx.require_clean_validation();
}

TEST_CASE("softmax: bad shapes and short bindings are rejected", "[ops][vulkan][softmax]") {
  test::VkFixture fx;
  auto b = fx.zeros(16);
  auto oc = fx.ops(false);
  fx.rec.begin();
  CHECK_THROWS_AS(ops::softmax_vk(oc, gpu::whole(b), 2, 0, gpu::whole(b)), Error);
  CHECK_THROWS_AS(ops::softmax_vk(oc, gpu::whole(b), 5, 4, gpu::whole(b)), Error);
  fx.rec.submit_and_wait();
  fx.require_clean_validation();
}
