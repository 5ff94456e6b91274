#include <catch2/catch.hpp>

#include "ops/layernorm.hpp"
#include "support/vk_fixture.hpp"

using namespace vitvk;

TEST_CASE("layernorm: Vulkan matches the CPU op on odd shapes", "[ops][vulkan][layernorm]") {
  test::VkFixture fx;
  struct Shape {
    int rows, dim;
  };
  for (Shape s : {Shape{1, 1}, Shape{3, 7}, Shape{50, 192}, Shape{197, 193}, Shape{577, 64}, Shape{2 * 197, 768}}) {
    for (bool fp16 : test::precisions(fx.ctx)) {
      // Offset mean so that a one-pass variance would lose precision.
      auto x = test::random_floats(static_cast<std::size_t>(s.rows) * s.dim, 1, 2.f);
      for (auto& v : x) v += 3.f;
      auto g = test::random_floats(s.dim, 2), b = test::random_floats(s.dim, 3);
      if (fp16) {  // the oracle sees the same rounded inputs the GPU does
        for (auto* vec : {&x, &g, &b}) *vec = gpu::from_storage(gpu::to_storage(*vec, true).data(), vec->size(), true);
      }
      std::vector<float> want(x.size());
      ops::layernorm_cpu(x.data(), s.rows, s.dim, g.data(), b.data(), 1e-6f, want.data(), s.dim, s.dim);

      auto bx = fx.upload(x, fp16), bg = fx.upload(g, fp16), bb = fx.upload(b, fp16);
      auto by = fx.zeros(x.size(), fp16);
      auto oc = fx.ops(fp16);
      fx.rec.begin();
      ops::layernorm_vk(oc, gpu::whole(bx), gpu::whole(bg), gpu::whole(bb), gpu::whole(by), s.rows, s.dim, 1e-6f, s.dim, s.dim);
      fx.rec.submit_and_wait();
      const float diff = test::max_abs_diff(fx.download(by, x.size(), fp16), want);
      INFO("rows " << s.rows << " dim " << s.dim << (fp16 ? " fp16" : " fp32") << ": max diff " << diff);
      CHECK(diff < (fp16 ? 2e-2f : 1e-4f));
    }
  }
  fx.require_clean_validation();
}
