// Regression tests for what fuzzing (tests/fuzz, scripts/fuzz.sh) found in the model parsers, and for the
// limits a hostile model file meets. Each case names the input shape that used to misbehave.
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/safetensors.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

std::vector<uint8_t> st_file(const std::string& header, std::size_t data_bytes = 0) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string tensors_json(int count, bool metadata) {
  std::string h = metadata ? R"({"__metadata__":{"format":"pt"})" : "{";
  for (int i = 0; i < count; ++i)
    h += std::string(h.size() > 1 ? "," : "") + "\"t" + std::to_string(i) + R"(":{"dtype":"U8","shape":[1],"data_offsets":[)" +
         std::to_string(i) + "," + std::to_string(i + 1) + "]}";
  return h + "}";
}

void expect_model_format(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    FAIL("accepted; expected an error containing: " << needle);
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.code() == ErrorCode::ModelFormat);
    CHECK_THAT(e.what(), Catch::Contains(needle));
  }
}

ModelConfig parse(const std::string& text) { return parse_model_config(text, "cfg.json"); }

}  // namespace

TEST_CASE("safetensors: a zero dimension makes a tensor empty whatever the other dimensions (fuzz regression)",
          "[model][safetensors][fuzz]") {
  // The running product 2^40 * 2^23 overflowed int64 in TensorView::numel() before the final * 0 (UBSan), and
  // the parser refused [2^40, 2^40, 0] but accepted [0, 2^40, 2^40].
  for (const char* shape : {"[1099511627776,8388608,0]", "[1099511627776,1099511627776,0]", "[0,1099511627776,1099511627776]"}) {
    INFO(shape);
    const auto bytes = st_file(std::string(R"({"e":{"dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,0]}})");
    const auto st = SafeTensors::parse(bytes, "empty.safetensors");
    REQUIRE(st.tensors().size() == 1);
    CHECK(st.tensors()[0].numel() == 0);
    CHECK(st.to_f32(st.tensors()[0]).empty());
  }
  // A hand-made view whose element count does not fit is an error, not a wrapped number.
  TensorView huge{"huge", DType::F32, {int64_t{1} << 40, int64_t{1} << 40}, {}};
  CHECK_THROWS_AS(huge.numel(), Error);
  // Non-zero dimensions whose product overflows are still refused by the parser.
  expect_model_format([] { (void)SafeTensors::parse(st_file(R"({"w":{"dtype":"U8","shape":[1099511627776,1099511627776,2],"data_offsets":[0,1]}})", 1), "x"); },
                      "overflows");
}

TEST_CASE("safetensors: the tensor-count limit counts tensors, not __metadata__", "[model][safetensors][limits]") {
  // Used to compare the JSON entry count with max_tensors + 1, letting max_tensors + 1 tensors through when the
  // file had no __metadata__.
  SafeTensorsLimits limits;
  limits.max_tensors = 3;
  CHECK(SafeTensors::parse(st_file(tensors_json(3, true), 3), "ok", limits).tensors().size() == 3);
  CHECK(SafeTensors::parse(st_file(tensors_json(3, false), 3), "ok", limits).tensors().size() == 3);
  for (bool metadata : {false, true})
    expect_model_format([&] { (void)SafeTensors::parse(st_file(tensors_json(4, metadata), 4), "many.safetensors", limits); },
                        "4 tensors, over the limit of 3");
  // The default limit is in place.
  CHECK(SafeTensorsLimits{}.max_tensors == 100000);
}

TEST_CASE("safetensors: header-size and rank limits", "[model][safetensors][limits]") {
  const std::string header = tensors_json(1, false);
  SafeTensorsLimits limits;
  limits.max_header_bytes = header.size();
  CHECK_NOTHROW(SafeTensors::parse(st_file(header, 1), "ok", limits));
  limits.max_header_bytes = header.size() - 1;
  expect_model_format([&] { (void)SafeTensors::parse(st_file(header, 1), "big.safetensors", limits); },
                      "exceeds the limit of " + std::to_string(header.size() - 1) + " bytes");
  CHECK(SafeTensorsLimits{}.max_header_bytes == 100u << 20);

  const std::string rank9 = R"({"w":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}})";
  expect_model_format([&] { (void)SafeTensors::parse(st_file(rank9, 1), "rank.safetensors"); }, "rank 9 is too large");
  limits = {};
  limits.max_rank = 9;
  CHECK_NOTHROW(SafeTensors::parse(st_file(rank9, 1), "ok", limits));
}

TEST_CASE("config.json: numbers that do not survive the conversion to float are refused (fuzz regression)",
          "[model][config][fuzz]") {
  const std::string pre = R"({"architecture":"vit_tiny_patch16_224",)";
  // 1e-50 passed the (0, 4] check as a double, then became crop_pct 0.0f: the config could not be written back
  // and the eval transform would divide by it.
  expect_model_format([&] { parse(pre + R"("pretrained_cfg":{"crop_pct":1e-50}})"); }, "crop_pct out of range");
  // 1e300 became an infinite mean (every input value -inf); a std of 1e-50 became 0.
  expect_model_format([&] { parse(pre + R"("pretrained_cfg":{"mean":[1e300,0.5,0.5]}})"); }, "pretrained_cfg.mean holds");
  expect_model_format([&] { parse(pre + R"("pretrained_cfg":{"std":[0.5,1e-50,0.5]}})"); }, "pretrained_cfg.std holds");
  expect_model_format([&] { parse(pre + R"("pretrained_cfg":{"std":[0.5,0.5,-1]}})"); }, "must be positive");
  expect_model_format([&] { parse(pre + R"("model_args":{"layer_norm_eps":1e-50}})"); }, "layer_norm_eps out of range");
  expect_model_format([&] { parse(pre + R"("model_args":{"layer_norm_eps":1e300}})"); }, "layer_norm_eps out of range");
  // Unsigned integers past int64 were reported as -1.
  expect_model_format([&] { parse(pre + R"("model_args":{"depth":18446744073709551615}})"); },
                      "depth = 18446744073709551615 is out of range");
  // Ordinary values are still accepted, and an accepted config round-trips through model_config_to_json.
  const ModelConfig c = parse(pre + R"("model_args":{"layer_norm_eps":1e-5},"pretrained_cfg":{"crop_pct":0.95,)"
                                    R"("mean":[-2.5,0,1000],"std":[0.0001,1,1000]}})");
  const ModelConfig r = parse_model_config(model_config_to_json(c), "round trip");
  CHECK(r.preprocess.crop_pct == c.preprocess.crop_pct);
  CHECK(r.preprocess.mean == c.preprocess.mean);
  CHECK(r.preprocess.std == c.preprocess.std);
  CHECK(r.ln_eps == c.ln_eps);
}
