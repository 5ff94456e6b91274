// `vitvk classify --backend vulkan --precision int8` end to end (the built binary, VITVK_CLI_PATH): it says it runs
// int8 on Vulkan, its logits are the CPU fp32 ones on the same int8 weights (a `vitvk quantize` copy read back in
// fp32) within fp32 rounding, and quantizing at load or reading the quantized copy give the same logits.
#include <catch2/catch.hpp>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_support.hpp"
#include "model/model.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"

using namespace vitvk;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct Workspace {
  test::TempDir tmp;
  fs::path root = tmp.path();
  Workspace() {
    Model::random(test::tiny_config(false, 32, 8, 48, 3, 4, 10), 21).save(root / "model");
    for (const char* name : {"a.png", "b.png", "c.png"}) {
      cv::Mat m(37, 45, CV_8UC3);
      cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(255));
      REQUIRE(cv::imwrite((root / name).string(), m));
    }
  }
  // `env`: extra NAME=VALUE settings for the command.
  test::CommandResult vitvk(const std::string& args, const std::string& env = "") const {
    // VITVK_INT8_LAYERS unset, not empty: empty means no layer at all.
    const std::string cmd = "cd " + test::shell_quote(root.string()) +
                            " && env -u VITVK_PRECISION -u VITVK_INT8_LAYERS -u VITVK_INT8_GROUP " + env + " HOME=" +
                            test::shell_quote((root / "home").string()) + " XDG_CACHE_HOME= VITVK_MODEL_PATH= " +
                            test::shell_quote(VITVK_CLI_PATH) + " " + args;
    return test::run_command(cmd, root);
  }
  // `vitvk quantize model OUT ARGS`, which must succeed; its output.
  test::CommandResult quantize(const std::string& out_and_args) const {
    const auto r = vitvk("quantize model " + out_and_args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r;
  }
  // Every image's logits, in the order of the output rows (the inputs are sorted).
  std::vector<std::vector<double>> logits(const std::string& args, const std::string& expect_backend,
                                         const std::string& env = "") const {
    const auto r = vitvk("classify " + args + " a.png b.png c.png -f jsonl --logits", env);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains(expect_backend));
    std::vector<std::vector<double>> out;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line)["logits"].get<std::vector<double>>());
    REQUIRE(out.size() == 3);
    return out;
  }
};

double max_rel(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
  double d = 0, s = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < a[i].size(); ++j) {
      d = std::max(d, std::abs(a[i][j] - b.at(i).at(j)));
      s = std::max(s, std::abs(b[i][j]));
    }
  return d / s;
}

}  // namespace

TEST_CASE("classify CLI: --backend vulkan --precision int8 gives the CPU fp32 logits of the int8 weights",
          "[cli][vulkan][int8]") {
  Workspace ws;
  ws.quantize("qmodel");
  const auto vk = ws.logits("-m model --backend vulkan --precision int8", "on vulkan");
  CHECK(ws.logits("-m model --backend vulkan --precision int8", ", int8)") == vk);
  const auto cpu = ws.logits("-m qmodel --backend cpu --precision fp32", ", fp32)");
  const double d = max_rel(vk, cpu);
  INFO("vulkan int8 vs cpu fp32 on the int8 weights: max |diff| / max |logit| " << d);
  CHECK(d <= 1e-4);  // the project's fp32 bound (the JSON logits carry enough digits for it)
  // The quantized copy on Vulkan, Auto precision: int8, the same weights, the same logits.
  CHECK(ws.logits("-m qmodel --backend vulkan", ", int8)") == vk);
  // And fp32 on Vulkan from the int8 copy: dequantized.
  CHECK(max_rel(ws.logits("-m qmodel --backend vulkan --precision fp32", ", fp32)"), cpu) <= 1e-4);
}

TEST_CASE("quantize CLI: --group G files run on the CPU and on Vulkan, and other groups are refused",
          "[cli][vulkan][int8]") {
  Workspace ws;
  CHECK_THAT(ws.quantize("g16 --group 16").out, Catch::Contains("a scale per channel and 16 inputs"));
  // `vitvk info` says how each model's weights are stored.
  CHECK_THAT(ws.vitvk("info -m g16").out,
             Catch::Contains("int8: all the blocks' 12 linear layers (qkv, proj, fc1, fc2), a scale per channel and "
                             "16 inputs; the rest float (--precision auto runs int8)"));
  CHECK_THAT(ws.vitvk("info -m model").out, Catch::Contains("float (--precision int8 quantizes at load)"));
  // CPU int8 from it: the activations in groups of 16 as well, the bits of VITVK_INT8_GROUP=16 on the fp32 model.
  const auto cpu_int8 = ws.logits("-m g16 --backend cpu", "int8 GEMM in groups of 16), int8)");
  CHECK(ws.logits("-m model --backend cpu --precision int8", ", int8)", "VITVK_INT8_GROUP=16") == cpu_int8);
  CHECK(ws.logits("-m model --backend cpu --precision int8", ", int8)") != cpu_int8);
  // Vulkan int8 from it: the CPU fp32 logits on its dequantized weights.
  const auto cpu = ws.logits("-m g16 --backend cpu --precision fp32", ", fp32)");
  CHECK(max_rel(ws.logits("-m g16 --backend vulkan", ", int8)"), cpu) <= 1e-4);
  // A group the file cannot hold, before any model is read or any file written; a group against the file's.
  for (const char* bad : {"12", "-8", "70000"}) {
    INFO("--group " << bad);
    const auto r = ws.vitvk(std::string("quantize model bad --group ") + bad);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains(std::string("--group ") + bad) && Catch::Contains("multiple of 8"));
    CHECK_FALSE(fs::exists(ws.root / "bad"));
  }
  CHECK(ws.vitvk("quantize model bad --group x").exit_code != 0);
  const auto clash = ws.vitvk("classify -m g16 --backend cpu a.png", "VITVK_INT8_GROUP=32");
  CHECK(clash.exit_code != 0);
  CHECK_THAT(clash.err, Catch::Contains("VITVK_INT8_GROUP is 32") && Catch::Contains("set it to 16"));
}
