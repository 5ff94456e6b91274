// `vitvk bench --verify`: the timed batch's logits checked against the CPU backend, on lavapipe.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli/cli_support.hpp"
#include "model/model.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "vk/context.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

namespace {

test::CommandResult bench(const fs::path& root, const std::string& args) {
  return test::run_command(test::shell_quote(VITVK_CLI_PATH) + " bench --model " +
                               test::shell_quote((root / "model").string()) + " -n 1 --warmup 0 " + args,
                           root);
}

}  // namespace

TEST_CASE("bench --verify compares the Vulkan backend's logits with the CPU backend's", "[cli][bench][vulkan]") {
  test::TempDir tmp;
  // Odd sizes: 3 images in the batch, 2 of them checked; a distilled model (two heads averaged).
  Model::random(test::tiny_config(true, 40, 8, 36, 2, 3, 13), 5).save(tmp.path() / "model");

  const auto fp32 = bench(tmp.path(), "-b vulkan --precision fp32 --batch 3 --verify 2 -f json");
  INFO(fp32.err);
  REQUIRE(fp32.exit_code == 0);
  const auto j = nlohmann::json::parse(fp32.out);
  const auto& v = j.at("verify");
  CHECK(v.at("images") == 2);
  CHECK(v.at("ok") == true);
  CHECK(v.at("bound").get<double>() == Approx(1e-3));
  CHECK(v.at("max_abs_diff").get<double>() <= 1e-3);
  CHECK(v.at("max_abs_logit").get<double>() > 0.0);  // a real comparison: the logits were not all zero
  CHECK(v.at("top1_agree") == 2);

  // fp16 storage is reported but not judged against the fp32 bound.
  // On a device without 16-bit storage (SwiftShader), asking for fp16 is a clear error instead.
  const auto fp16 = bench(tmp.path(), "-b vulkan --precision fp16 --batch 2 --verify 4 -f json");
  INFO(fp16.err);
  const auto devices = gpu::list_devices();
  if (!devices[gpu::pick_device(devices, std::nullopt)].fp16_storage) {
    CHECK(fp16.exit_code == 1);
    CHECK(fp16.err.find("lacks 16-bit storage buffers") != std::string::npos);
  } else {
    REQUIRE(fp16.exit_code == 0);
    const auto h = nlohmann::json::parse(fp16.out).at("verify");
    CHECK(h.at("images") == 2);  // capped at the batch
    CHECK(h.at("bound").is_null());
    CHECK(h.at("max_abs_diff").get<double>() < 0.1);
  }

  // The table form says what was checked.
  const auto table = bench(tmp.path(), "-b vulkan --precision fp32 --verify 1");
  REQUIRE(table.exit_code == 0);
  CHECK(table.out.find("verify: max |logit - CPU|") != std::string::npos);
  CHECK(table.out.find("ok (fp32 bound 0.001)") != std::string::npos);
}

TEST_CASE("bench --verify needs a Vulkan backend to check", "[cli][bench]") {
  test::TempDir tmp;
  Model::random(test::tiny_config(), 2).save(tmp.path() / "model");
  const auto r = bench(tmp.path(), "-b cpu --verify 1");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--verify checks a Vulkan backend") != std::string::npos);
  const auto negative = bench(tmp.path(), "-b cpu --verify -1");
  CHECK(negative.exit_code == 1);
  CHECK(negative.err.find("--verify >= 0") != std::string::npos);  // our check, not a parse error
}
