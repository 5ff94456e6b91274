#include "support/zoo_checks.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "cli/cli_support.hpp"
#include "image/preprocess.hpp"
#include "support/random.hpp"
#include "support/test_data.hpp"
#include "support/vk_fixture.hpp"
#include "vitvk/error.hpp"

namespace vitvk::test {

LoadedCase load_case(const std::string& name, const std::filesystem::path& root) {
  LoadedCase l{zoo_case(name, root), nullptr};
  INFO(name << ": " << l.c.tests);
  l.model = std::make_shared<const Model>(load_zoo_model(l.c));
  return l;
}

void check_preprocess(const LoadedCase& l) {
  const PreprocessConfig& p = l.model->config.preprocess;
  const ZooCase& c = l.c;
  CHECK(p.height == c.pre_height);
  CHECK(p.width == c.pre_width);
  CHECK(p.crop_pct == Approx(c.pre_crop_pct));
  CHECK(p.interpolation == c.pre_interpolation);
  CHECK(p.crop_mode == c.pre_crop_mode);
  for (int i = 0; i < 3; ++i) {
    CHECK(p.mean[i] == Approx(c.pre_mean[i]));
    CHECK(p.std[i] == Approx(c.pre_std[i]));
  }
  const std::size_t per = static_cast<std::size_t>(3) * c.pre_height * c.pre_width;
  for (std::size_t i = 0; i < c.photos.size(); ++i) {
    const auto ours = preprocess(decode_image_file(std::filesystem::path(VITVK_SOURCE_DIR) / c.photos[i]), p);
    const std::vector<float> theirs(c.input.begin() + static_cast<long>(i * per),
                                    c.input.begin() + static_cast<long>((i + 1) * per));
    const double d = max_abs_diff_d(ours, theirs);
    INFO(c.name << " " << c.photos[i] << ": preprocess max |diff| vs timm's transform " << d);
    CHECK(d <= c.preprocess_abs);
  }
}

ForwardResult check_fp32(const std::string& what, const ZooCase& c, Backend& b) {
  const bool maps = c.attn.present();
  auto r = b.forward(c.input, batch_of(c), {.explain = maps});
  INFO(c.name << " on " << what << ": " << c.tests);
  double dl = 0;
  if (c.logits.present()) {
    dl = max_rel_diff(r.logits, c.logits.values);
    INFO("logits max |diff| / max |logit| vs timm " << dl);
    CHECK(dl <= c.fp32_rel);
    CHECK(argmax_rows(r.logits, c.num_classes) == c.top1);
  }
  const double df = max_rel_diff(r.features, c.features.values);
  INFO("features (pre-logits) max |diff| / max |value| vs timm " << df);
  CHECK(df <= c.fp32_rel);
  double da = 0;
  if (maps) {
    const std::size_t n = c.attn.values.size();
    REQUIRE(r.attention.size() >= n);  // the blocks first (an attention-pool map may follow)
    da = max_abs_diff_d(std::vector<float>(r.attention.begin(), r.attention.begin() + long(n)), c.attn.values);
    INFO("attention (mean/max/min over heads) max |diff| vs timm " << da);
    CHECK(da <= c.attn_abs);
  }
  WARN(c.name << " " << what << ": logits rel diff " << dl << ", features " << df << ", attention abs " << da);
  return r;
}

VulkanBackendOptions vulkan_options(const ZooCase& c, bool fp16) {
  VulkanBackendOptions o;
  o.validation = true;
  o.max_batch = batch_of(c);
  o.fp16 = fp16;
  return o;
}

void require_clean(const Backend& b) {
  const auto msgs = b.validation_messages();
  for (const auto& m : msgs) UNSCOPED_INFO(m);
  CHECK(msgs.empty());
}

ForwardResult check_cpu_fp32(const LoadedCase& l) {
  auto cpu = make_cpu_backend(l.model);
  return check_fp32("cpu", l.c, *cpu);
}

ForwardResult check_vulkan_fp32(const LoadedCase& l) {
  auto gpu = make_vulkan_backend(l.model, vulkan_options(l.c, false));
  ForwardResult r = check_fp32("vulkan fp32", l.c, *gpu);
  require_clean(*gpu);
  return r;
}

void check_vulkan_matches_cpu(std::shared_ptr<const Model> model, int batch) {
  const ModelDims& d = model->dims;
  const auto images = random_floats(std::size_t(batch) * d.channels * d.img_h * d.img_w, 4);
  const auto want = make_cpu_backend(model)->forward(images, batch, {});
  VulkanBackendOptions o;
  o.validation = true;
  o.max_batch = batch;
  auto gpu = make_vulkan_backend(model, o);
  const auto got = gpu->forward(images, batch, {});
  const double diff = max_rel_diff(got.logits, want.logits);
  INFO("Vulkan fp32 vs CPU logits max |diff| / max |logit| " << diff);
  CHECK(diff < 1e-4);
  require_clean(*gpu);
}

double bench_gflop_per_image(const std::string& arch) {
  TempDir tmp;
  const auto r = run_command(shell_quote(VITVK_CLI_PATH) + " bench --arch " + shell_quote(arch) +
                                 " -b cpu -n 1 --warmup 0 -f json",
                             tmp.path());
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.at("gflops").get<double>() > 0.0);
  return j.at("gflop_per_image").get<double>();
}

void check_vulkan_fp16(const std::string& name, const std::filesystem::path& root) {
  {
    VkFixture probe;
    if (!probe.ctx.fp16_enabled()) {
      skip("this Vulkan device has no 16-bit storage buffers");
      return;
    }
  }
  const LoadedCase l = load_case(name, root);
  const ZooCase& c = l.c;
  auto gpu = make_vulkan_backend(l.model, vulkan_options(c, true));
  const auto r = gpu->forward(c.input, batch_of(c), {});
  INFO(c.name << " on vulkan fp16: " << c.tests);
  double dl = 0;
  if (c.logits.present()) {
    dl = max_abs_diff_d(r.logits, c.logits.values);
    INFO("fp16 logits max |diff| vs timm " << dl);
    CHECK(dl <= c.fp16_abs);
    CHECK(argmax_rows(r.logits, c.num_classes) == c.top1);
  }
  const double df = max_abs_diff_d(r.features, c.features.values);
  INFO("fp16 features max |diff| vs timm " << df);
  CHECK(df <= c.fp16_abs);
  WARN(c.name << " vulkan fp16: logits abs diff " << dl << ", features " << df);
  require_clean(*gpu);
}

void check_malformed(const std::string& name, const std::filesystem::path& root) {
  const ZooCase c = zoo_case(name, root);
  INFO(name << ": " << c.tests);
  try {
    (void)load_zoo_model(c);
    FAIL("loaded without an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(e.code() == ErrorCode::ModelFormat);
    CHECK_THAT(msg, Catch::Contains("model.safetensors") || Catch::Contains("config.json"));  // names the file
    for (const auto& s : c.error_contains) CHECK_THAT(msg, Catch::Contains(s));
    if (!c.error_any.empty())
      CHECK(std::any_of(c.error_any.begin(), c.error_any.end(),
                        [&](const std::string& s) { return msg.find(s) != std::string::npos; }));
  }
}

}  // namespace vitvk::test
