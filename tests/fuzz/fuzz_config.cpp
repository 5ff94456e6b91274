// Fuzzes parse_model_config (config.json) on arbitrary text. An accepted config must survive a round trip
// through model_config_to_json unchanged, so a value the parser lets through but cannot represent is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "model/config.hpp"
#include "vitvk/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  vitvk::ModelConfig c;
  try {
    c = vitvk::parse_model_config(text, "fuzz/config.json");
  } catch (const vitvk::Error&) {
    return 0;
  }
  vitvk::ModelConfig r;
  try {
    r = vitvk::parse_model_config(vitvk::model_config_to_json(c), "fuzz/config.json (round trip)");
  } catch (const vitvk::Error& e) {
    std::fprintf(stderr, "accepted config does not round-trip: %s\n", e.what());
    std::abort();
  }
  FUZZ_CHECK(r.architecture == c.architecture);
  FUZZ_CHECK(r.img_size == c.img_size && r.patch_size == c.patch_size && r.embed_dim == c.embed_dim);
  FUZZ_CHECK(r.depth == c.depth && r.num_heads == c.num_heads && r.num_classes == c.num_classes);
  FUZZ_CHECK(r.distilled == c.distilled && r.ln_eps == c.ln_eps && r.labels == c.labels);
  const auto &p = c.preprocess, &q = r.preprocess;
  FUZZ_CHECK(p.height == q.height && p.width == q.width && p.channels == q.channels);
  FUZZ_CHECK(p.mean == q.mean && p.std == q.std && p.crop_pct == q.crop_pct);
  FUZZ_CHECK(p.interpolation == q.interpolation && p.crop_mode == q.crop_mode);
  return 0;
}
