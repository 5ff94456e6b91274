#include <catch2/catch.hpp>

#include "ops/token_mean.hpp"
#include "support/vk_fixture.hpp"

using namespace vitvk;

// The patch rows of [B, T, D] tokens with a prefix and a padded row stride: the offset is applied in the shader, so
// the slice is bound from the tensor's start whatever the prefix.
TEST_CASE("token_mean: Vulkan matches the CPU op, with and without an image stride", "[ops][vulkan][token_mean]") {
  test::VkFixture fx;
  struct Shape {
    int batch, tokens, dim, prefix;
  };
  for (Shape s : {Shape{1, 1, 1, 0}, Shape{3, 49, 7, 0}, Shape{2, 196, 33, 1}, Shape{3, 16, 24, 5}}) {
    for (bool fp16 : test::precisions(fx.ctx)) {
      const int T = s.tokens + s.prefix, ld = s.dim + 3;
      auto x = test::random_floats(std::size_t(s.batch) * T * ld, 7);
      if (fp16) x = gpu::from_storage(gpu::to_storage(x, true).data(), x.size(), true);
      std::vector<float> want(std::size_t(s.batch) * s.dim);
      const ops::TokenMeanShape ts{s.batch, s.tokens, s.dim, long(T) * ld, ld, long(s.prefix) * ld};
      ops::token_mean_cpu(x.data(), ts, want.data());
      double direct = 0;  // image 0, channel 0 by hand
      for (int n = 0; n < s.tokens; ++n) direct += x[std::size_t(s.prefix + n) * ld];
      CHECK(want[0] == Approx(direct / s.tokens).margin(1e-6));
      auto bx = fx.upload(x, fp16), by = fx.zeros(want.size(), fp16);
      auto oc = fx.ops(fp16);
      fx.rec.begin();
      ops::token_mean_vk(oc, gpu::whole(bx), ts, gpu::whole(by));
      fx.rec.submit_and_wait();
      const float diff = test::max_abs_diff(fx.download(by, want.size(), fp16), want);
      INFO("B " << s.batch << " N " << s.tokens << " D " << s.dim << " prefix " << s.prefix << (fp16 ? " fp16" : " fp32"));
      CHECK(diff < (fp16 ? 1e-2f : 1e-6f));
    }
  }
  fx.require_clean_validation();
}
