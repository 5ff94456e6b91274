#include <catch2/catch.hpp>

#include "ops/embed.hpp"
#include "support/vk_fixture.hpp"

using namespace vitvk;

TEST_CASE("embed: Vulkan prefix tokens + position embedding match the CPU op", "[ops][vulkan][embed]") {
  test::VkFixture fx;
  // (batch, tokens, dim, prefix rows, pos rows): class token; class + distillation; no prefix (GFNet, SigLIP);
  // class + 4 registers with pos over the patches only (DINOv2-reg); pos absent.
  for (ops::EmbedShape s : {ops::EmbedShape{1, 2, 1, 1, 2}, ops::EmbedShape{3, 50, 7, 2, 50}, ops::EmbedShape{2, 197, 192, 1, 197},
                            ops::EmbedShape{2, 49, 33, 0, 49}, ops::EmbedShape{3, 21, 24, 5, 16}, ops::EmbedShape{1, 9, 5, 1, 0}}) {
    for (bool fp16 : test::precisions(fx.ctx)) {
      const std::size_t n = std::size_t(s.batch) * s.tokens * s.dim;
      auto tok = test::random_floats(n, 1), prefix = test::random_floats(std::size_t(std::max(s.prefix, 1)) * s.dim, 2),
           pos = test::random_floats(std::size_t(std::max(s.pos_rows, 1)) * s.dim, 4);
      if (fp16)
        for (auto* v : {&tok, &prefix, &pos}) *v = gpu::from_storage(gpu::to_storage(*v, true).data(), v->size(), true);
      auto want = tok;
      ops::embed_tokens_cpu(want.data(), s, prefix.data(), pos.data());
      // The prefix rows really are replaced and only the last pos_rows rows get pos.
      CHECK(want[0] == (s.prefix ? prefix[0] : tok[0]) + (s.pos_rows == s.tokens ? pos[0] : 0.f));

      auto bt = fx.upload(tok, fp16), bc = fx.upload(prefix, fp16), bp = fx.upload(pos, fp16);
      auto oc = fx.ops(fp16);
      fx.rec.begin();
      ops::embed_tokens_vk(oc, gpu::whole(bt), s, s.prefix ? gpu::whole(bc) : gpu::Slice{},
                           s.pos_rows ? gpu::whole(bp) : gpu::Slice{});
      fx.rec.submit_and_wait();
      const float diff = test::max_abs_diff(fx.download(bt, n, fp16), want);
      INFO("B " << s.batch << " T " << s.tokens << " D " << s.dim << " prefix " << s.prefix << " pos " << s.pos_rows
                << (fp16 ? " fp16" : " fp32") << ": max diff " << diff);
      CHECK(diff < (fp16 ? 1e-2f : 1e-6f));
    }
  }
  fx.require_clean_validation();
}
