// Fuzzes SafeTensors::parse on arbitrary bytes, then what a loader does with an accepted file: every tensor's
// conversion to float and Model::from_tensors. Only vitvk::Error may escape the parser; anything else (another
// exception type, a sanitizer report, a view outside the input) is a finding.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_check.hpp"
#include "model/model.hpp"
#include "model/safetensors.hpp"
#include "vitvk/error.hpp"

namespace {

// The shape of the corpus' tiny model (tests/fuzz/make_corpus.py): dims not given here come from the tensors.
vitvk::ModelConfig fuzz_config() {
  vitvk::ModelConfig c;
  c.architecture = "vit_fuzz";
  c.num_heads = 2;
  c.preprocess.height = c.preprocess.width = 16;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  try {
    const auto st = vitvk::SafeTensors::parse(bytes, "fuzz.safetensors");
    for (const auto& t : st.tensors()) {
      FUZZ_CHECK(st.find(t.name) == &t);
      FUZZ_CHECK(t.numel() >= 0);
      FUZZ_CHECK(static_cast<uint64_t>(t.numel()) * vitvk::dtype_size(t.dtype) == t.data.size());
      if (!t.data.empty()) {
        FUZZ_CHECK(t.data.data() >= data + 8);
        FUZZ_CHECK(t.data.data() + t.data.size() <= data + size);
      }
      switch (t.dtype) {
        case vitvk::DType::F32: case vitvk::DType::F16: case vitvk::DType::BF16: case vitvk::DType::F64:
          FUZZ_CHECK(st.to_f32(t).size() == static_cast<std::size_t>(t.numel()));
          break;
        default:
          break;
      }
    }
    (void)vitvk::Model::from_tensors(fuzz_config(), st);
  } catch (const vitvk::Error&) {
  }
  return 0;
}
