#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include "model/model.hpp"
#include "model/safetensors.hpp"
#include "support/test_data.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;

namespace {

std::vector<uint8_t> with_header(const std::string& header, std::size_t data_bytes) {
  std::vector<uint8_t> out(8 + header.size() + data_bytes, 0);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

// Parses bytes expecting Error(ModelFormat) whose message contains `needle` and names the source.
void expect_rejected(const std::vector<uint8_t>& bytes, const std::string& needle) {
  try {
    (void)SafeTensors::parse(bytes, "bad.safetensors");
    FAIL("accepted a malformed file; expected: " << needle);
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(e.code() == ErrorCode::ModelFormat);
    CHECK_THAT(e.what(), Catch::Contains("bad.safetensors") && Catch::Contains(needle));
  }
}

}  // namespace

TEST_CASE("safetensors round-trips F32, F16 and BF16 tensors", "[model][safetensors]") {
  const std::vector<float> v = {0.f, 1.f, -2.5f, 3.140625f, 65504.f, -0.0001f, 1e-8f, 123.456f};
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    auto bytes = serialize_safetensors({TensorData::from_f32("a.b", {2, 4}, v, dt), TensorData::from_f32("z", {1}, std::span<const float>(v.data(), 1), dt)},
                                       {{"format", "pt"}});
    auto st = SafeTensors::parse(bytes, "mem");
    REQUIRE(st.tensors().size() == 2);
    CHECK(st.metadata().at("format") == "pt");
    const TensorView* t = st.find("a.b");
    REQUIRE(t);
    CHECK(t->dtype == dt);
    CHECK(t->shape == std::vector<int64_t>{2, 4});
    auto back = st.to_f32(*t);
    REQUIRE(back.size() == v.size());
    const float rel = dt == DType::F32 ? 0.f : dt == DType::F16 ? 1e-3f : 8e-3f;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (dt == DType::F16 && std::abs(v[i]) < 6e-5f) {
        CHECK(std::abs(back[i] - v[i]) < 6e-8f);  // subnormal range: absolute spacing
      } else {
        CHECK(std::abs(back[i] - v[i]) <= rel * std::abs(v[i]));
      }
    }
  }
}

TEST_CASE("safetensors rejects malformed files with a clear message", "[model][safetensors]") {
  const std::string good = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  REQUIRE_NOTHROW(SafeTensors::parse(with_header(good, 16), "ok"));

  SECTION("empty file") { expect_rejected({}, "truncated"); }
  SECTION("truncated before the header length") { expect_rejected({1, 2, 3}, "truncated"); }
  SECTION("huge header length") {
    auto b = with_header(good, 16);
    for (int i = 0; i < 8; ++i) b[i] = 0xff;
    expect_rejected(b, "exceeds the limit");
  }
  SECTION("header length past the end") {
    auto b = with_header(good, 0);
    b.resize(b.size() - 5);
    expect_rejected(b, "truncated");
  }
  SECTION("bad JSON") { expect_rejected(with_header("{\"w\": [", 0), "not valid JSON"); }
  SECTION("JSON that is not an object") { expect_rejected(with_header("[1,2]", 0), "not a JSON object"); }
  SECTION("offsets past the end") { expect_rejected(with_header(good, 8), "past the data area"); }
  SECTION("wrong dtype size") {
    expect_rejected(with_header(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", 16), "needs 16");
  }
  SECTION("unknown dtype") {
    expect_rejected(with_header(R"({"w":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2), "unknown dtype");
  }
  SECTION("overlapping tensors") {
    expect_rejected(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                    "overlap");
  }
  SECTION("begin after end") {
    expect_rejected(with_header(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8), "begin");
  }
  SECTION("negative dimension") {
    expect_rejected(with_header(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "negative");
  }
  SECTION("shape that overflows") {
    expect_rejected(with_header(R"({"w":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}})", 4),
                    "overflows");
  }
  SECTION("missing data_offsets") { expect_rejected(with_header(R"({"w":{"dtype":"F32","shape":[1]}})", 4), "data_offsets"); }
  SECTION("non-string metadata") { expect_rejected(with_header(R"({"__metadata__":{"a":1}})", 0), "__metadata__"); }
}

TEST_CASE("safetensors open() names the missing file", "[model][safetensors]") {
  try {
    (void)SafeTensors::open("/nonexistent/dir/model.safetensors");
    FAIL("opened a missing file");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::Io);
    CHECK_THAT(e.what(), Catch::Contains("/nonexistent/dir/model.safetensors"));
  }
}
