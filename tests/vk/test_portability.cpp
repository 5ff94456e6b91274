// Optional Vulkan features and their absence paths (README: Vulkan requirements): descriptor sets without push
// descriptors, shared-memory reductions without subgroup arithmetic, requested subgroup sizes, and what the
// embedded shaders may ask of a device.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>

#include "engine/backend.hpp"
#include "engine/factory.hpp"
#include "ops/layernorm.hpp"
#include "ops/softmax.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"
#include "vk/spirv_blobs.hpp"

using namespace vitvk;

namespace {

gpu::ContextOptions with_push(bool on) {
  gpu::ContextOptions o;
  o.push_descriptors = on;
  return o;
}
gpu::ContextOptions without_subgroup_ops() {
  gpu::ContextOptions o;
  o.subgroup_ops = false;
  return o;
}

struct LayerNormCase {
  int rows = 37, dim = 96;
  std::vector<float> x, g, b, want;
  LayerNormCase() {
    x = test::random_floats(std::size_t(rows) * dim, 11, 2.f);
    g = test::random_floats(dim, 12);
    b = test::random_floats(dim, 13);
    want.resize(x.size());
    ops::layernorm_cpu(x.data(), rows, dim, g.data(), b.data(), 1e-6f, want.data(), dim, dim);
  }
};

// The SPIR-V capabilities (OpCapability operands) a module declares.
std::set<uint32_t> capabilities(const gpu::shaders::Blob& blob) {
  std::set<uint32_t> caps;
  for (std::size_t i = 5; i < blob.word_count;) {  // 5 header words, then instructions (word count << 16 | opcode)
    const uint32_t n = blob.words[i] >> 16, op = blob.words[i] & 0xffff;
    if (n == 0) break;
    if (op == 17 && i + 1 < blob.word_count) caps.insert(blob.words[i + 1]);  // OpCapability
    i += n;
  }
  return caps;
}
constexpr uint32_t kFloat16 = 9, kGroupNonUniformArithmetic = 63, kGroupNonUniformBallot = 64,
                   kStorageBuffer16BitAccess = 4433;

}  // namespace

TEST_CASE("without push descriptors, a pass binds descriptor sets from one pool reset per pass", "[vulkan][portability]") {
  test::VkFixture fx(with_push(false));
  CHECK_FALSE(fx.ctx.push_descriptors_enabled());
  LayerNormCase c;
  auto bx = fx.upload(c.x), bg = fx.upload(c.g), bb = fx.upload(c.b);
  auto by = fx.zeros(c.x.size());
  auto oc = fx.ops(false);
  // 150 dispatches: more sets than the first pool holds (64), so the first pass grows to several pools ...
  for (int pass = 0; pass < 3; ++pass) {
    fx.rec.begin();
    for (int i = 0; i < 150; ++i)
      ops::layernorm_vk(oc, gpu::whole(bx), gpu::whole(bg), gpu::whole(bb), gpu::whole(by), c.rows, c.dim, 1e-6f, c.dim, c.dim);
    fx.rec.submit_and_wait();
    INFO("pass " << pass);
    // ... and every later pass takes all its sets from the one pool sized from the pass before.
    if (pass == 0) CHECK(fx.rec.descriptor_pools() > 1);
    else CHECK(fx.rec.descriptor_pools() == 1);
    CHECK(test::max_abs_diff(fx.download(by, c.x.size()), c.want) < 1e-4f);
  }
  fx.require_clean_validation();
}

TEST_CASE("push descriptors are used where the device has them, and the setting turns them off", "[vulkan][portability]") {
  test::VkFixture on(with_push(true));
  CHECK(on.ctx.push_descriptors_enabled() == on.ctx.info().push_descriptor);
  LayerNormCase c;
  auto bx = on.upload(c.x), bg = on.upload(c.g), bb = on.upload(c.b);
  auto by = on.zeros(c.x.size());
  auto oc = on.ops(false);
  on.rec.begin();
  ops::layernorm_vk(oc, gpu::whole(bx), gpu::whole(bg), gpu::whole(bb), gpu::whole(by), c.rows, c.dim, 1e-6f, c.dim, c.dim);
  on.rec.submit_and_wait();
  CHECK(on.rec.descriptor_pools() == (on.ctx.push_descriptors_enabled() ? 0u : 1u));
  CHECK(test::max_abs_diff(on.download(by, c.x.size()), c.want) < 1e-4f);
  on.require_clean_validation();
}

TEST_CASE("without subgroup arithmetic, the reduction kernels run their shared-memory variants", "[vulkan][portability]") {
  test::VkFixture fx(without_subgroup_ops());
  CHECK_FALSE(fx.ctx.subgroup_ops_enabled());
  for (bool fp16 : test::precisions(fx.ctx)) {
    auto oc = fx.ops(fp16);
    CHECK(oc.reduce_shader("layernorm") == std::string(fp16 ? "layernorm.nosg.fp16" : "layernorm.nosg"));
    CHECK(fx.kernels.has_shader(oc.reduce_shader("layernorm")));
    CHECK(fx.kernels.has_shader(oc.reduce_shader("softmax")));
    CHECK(fx.kernels.has_shader(oc.reduce_shader("attention_explain")));
  }
  LayerNormCase c;
  auto bx = fx.upload(c.x), bg = fx.upload(c.g), bb = fx.upload(c.b);
  auto by = fx.zeros(c.x.size());
  std::vector<float> sm_want(c.x.size());
  ops::softmax_cpu(c.x.data(), c.rows, c.dim, sm_want.data());
  auto bs = fx.zeros(c.x.size());
  auto oc = fx.ops(false);
  fx.rec.begin();
  ops::layernorm_vk(oc, gpu::whole(bx), gpu::whole(bg), gpu::whole(bb), gpu::whole(by), c.rows, c.dim, 1e-6f, c.dim, c.dim);
  ops::softmax_vk(oc, gpu::whole(bx), c.rows, c.dim, gpu::whole(bs));
  fx.rec.submit_and_wait();
  CHECK(test::max_abs_diff(fx.download(by, c.x.size()), c.want) < 1e-4f);
  CHECK(test::max_abs_diff(fx.download(bs, c.x.size()), sm_want) < 1e-5f);
  fx.require_clean_validation();
}

TEST_CASE("a kernel built at a requested subgroup size runs clean", "[vulkan][portability]") {
  test::VkFixture fx;
  const auto& d = fx.ctx.info();
  INFO(d.name << ": subgroup " << d.subgroup_size << " [" << d.min_subgroup_size << ", " << d.max_subgroup_size << "]");
  CHECK(d.min_subgroup_size >= 1);
  CHECK(d.min_subgroup_size <= d.subgroup_size);
  CHECK(d.subgroup_size <= d.max_subgroup_size);
  if (!fx.ctx.subgroup_size_control_enabled()) {
    test::skip("this device cannot request a subgroup size (VK_EXT_subgroup_size_control)");
    return;
  }
  // Outside the device's range the request is refused before Vulkan sees it.
  CHECK_THROWS_AS(fx.kernels.get("layernorm", 4, 20, std::array{d.max_subgroup_size * 2}, {}, d.max_subgroup_size * 2),
                  Error);
  LayerNormCase c;
  auto bx = fx.upload(c.x), bg = fx.upload(c.g), bb = fx.upload(c.b);
  for (uint32_t size = d.min_subgroup_size; size <= d.max_subgroup_size; size *= 2) {
    auto by = fx.zeros(c.x.size());
    struct {
      uint32_t rows, dim, x_stride, y_stride;
      float eps;
    } push{uint32_t(c.rows), uint32_t(c.dim), uint32_t(c.dim), uint32_t(c.dim), 1e-6f};
    const std::string shader = fx.ctx.subgroup_ops_enabled() ? "layernorm" : "layernorm.nosg";
    const auto& k = fx.kernels.get(shader, 4, sizeof push, std::array{size}, {}, size);
    fx.rec.begin();
    fx.rec.dispatch(k, {gpu::whole(bx), gpu::whole(bg), gpu::whole(bb), gpu::whole(by)}, push, uint32_t(c.rows));
    fx.rec.submit_and_wait();
    INFO("requested subgroup size " << size);
    CHECK(test::max_abs_diff(fx.download(by, c.x.size()), c.want) < 1e-4f);
  }
  fx.require_clean_validation();
}

TEST_CASE("embedded shaders need 16-bit storage only in fp16 variants and never fp16 arithmetic", "[vulkan][portability]") {
  // fp16 "arithmetic" is optional because no kernel does any: fp16 is a storage format, math stays fp32.
  // Subgroup arithmetic / ballot appear only in kernels that have a fallback: a ".nosg" variant, or the rows
  // attention form, which the host uses only where subgroup operations are enabled (else the tiled form).
  const std::set<std::string> sg_with_fallback = {"layernorm", "softmax", "attention_explain", "attention",
                                                  "attention_explain_rows"};
  for (const auto& blob : gpu::shaders::all()) {
    const std::string name(blob.name);
    INFO(name);
    const auto caps = capabilities(blob);
    CHECK(caps.count(kFloat16) == 0);
    const bool fp16 = name.find(".fp16") != std::string::npos;
    if (!fp16) CHECK(caps.count(kStorageBuffer16BitAccess) == 0);
    const bool nosg = name.find(".nosg") != std::string::npos;
    if (caps.count(kGroupNonUniformArithmetic) || caps.count(kGroupNonUniformBallot)) {
      CHECK_FALSE(nosg);
      CHECK(sg_with_fallback.count(name.substr(0, name.find('.'))) == 1);
    }
  }
}

TEST_CASE("fp16 on a device without 16-bit storage is a clear error, auto precision runs fp32", "[vulkan][portability][engine]") {
  const auto devices = gpu::list_devices();
  const auto& dev = devices[gpu::pick_device(devices, std::nullopt)];
  auto model = std::make_shared<const Model>(Model::random(test::tiny_config(false, 32, 4, 16, 2, 2, 10), 3));
  VulkanBackendOptions o;
  o.validation = true;
  o.fp16 = true;
  if (dev.fp16_storage) {
    test::skip("'" + dev.name + "' has 16-bit storage (SwiftShader, in the swiftshader: run, has not)");
    return;
  }
  try {
    (void)make_vulkan_backend(model, o);
    FAIL("fp16 was accepted on a device without 16-bit storage");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Unsupported);
    CHECK_THAT(e.what(), Catch::Contains("16-bit storage") && Catch::Contains(dev.name));
  }
  // --precision auto (the factory) picks fp32 on it, and the backend runs clean.
  BackendRequest r;
  r.backend = BackendChoice::Vulkan;
  r.precision = PrecisionChoice::Auto;
  r.validation = true;
  auto fp32 = make_backend(model, r);
  CHECK(fp32->precision() == "fp32");
  CHECK(fp32->validation_messages().empty());
}
