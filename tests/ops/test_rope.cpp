#include <catch2/catch.hpp>

#include <cmath>
#include <complex>

#include "model/rope_tables.hpp"
#include "ops/rope.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

// RoPE from its definition, in double: each pair (a, b) of a patch token's q or k is the complex number a + ib
// turned by its angle; the angle from the grid position straight away (not through the tables).
std::vector<float> reference(std::vector<float> qkv, const ops::RopeShape& s, const RopeGrid& g) {
  const int hd = s.head_dim, nb = hd / 4, D = s.dim();
  for (int b = 0; b < s.batch; ++b)
    for (int t = s.prefix; t < s.tokens; ++t) {
      const int p = t - s.prefix, y = p / g.grid_w, x = p % g.grid_w;
      const double ty = g.ref_h ? (y + g.offset) * g.ref_h / g.grid_h : y + g.offset;
      const double tx = g.ref_w ? (x + g.offset) * g.ref_w / g.grid_w : x + g.offset;
      for (int part = 0; part < 2; ++part)
        for (int h = 0; h < s.heads; ++h) {
          float* v = qkv.data() + ((std::size_t(b) * s.tokens + t) * 3 + part) * D + h * hd;
          for (int a = 0; a < 2 * nb; ++a) {
            const double angle = (a < nb ? ty : tx) * std::pow(g.temperature, -double(a % nb) / nb);
            const int ia = s.rotate_half ? a : 2 * a, ib = s.rotate_half ? a + hd / 2 : 2 * a + 1;
            const std::complex<double> z = std::complex<double>(v[ia], v[ib]) * std::polar(1.0, angle);
            v[ia] = float(z.real());
            v[ib] = float(z.imag());
          }
        }
    }
  return qkv;
}

struct Case {
  ops::RopeShape shape;
  RopeGrid grid;
};

// Odd grids (3x3, 5x5, 3x5, 7x2), token counts off the workgroup size, prefix 0/1/5, both pair layouts.
std::vector<Case> cases() {
  std::vector<Case> out;
  auto add = [&](int batch, int prefix, int gh, int gw, int heads, int hd, bool half, int ref, double offset) {
    Case c;
    c.shape = {batch, prefix + gh * gw, heads, hd, prefix, half};
    c.grid = {gh, gw, ref, ref, 10000.0, offset, half};
    out.push_back(c);
  };
  add(1, 1, 3, 3, 3, 8, false, 16, 0.0);
  add(2, 1, 5, 5, 2, 16, false, 16, 0.0);
  add(3, 5, 3, 5, 1, 4, true, 0, 0.5);
  add(2, 0, 7, 2, 4, 12, true, 8, 0.0);
  add(2, 1, 14, 14, 3, 64, false, 16, 0.0);  // 197 tokens: EVA-02 Tiny at 196 px
  return out;
}

}  // namespace

TEST_CASE("rope: the tables follow timm's RotaryEmbeddingCat layout", "[ops][cpu][rope]") {
  // 2x3 grid, head_dim 8 (2 bands), ref 4x4: a token at (y, x) has t_y = y * 4 / 2, t_x = x * 4 / 3.
  const RopeTables t = rope_tables_2d({2, 3, 4, 4, 10000.0, 0.0, false}, 8);
  REQUIRE(t.sin.size() == 6 * 8);
  const int y = 1, x = 2;
  const double ty = 2.0, tx = 8.0 / 3.0, f1 = std::pow(10000.0, -0.5);
  const double angles[4] = {ty, ty * f1, tx, tx * f1};  // rows' bands, then columns'; each pair twice
  for (int a = 0; a < 4; ++a)
    for (int k = 0; k < 2; ++k) {
      CHECK(t.sin[(y * 3 + x) * 8 + 2 * a + k] == Approx(std::sin(angles[a])).margin(1e-6));
      CHECK(t.cos[(y * 3 + x) * 8 + 2 * a + k] == Approx(std::cos(angles[a])).margin(1e-6));
    }
  // rotate_half: the four angles, then the same four again.
  const RopeTables h = rope_tables_2d({2, 3, 4, 4, 10000.0, 0.0, true}, 8);
  for (int a = 0; a < 4; ++a)
    for (int k = 0; k < 2; ++k) CHECK(h.sin[(y * 3 + x) * 8 + a + 4 * k] == Approx(std::sin(angles[a])).margin(1e-6));
  // Token (0, 0) sits at angle 0: the identity.
  for (int e = 0; e < 8; ++e) {
    CHECK(t.sin[e] == 0.f);
    CHECK(t.cos[e] == 1.f);
  }
  CHECK_THROWS_AS(rope_tables_2d({2, 3, 4, 4, 10000.0, 0.0, false}, 6), Error);  // head_dim not a multiple of 4
}

TEST_CASE("rope: CPU rotates q and k of the patch tokens as the definition says", "[ops][cpu][rope]") {
  for (const Case& c : cases()) {
    const ops::RopeShape& s = c.shape;
    const auto tables = rope_tables_2d(c.grid, s.head_dim);
    const auto before = test::random_floats(std::size_t(s.batch) * s.tokens * 3 * s.dim(), 7, 2.f);
    auto got = before;
    ops::rope_cpu(got.data(), s, tables.sin.data(), tables.cos.data());
    const auto want = reference(before, s, c.grid);
    INFO("batch " << s.batch << " tokens " << s.tokens << " prefix " << s.prefix << " heads " << s.heads
                  << " head_dim " << s.head_dim << (s.rotate_half ? " rotate_half" : " interleaved"));
    CHECK(test::max_abs_diff(got, want) < 5e-5f);  // float angles (as timm's) vs double ones
    // The prefix tokens and every v untouched, to the bit.
    for (int b = 0; b < s.batch; ++b)
      for (int t = 0; t < s.tokens; ++t)
        for (int part = 0; part < 3; ++part) {
          if (t >= s.prefix && part < 2) continue;
          const std::size_t at = ((std::size_t(b) * s.tokens + t) * 3 + part) * s.dim();
          for (int e = 0; e < s.dim(); ++e) REQUIRE(got[at + e] == before[at + e]);
        }
  }
}

TEST_CASE("rope: Vulkan matches the CPU op on odd shapes", "[ops][vulkan][rope]") {
  test::VkFixture fx;
  for (const Case& c : cases()) {
    const ops::RopeShape& s = c.shape;
    const auto tables = rope_tables_2d(c.grid, s.head_dim);
    for (bool fp16 : test::precisions(fx.ctx)) {
      auto qkv = test::random_floats(std::size_t(s.batch) * s.tokens * 3 * s.dim(), 9, 2.f);
      if (fp16) qkv = gpu::from_storage(gpu::to_storage(qkv, true).data(), qkv.size(), true);
      auto want = qkv;
      ops::rope_cpu(want.data(), s, tables.sin.data(), tables.cos.data());
      // The tables stay fp32 in both precisions.
      auto bq = fx.upload(qkv, fp16), bs = fx.upload(tables.sin, false), bc = fx.upload(tables.cos, false);
      auto oc = fx.ops(fp16);
      fx.rec.begin();
      ops::rope_vk(oc, gpu::whole(bq), s, gpu::whole(bs), gpu::whole(bc));
      fx.rec.submit_and_wait();
      const auto got = fx.download(bq, qkv.size(), fp16);
      const float diff = test::max_abs_diff(got, want);
      INFO("batch " << s.batch << " tokens " << s.tokens << " prefix " << s.prefix << " heads " << s.heads
                    << " head_dim " << s.head_dim << (s.rotate_half ? " rotate_half" : " interleaved")
                    << (fp16 ? " fp16" : " fp32") << ": max diff " << diff);
      // fp16: one rounding of outputs up to ~8 (half an ulp: 2^-8).
      CHECK(diff < (fp16 ? 8e-3f : 2e-6f));
      // The untouched parts are bit-exact in both precisions (v of a patch token, all of a prefix token).
      const std::size_t v_at = ((std::size_t(s.batch - 1) * s.tokens + s.tokens - 1) * 3 + 2) * s.dim();
      for (int e = 0; e < s.dim(); ++e) REQUIRE(got[v_at + e] == qkv[v_at + e]);
    }
  }
  fx.require_clean_validation();
}
