#include <catch2/catch.hpp>

#include <cmath>

#include "ops/activation.hpp"
#include "support/vk_fixture.hpp"

using namespace vitvk;

TEST_CASE("activation: CPU tanh GELU and QuickGELU follow their definitions", "[ops][cpu][activation]") {
  for (float v : {-9.f, -1.5f, -0.25f, 0.f, 0.7f, 3.f, 12.f}) {
    float t = v, q = v;
    ops::activation_cpu(&t, 1, ops::Activation::GeluTanh);
    ops::activation_cpu(&q, 1, ops::Activation::QuickGelu);
    const double u = std::sqrt(2.0 / M_PI) * (v + 0.044715 * double(v) * v * v);
    CHECK(t == Approx(0.5 * v * (1.0 + std::tanh(u))).margin(1e-6));
    CHECK(q == Approx(v / (1.0 + std::exp(-1.702 * v))).margin(1e-6));
  }
}

TEST_CASE("activation: Vulkan matches the CPU op on odd sizes", "[ops][vulkan][activation]") {
  test::VkFixture fx;
  for (std::size_t n : {std::size_t(1), std::size_t(63), std::size_t(65), std::size_t(197 * 37)}) {
    for (ops::Activation act : {ops::Activation::GeluTanh, ops::Activation::QuickGelu}) {
      for (bool fp16 : test::precisions(fx.ctx)) {
        auto x = test::random_floats(n, 5, 4.f);
        if (fp16) x = gpu::from_storage(gpu::to_storage(x, true).data(), x.size(), true);
        auto want = x;
        ops::activation_cpu(want.data(), n, act);
        auto bx = fx.upload(x, fp16);
        auto oc = fx.ops(fp16);
        fx.rec.begin();
        ops::activation_vk(oc, gpu::whole(bx), n, act);
        fx.rec.submit_and_wait();
        const float diff = test::max_abs_diff(fx.download(bx, n, fp16), want);
        INFO("n " << n << " " << ops::to_string(act) << (fp16 ? " fp16" : " fp32") << ": max diff " << diff);
        CHECK(diff < (fp16 ? 2e-2f : 2e-6f));
      }
    }
  }
  fx.require_clean_validation();
}
