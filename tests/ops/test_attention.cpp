#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <span>

#include "engine/backend.hpp"
#include "graph/graph.hpp"
#include "ops/attention.hpp"
#include "ops/cpu_kernels.hpp"
#include "support/tiny_model.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

struct Result {
  float out_diff = 0.f;
  float fused_diff = 0.f;
};

// A random additive score bias [bias_groups, H, N, N]: N(0, 1), with about a fifth of the off-diagonal
// entries -100 as in Swin's shifted-window mask (every row keeps its diagonal, so none is all masked).
std::vector<float> random_bias(const ops::AttentionShape& s, uint32_t seed) {
  const std::size_t N = s.tokens;
  auto bias = test::random_floats(std::size_t(s.bias_groups) * s.heads * N * N, seed);
  std::mt19937 rng(seed + 1);
  for (std::size_t e = 0; e < bias.size(); ++e)
    if ((e / N) % N != e % N && rng() % 5 == 0) bias[e] = -100.f;
  return bias;
}

// Runs attention_vk on random qkv (scaled so that softmax rows range from flat to peaked) and compares with
// attention_cpu on the same (storage-rounded) inputs; with s.bias_groups > 0, both add a random bias.
Result run_attention(test::VkFixture& fx, const ops::AttentionShape& s, bool fp16, ops::AttentionKernel kernel,
                     bool explain, uint32_t seed) {
  const std::size_t n_qkv = std::size_t(s.batch) * s.tokens * 3 * s.dim(), n_out = std::size_t(s.batch) * s.tokens * s.dim();
  const std::size_t n_fused = std::size_t(s.batch) * 3 * s.tokens * s.tokens;
  auto qkv = test::random_floats(n_qkv, seed, 1.5f);
  if (fp16) qkv = gpu::from_storage(gpu::to_storage(qkv, true).data(), qkv.size(), true);
  const std::vector<float> bias = s.bias_groups ? random_bias(s, seed + 1000) : std::vector<float>{};
  std::vector<float> want(n_out), want_fused(explain ? n_fused : 0);
  ops::attention_cpu(qkv.data(), s, want.data(), explain ? want_fused.data() : nullptr,
                     bias.empty() ? nullptr : bias.data());

  auto bq = fx.upload(qkv, fp16);
  auto bo = fx.zeros(n_out, fp16);
  auto bf = fx.zeros(explain ? n_fused : 1, false);
  auto bb = fx.upload(bias.empty() ? std::vector<float>(1) : bias, false);  // fp32 in both precisions
  auto oc = fx.ops(fp16);
  fx.rec.begin();
  const gpu::Slice fused = explain ? gpu::whole(bf) : gpu::Slice{};
  if (bias.empty())
    ops::attention_vk(oc, gpu::whole(bq), s, gpu::whole(bo), fused, kernel);
  else
    ops::attention_vk(oc, gpu::whole(bq), s, gpu::whole(bo), fused, gpu::whole(bb), kernel);
  fx.rec.submit_and_wait();
  Result r;
  r.out_diff = test::max_abs_diff(fx.download(bo, n_out, fp16), want);
  if (explain) r.fused_diff = test::max_abs_diff(fx.download(bf, n_fused, false), want_fused);
  return r;
}

const char* kernel_name(ops::AttentionKernel k) {
  switch (k) {
    case ops::AttentionKernel::Auto: return "auto";
    case ops::AttentionKernel::Rows: return "rows";
    case ops::AttentionKernel::Tiled: return "tiled";
  }
  return "?";
}

// Long sequences with few heads keep lavapipe fast. Head dims: 7 and 33 take the rows form's scalar loads,
// 36 its fp32 vec4 loads (but scalar in fp16, which loads 8 halves at once), 64 the wide loads in both
// precisions, and 130 is wider than the rows form holds (it falls back to the tiled form).
const ops::AttentionShape kShapes[] = {{1, 1, 1, 7},    {3, 50, 3, 33},   {1, 50, 4, 36},   {1, 197, 3, 64},
                                       {3, 197, 1, 7}, {1, 577, 1, 64}, {1, 577, 1, 33}, {1, 9, 2, 130},
                                       {1, 1025, 1, 7}};
const ops::AttentionShape kExplainShapes[] = {{1, 1, 1, 7}, {3, 50, 3, 33}, {1, 197, 3, 64}, {1, 577, 2, 64}};
// With a bias: token counts off the workgroup and tile sizes (7 and 49: Swin's windows, 50 and 197: BEiT's
// sequences), batches that are and are not multiples of the groups, the same head widths as above.
const ops::AttentionShape kBiasShapes[] = {{6, 7, 2, 8, 3},    {5, 49, 3, 33, 2}, {2, 50, 2, 36, 1},
                                           {1, 197, 3, 64, 1}, {4, 49, 1, 7, 3},  {1, 9, 2, 130, 1}};
const ops::AttentionShape kBiasExplainShapes[] = {{6, 7, 2, 8, 3}, {5, 49, 3, 33, 2}, {1, 197, 3, 64, 1}};

// Every shape in both precisions: fp32 within 1e-4 of the oracle, fp16 (output rounding, |out| < 4) within 5e-3;
// with explain, the fp32 maps within 1e-5 in both modes (the oracle sees the same rounded qkv).
void check_form(ops::AttentionKernel kernel, std::span<const ops::AttentionShape> shapes, bool explain, uint32_t seed) {
  test::VkFixture fx;
  for (const auto& s : shapes) {
    for (bool fp16 : test::precisions(fx.ctx)) {
      const auto r = run_attention(fx, s, fp16, kernel, explain, ++seed);
      INFO(kernel_name(kernel) << " B " << s.batch << " N " << s.tokens << " H " << s.heads << " hd " << s.head_dim
                               << " bias groups " << s.bias_groups << (fp16 ? " fp16" : " fp32") << ": out diff "
                               << r.out_diff << ", fused diff " << r.fused_diff);
      CHECK(r.out_diff < (fp16 ? 5e-3f : 1e-4f));
      if (explain) CHECK(r.fused_diff < 1e-5f);
    }
  }
  fx.require_clean_validation();
}

}  // namespace

// One test case per form, so that each stays short on lavapipe (most of the time is the pipelines' JIT).
TEST_CASE("attention: rows form matches the CPU op", "[ops][vulkan][attention]") {
  check_form(ops::AttentionKernel::Rows, kShapes, false, 10);
}

TEST_CASE("attention: tiled form matches the CPU op", "[ops][vulkan][attention]") {
  check_form(ops::AttentionKernel::Tiled, kShapes, false, 20);
}

TEST_CASE("attention: the device's default form matches the CPU op", "[ops][vulkan][attention]") {
  check_form(ops::AttentionKernel::Auto, kShapes, false, 30);
}

// Each form brings its own explain kernel.
TEST_CASE("attention: rows form's explain maps match the CPU op", "[ops][vulkan][attention]") {
  check_form(ops::AttentionKernel::Rows, kExplainShapes, true, 40);
}

TEST_CASE("attention: tiled form's explain maps match the CPU op", "[ops][vulkan][attention]") {
  check_form(ops::AttentionKernel::Tiled, kExplainShapes, true, 50);
}

TEST_CASE("attention: rows form with a bias matches the CPU op", "[ops][vulkan][attention]") {
  check_form(ops::AttentionKernel::Rows, kBiasShapes, false, 60);
}

TEST_CASE("attention: tiled form with a bias matches the CPU op", "[ops][vulkan][attention]") {
  check_form(ops::AttentionKernel::Tiled, kBiasShapes, false, 70);
}

TEST_CASE("attention: rows form's explain maps with a bias match the CPU op", "[ops][vulkan][attention]") {
  check_form(ops::AttentionKernel::Rows, kBiasExplainShapes, true, 80);
}

TEST_CASE("attention: tiled form's explain maps with a bias match the CPU op", "[ops][vulkan][attention]") {
  check_form(ops::AttentionKernel::Tiled, kBiasExplainShapes, true, 90);
}

TEST_CASE("attention: bias bindings too small or without groups are rejected", "[ops][vulkan][attention]") {
  test::VkFixture fx;
  const ops::AttentionShape s{2, 10, 2, 8, 3};  // bias: 3 * 2 * 10 * 10 floats
  auto big = fx.zeros(4096);
  auto small = fx.zeros(599);
  auto oc = fx.ops(false);
  fx.rec.begin();
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), s, gpu::whole(big), {}, gpu::whole(small)), Error);
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), s, gpu::whole(big), {}, gpu::Slice{}), Error);  // groups, no bias
  ops::AttentionShape none = s;
  none.bias_groups = 0;
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), none, gpu::whole(big), {}, gpu::whole(big)), Error);
  ops::AttentionShape negative = s;
  negative.bias_groups = -1;
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), negative, gpu::whole(big), {}, gpu::whole(big)), Error);
  fx.rec.submit_and_wait();
  CHECK(fx.rec.dispatch_count() == 0);
  fx.require_clean_validation();
}

TEST_CASE("attention: bindings too small for the shape are rejected", "[ops][vulkan][attention]") {
  test::VkFixture fx;
  const ops::AttentionShape s{2, 10, 2, 8};
  auto small = fx.zeros(100);
  auto big = fx.zeros(4096);
  auto oc = fx.ops(false);
  fx.rec.begin();
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(small), s, gpu::whole(big), {}), Error);
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), s, gpu::whole(small), {}), Error);
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), s, gpu::whole(big), gpu::whole(small)), Error);
  CHECK_THROWS_AS(ops::attention_vk(oc, gpu::whole(big), ops::AttentionShape{1, 4, 0, 8}, gpu::whole(big), {}), Error);
  fx.rec.submit_and_wait();
  CHECK(fx.rec.dispatch_count() == 0);
  fx.require_clean_validation();
}

namespace {

// softmax(Q K^T / sqrt(hd) + bias) V and the head-fused maps, in double precision, straight from the definition.
void reference_attention(const std::vector<float>& qkv, const ops::AttentionShape& s, const std::vector<float>& bias,
                         std::vector<double>& out, std::vector<double>& fused) {
  const int N = s.tokens, D = s.dim(), H = s.heads, hd = s.head_dim;
  const std::size_t nn = std::size_t(N) * N;
  out.assign(std::size_t(s.batch) * N * D, 0.0);
  fused.assign(std::size_t(s.batch) * 3 * nn, 0.0);
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < N; ++i) {
        const float* q = qkv.data() + (std::size_t(b) * N + i) * 3 * D + h * hd;
        std::vector<double> p(N);
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < N; ++j) {
          const float* k = qkv.data() + (std::size_t(b) * N + j) * 3 * D + D + h * hd;
          double dot = 0;
          for (int t = 0; t < hd; ++t) dot += double(q[t]) * k[t];
          p[j] = dot / std::sqrt(double(hd));
          if (s.bias_groups) p[j] += bias[((std::size_t(b % s.bias_groups) * H + h) * N + i) * N + j];
          mx = std::max(mx, p[j]);
        }
        for (auto& v : p) sum += (v = std::exp(v - mx));
        for (auto& v : p) v /= sum;
        for (int t = 0; t < hd; ++t) {
          double o = 0;
          for (int j = 0; j < N; ++j) o += p[j] * qkv[(std::size_t(b) * N + j) * 3 * D + 2 * D + h * hd + t];
          out[(std::size_t(b) * N + i) * D + h * hd + t] = o;
        }
        for (int j = 0; j < N; ++j) {
          double* f = fused.data() + std::size_t(b) * 3 * nn + std::size_t(i) * N + j;
          f[0] += p[j] / H;
          f[nn] = h == 0 ? p[j] : std::max(f[nn], p[j]);
          f[2 * nn] = h == 0 ? p[j] : std::min(f[2 * nn], p[j]);
        }
      }
}

template <class A, class B>
double max_diff(const A& a, const B& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

}  // namespace

// Every CPU path the backends take (the reference op with and without maps, the OpenBLAS and packed heads in
// row ranges and blocks, the packed head's probabilities) adds the bias of problem b's group b % groups.
TEST_CASE("attention: CPU paths with a bias match a double-precision reference", "[ops][attention]") {
  for (const ops::AttentionShape s : {ops::AttentionShape{6, 7, 2, 8, 3}, ops::AttentionShape{5, 49, 3, 33, 2},
                                      ops::AttentionShape{2, 50, 2, 40, 1}}) {
    INFO("B " << s.batch << " N " << s.tokens << " H " << s.heads << " hd " << s.head_dim << " groups " << s.bias_groups);
    const int N = s.tokens, D = s.dim();
    const auto qkv = test::random_floats(std::size_t(s.batch) * N * 3 * D, 5);
    const auto bias = random_bias(s, 6);
    std::vector<double> want, want_fused;
    reference_attention(qkv, s, bias, want, want_fused);

    std::vector<float> out(want.size()), fused(want_fused.size());
    ops::attention_cpu(qkv.data(), s, out.data(), nullptr, bias.data());
    CHECK(max_diff(out, want) < 1e-5);
    std::fill(out.begin(), out.end(), 0.f);
    ops::attention_cpu(qkv.data(), s, out.data(), fused.data(), bias.data());
    CHECK(max_diff(out, want) < 1e-5);
    CHECK(max_diff(fused, want_fused) < 1e-6);

    std::vector<ops::CpuIsa> isas;
    for (ops::CpuIsa isa : {ops::CpuIsa::Portable, ops::CpuIsa::Avx2, ops::CpuIsa::Avx512})
      if (ops::cpu_isa_supported(isa)) isas.push_back(isa);
    const int block = 5;
    std::vector<float> store, probs(std::size_t(N) * N);
    float* scratch = ops::aligned_floats(store, ops::attention_packed_scratch_floats(s, block));
    for (int variant = -1; variant < static_cast<int>(isas.size()); ++variant) {  // -1: the OpenBLAS form
      INFO("variant " << variant);
      std::fill(out.begin(), out.end(), 0.f);
      std::fill(fused.begin(), fused.end(), 0.f);
      for (int b = 0; b < s.batch; ++b)
        for (int h = 0; h < s.heads; ++h) {
          for (auto [r0, r1] : {std::pair{0, std::min(N, 4)}, std::pair{std::min(N, 4), N}})  // uneven ranges
            if (variant < 0)
              ops::attention_head_cpu(qkv.data(), s, b, h, r0, r1, out.data(), scratch, block, bias.data());
            else
              ops::attention_head_packed(qkv.data(), s, b, h, r0, r1, out.data(), scratch, block, isas[variant],
                                         probs.data(), bias.data());
          if (variant >= 0)
            ops::fuse_head_probs(probs.data(), long(N) * N, h, s.heads, fused.data() + std::size_t(b) * 3 * N * N);
        }
      CHECK(max_diff(out, want) < 1e-5);
      if (variant >= 0) CHECK(max_diff(fused, want_fused) < 1e-6);
    }
  }
  // A bias without groups, or groups without a bias, is a caller's bug.
  std::vector<float> qkv(3 * 8), out(8), bias(4);
  CHECK_THROWS_AS(ops::attention_cpu(qkv.data(), {1, 2, 1, 8, 0}, out.data(), nullptr, bias.data()), Error);
  CHECK_THROWS_AS(ops::attention_cpu(qkv.data(), {1, 2, 1, 8, 1}, out.data(), nullptr, nullptr), Error);
}

namespace {

// A graph of one windowed attention over a model's patch tokens (the Swin pattern; graph.hpp's Node::tokens):
// patch embed (4 x 4 grid) -> the model's first qkv linear -> attention -> the attention output read back
// whole as the "features" (a [1, rows * dim] tensor over the same buffer). tokens 0: one problem per image.
constexpr int kGrid = 16, kDim = 24, kHeads = 2;

graph::Graph window_graph(const Model& m, int tokens, std::vector<float> bias, int groups) {
  graph::Graph g;
  g.family = "window test";
  const int b_img = g.add_buffer(), b_tok = g.add_buffer(), b_qkv = g.add_buffer(), b_out = g.add_buffer(true);
  g.images = g.add_tensor(3, 16 * 16, b_img);
  const int tok = g.add_tensor(kGrid, kDim, b_tok), qkv = g.add_tensor(kGrid, 3 * kDim, b_qkv);
  const int att = g.add_tensor(kGrid, kDim, b_out);
  g.features = g.add_tensor(1, kGrid * kDim, b_out);
  graph::Node pe;
  pe.op = graph::Op::PatchEmbed;
  pe.x = g.images;
  pe.y = tok;
  pe.linear = &m.weights.patch_embed;
  pe.patch = {1, 3, 16, 16, 4, kDim};
  g.add(pe);
  g.linear(tok, &m.weights.blocks[0].qkv, qkv, ops::Epilogue::None);
  graph::Node at;
  at.op = graph::Op::Attention;
  at.x = qkv;
  at.y = att;
  at.heads = kHeads;
  at.head_dim = kDim / kHeads;
  at.tokens = tokens;
  at.bias = g.own(std::move(bias));
  at.bias_groups = groups;
  g.add(at);
  return g;
}

// 4 windows of 4 tokens per image, 2 bias groups (window w of image b: problem 4b + w, group w % 2), and the same
// computation as attention over all 16 rows with one bias that holds those windows' biases on the block
// diagonal and -1e30 elsewhere (exp gives exact zeros there).
struct WindowCase {
  std::shared_ptr<const Model> model;
  std::vector<float> windowed_bias, full_bias;
  static constexpr int window = 4, windows = kGrid / window, groups = 2;
};

WindowCase window_case() {
  WindowCase c;
  Model m = Model::random(test::tiny_config(false, 16, 4, kDim, 1, kHeads, 10), 31);
  m.dims.dim = kGrid * kDim;  // the read-back "features": the whole attention output of an image
  c.model = std::make_shared<const Model>(std::move(m));
  const int t = WindowCase::window, G = WindowCase::groups;
  c.windowed_bias = random_bias({1, t, kHeads, kDim / kHeads, G}, 33);
  c.full_bias.assign(std::size_t(kHeads) * kGrid * kGrid, -1e30f);
  for (int w = 0; w < WindowCase::windows; ++w)
    for (int h = 0; h < kHeads; ++h)
      for (int i = 0; i < t; ++i)
        for (int j = 0; j < t; ++j)
          c.full_bias[(std::size_t(h) * kGrid + w * t + i) * kGrid + w * t + j] =
              c.windowed_bias[((std::size_t(w % G) * kHeads + h) * t + i) * t + j];
  return c;
}

}  // namespace

TEST_CASE("attention graph node: windows of `tokens` rows run as separate problems (CPU)", "[engine][attention]") {
  const WindowCase c = window_case();
  const int batch = 5;
  const auto images = test::random_floats(std::size_t(batch) * 3 * 16 * 16, 35);
  auto windowed = make_cpu_backend(c.model, window_graph(*c.model, c.window, c.windowed_bias, c.groups));
  auto full = make_cpu_backend(c.model, window_graph(*c.model, 0, c.full_bias, 1));
  const auto a = windowed->forward(images, batch, {}), b = full->forward(images, batch, {});
  INFO("max diff " << test::max_abs_diff(a.features, b.features));
  CHECK(test::max_abs_diff(a.features, b.features) < 1e-5f);
  // Without the mask the full attention is another result: the comparison above can fail.
  std::vector<float> unmasked = c.full_bias;
  for (auto& v : unmasked) v = v == -1e30f ? 0.f : v;
  auto plain = make_cpu_backend(c.model, window_graph(*c.model, 0, unmasked, 1));
  CHECK(test::max_abs_diff(a.features, plain->forward(images, batch, {}).features) > 1e-3f);

  // validate(): rows not a whole number of windows, a bias of another size, groups that do not divide the
  // windows per image, explain maps of windowed attention.
  CHECK_THROWS_AS(window_graph(*c.model, 3, random_bias({1, 3, kHeads, 12, 1}, 1), 1).validate(), Error);
  CHECK_THROWS_AS(window_graph(*c.model, c.window, c.windowed_bias, 1).validate(), Error);
  CHECK_THROWS_AS(window_graph(*c.model, c.window, random_bias({1, 4, kHeads, 12, 3}, 1), 3).validate(), Error);
  graph::Graph explained = window_graph(*c.model, c.window, c.windowed_bias, c.groups);
  explained.nodes.back().explain = 0;
  CHECK_THROWS_AS(explained.validate(), Error);
}

TEST_CASE("attention graph node: windows of `tokens` rows run as separate problems (Vulkan)", "[vulkan][attention]") {
  const WindowCase c = window_case();
  const int batch = 5;
  const auto images = test::random_floats(std::size_t(batch) * 3 * 16 * 16, 35);
  test::VkFixture probe;
  auto cpu = make_cpu_backend(c.model, window_graph(*c.model, c.window, c.windowed_bias, c.groups));
  const auto want = cpu->forward(images, batch, {});
  for (bool fp16 : test::precisions(probe.ctx)) {
    VulkanBackendOptions o;
    o.fp16 = fp16;
    o.validation = true;
    o.max_batch = 3;  // two passes (3 + 2 images): each numbers its problems from 0
    auto windowed = make_vulkan_backend(c.model, window_graph(*c.model, c.window, c.windowed_bias, c.groups), o);
    auto full = make_vulkan_backend(c.model, window_graph(*c.model, 0, c.full_bias, 1), o);
    const auto a = windowed->forward(images, batch, {}), b = full->forward(images, batch, {});
    INFO((fp16 ? "fp16" : "fp32") << ": windowed vs CPU " << test::max_abs_diff(a.features, want.features)
                                  << ", windowed vs masked full " << test::max_abs_diff(a.features, b.features));
    CHECK(test::max_abs_diff(a.features, want.features) < (fp16 ? 2e-2f : 1e-4f));
    CHECK(test::max_abs_diff(a.features, b.features) < (fp16 ? 2e-3f : 1e-5f));
    for (const auto& msg : windowed->validation_messages()) UNSCOPED_INFO(msg);
    for (const auto& msg : full->validation_messages()) UNSCOPED_INFO(msg);
    CHECK(windowed->validation_messages().empty());
    CHECK(full->validation_messages().empty());
  }
}

// Not part of the suite (hidden tag): kernel time for ViT-Ti's attention at batch 8, without validation.
// Wall time on a shared machine is noisy, so the process CPU time of the same run is reported beside it.
TEST_CASE("attention: timing for ViT-Ti batch 8", "[.][bench][attention]") {
  gpu::Context ctx;
  gpu::KernelCache kernels(ctx);
  gpu::Recorder rec(ctx);
  const ops::AttentionShape s{8, 197, 3, 64};
  const auto qkv = test::random_floats(std::size_t(s.batch) * s.tokens * 3 * s.dim(), 1);
  const double flops = 4.0 * s.batch * s.heads * double(s.tokens) * s.tokens * s.head_dim;
  const auto cpu_ms = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3;
  };
  for (bool fp16 : test::precisions(ctx)) {
    auto bq = gpu::upload_floats(ctx, qkv, fp16);
    gpu::Buffer bo(ctx, gpu::storage_bytes(std::size_t(s.batch) * s.tokens * s.dim(), fp16), gpu::MemoryUse::Device);
    gpu::Buffer bf(ctx, std::size_t(s.batch) * 3 * s.tokens * s.tokens * 4, gpu::MemoryUse::Device);
    gpu::OpContext oc{kernels, rec, fp16};
    for (auto kernel : {ops::AttentionKernel::Rows, ops::AttentionKernel::Tiled}) {
      for (bool explain : {false, true}) {
        double best = 1e30, best_cpu = 0;
        for (int it = 0; it < 6; ++it) {  // the first run includes the pipeline's JIT compile on lavapipe
          rec.begin();
          ops::attention_vk(oc, gpu::whole(bq), s, gpu::whole(bo), explain ? gpu::whole(bf) : gpu::Slice{}, kernel);
          const double c0 = cpu_ms();
          const auto t0 = std::chrono::steady_clock::now();
          rec.submit_and_wait();
          const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
          if (it > 0 && ms < best) {
            best = ms;
            best_cpu = cpu_ms() - c0;
          }
        }
        WARN(kernel_name(kernel) << (fp16 ? " fp16" : " fp32") << (explain ? " +explain" : "") << ": " << best
                                 << " ms wall (" << flops / best * 1e-6 << " GFLOP/s of attention), " << best_cpu
                                 << " ms CPU");
      }
    }
  }
  CHECK(ctx.validation_messages().empty());
}
