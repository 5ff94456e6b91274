#include <catch2/catch.hpp>

#include <cmath>

#include "ops/glu.hpp"
#include "support/vk_fixture.hpp"

using namespace vitvk;

TEST_CASE("glu: CPU gates the second half of each row with silu of the first", "[ops][cpu][glu]") {
  const ops::GluShape s{5, 7};
  auto x = test::random_floats(std::size_t(s.rows) * 2 * s.hidden, 3, 3.f);
  x[0] = -100.f;  // silu's tails: -0 and the identity
  x[1] = 100.f;
  std::vector<float> y(std::size_t(s.rows) * s.hidden);
  ops::glu_cpu(x.data(), s, y.data());
  for (int r = 0; r < s.rows; ++r)
    for (int j = 0; j < s.hidden; ++j) {
      const double g = x[std::size_t(r) * 2 * s.hidden + j], v = x[std::size_t(r) * 2 * s.hidden + s.hidden + j];
      const double want = g / (1.0 + std::exp(-g)) * v;
      CHECK(y[std::size_t(r) * s.hidden + j] == Approx(want).margin(1e-6).epsilon(1e-6));
    }
  CHECK(y[1] == Approx(100.0 * x[s.hidden + 1]).epsilon(1e-6));
}

TEST_CASE("glu: Vulkan matches the CPU op on odd shapes", "[ops][vulkan][glu]") {
  test::VkFixture fx;
  for (ops::GluShape s : {ops::GluShape{1, 1}, ops::GluShape{7, 13}, ops::GluShape{197, 171}, ops::GluShape{2 * 26, 64}}) {
    for (bool fp16 : test::precisions(fx.ctx)) {
      auto x = test::random_floats(std::size_t(s.rows) * 2 * s.hidden, 4, 3.f);
      x[0] = -120.f;  // exp(120) overflows fp32
      if (fp16) x = gpu::from_storage(gpu::to_storage(x, true).data(), x.size(), true);
      std::vector<float> want(std::size_t(s.rows) * s.hidden);
      ops::glu_cpu(x.data(), s, want.data());
      auto bx = fx.upload(x, fp16), by = fx.zeros(want.size(), fp16);
      auto oc = fx.ops(fp16);
      fx.rec.begin();
      ops::glu_vk(oc, gpu::whole(bx), s, gpu::whole(by));
      fx.rec.submit_and_wait();
      const auto got = fx.download(by, want.size(), fp16);
      float worst = 0.f;  // relative to the value's own size (products reach ~100)
      for (std::size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::abs(got[i] - want[i]) / std::max(1.f, std::abs(want[i])));
      INFO("rows " << s.rows << " hidden " << s.hidden << (fp16 ? " fp16" : " fp32") << ": max rel diff " << worst);
      CHECK(worst < (fp16 ? 2e-3f : 2e-6f));
    }
  }
  fx.require_clean_validation();
}
