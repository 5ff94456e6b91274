#include <catch2/catch.hpp>

#include "ops/embed.hpp"
#include "support/vk_fixture.hpp"

using namespace vitvk;

TEST_CASE("embed: Vulkan token concat + position embedding matches the CPU op", "[ops][vulkan][embed]") {
  test::VkFixture fx;
  struct Shape {
    int batch, T, D;
    bool dist;
  };
  for (Shape s : {Shape{1, 2, 1, false}, Shape{3, 50, 7, true}, Shape{2, 197, 192, false}, Shape{1, 578, 33, true}}) {
    for (bool fp16 : test::precisions(fx.ctx)) {
      const std::size_t n = std::size_t(s.batch) * s.T * s.D;
      auto tok = test::random_floats(n, 1), cls = test::random_floats(s.D, 2), dist = test::random_floats(s.D, 3),
           pos = test::random_floats(std::size_t(s.T) * s.D, 4);
      if (fp16)
        for (auto* v : {&tok, &cls, &dist, &pos}) *v = gpu::from_storage(gpu::to_storage(*v, true).data(), v->size(), true);
      auto want = tok;
      ops::embed_tokens_cpu(want.data(), s.batch, s.T, s.D, cls.data(), s.dist ? dist.data() : nullptr, pos.data());

      auto bt = fx.upload(tok, fp16), bc = fx.upload(cls, fp16), bd = fx.upload(dist, fp16), bp = fx.upload(pos, fp16);
      auto oc = fx.ops(fp16);
      fx.rec.begin();
      ops::embed_tokens_vk(oc, gpu::whole(bt), s.batch, s.T, s.D, gpu::whole(bc), s.dist ? gpu::whole(bd) : gpu::Slice{},
                           gpu::whole(bp));
      fx.rec.submit_and_wait();
      const float diff = test::max_abs_diff(fx.download(bt, n, fp16), want);
      INFO("B " << s.batch << " T " << s.T << " D " << s.D << (fp16 ? " fp16" : " fp32") << ": max diff " << diff);
      CHECK(diff < (fp16 ? 1e-2f : 1e-6f));
    }
  }
  fx.require_clean_validation();
}
