#include <catch2/catch.hpp>

#include <cmath>

#include "ops/qk_norm.hpp"
#include "support/vk_fixture.hpp"

using namespace vitvk;

TEST_CASE("qk_norm: CPU normalises each head of q and k and leaves v alone", "[ops][cpu][qk_norm]") {
  const ops::QkNormShape s{3, 2, 5};
  auto qkv = test::random_floats(std::size_t(s.rows) * 3 * s.dim(), 1, 3.f);
  const auto before = qkv;
  std::vector<float> one(s.head_dim, 1.f), zero(s.head_dim, 0.f);
  ops::qk_norm_cpu(qkv.data(), s, one.data(), zero.data(), one.data(), zero.data(), 1e-6f);
  for (int r = 0; r < s.rows; ++r)
    for (int part = 0; part < 3; ++part)
      for (int h = 0; h < s.heads; ++h) {
        const std::size_t at = (std::size_t(r) * 3 + part) * s.dim() + h * s.head_dim;
        double mean = 0, sq = 0;
        for (int j = 0; j < s.head_dim; ++j) mean += qkv[at + j];
        mean /= s.head_dim;
        for (int j = 0; j < s.head_dim; ++j) sq += (qkv[at + j] - mean) * (qkv[at + j] - mean);
        if (part == 2) {
          for (int j = 0; j < s.head_dim; ++j) CHECK(qkv[at + j] == before[at + j]);
        } else {
          CHECK(std::abs(mean) < 1e-5);
          CHECK(sq / s.head_dim == Approx(1.0).epsilon(1e-4));
        }
      }
}

TEST_CASE("qk_norm: Vulkan matches the CPU op on odd shapes", "[ops][vulkan][qk_norm]") {
  test::VkFixture fx;
  for (ops::QkNormShape s : {ops::QkNormShape{1, 1, 1}, ops::QkNormShape{7, 3, 5}, ops::QkNormShape{197, 3, 64},
                             ops::QkNormShape{2 * 50, 12, 16}}) {
    for (bool fp16 : test::precisions(fx.ctx)) {
      auto qkv = test::random_floats(std::size_t(s.rows) * 3 * s.dim(), 2, 2.f);
      for (auto& v : qkv) v += 1.5f;
      auto qg = test::random_floats(s.head_dim, 3), qb = test::random_floats(s.head_dim, 4),
           kg = test::random_floats(s.head_dim, 5), kb = test::random_floats(s.head_dim, 6);
      if (fp16)
        for (auto* v : {&qkv, &qg, &qb, &kg, &kb}) *v = gpu::from_storage(gpu::to_storage(*v, true).data(), v->size(), true);
      auto want = qkv;
      ops::qk_norm_cpu(want.data(), s, qg.data(), qb.data(), kg.data(), kb.data(), 1e-5f);
      auto bx = fx.upload(qkv, fp16), b1 = fx.upload(qg, fp16), b2 = fx.upload(qb, fp16), b3 = fx.upload(kg, fp16),
           b4 = fx.upload(kb, fp16);
      auto oc = fx.ops(fp16);
      fx.rec.begin();
      ops::qk_norm_vk(oc, gpu::whole(bx), s, gpu::whole(b1), gpu::whole(b2), gpu::whole(b3), gpu::whole(b4), 1e-5f);
      fx.rec.submit_and_wait();
      const float diff = test::max_abs_diff(fx.download(bx, qkv.size(), fp16), want);
      INFO("rows " << s.rows << " heads " << s.heads << " head_dim " << s.head_dim << (fp16 ? " fp16" : " fp32")
                   << ": max diff " << diff);
      CHECK(diff < (fp16 ? 3e-2f : 1e-5f));
    }
  }
  fx.require_clean_validation();
}
