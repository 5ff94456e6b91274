// vitvk::quantize_model (include/vitvk/quantize.hpp): the one path behind `vitvk quantize`, the C API and Python.
#include "vitvk/quantize.hpp"

#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "model/model.hpp"
#include "model/quantize.hpp"
#include "model/resolve.hpp"
#include "vitvk/error.hpp"

namespace vitvk {

QuantizeResult quantize_model(const std::string& model, const std::string& out, const QuantizeOptions& options) {
  namespace fs = std::filesystem;
  require_int8_file_group(options.group, "int8 group");  // before the model is read
  if (out.empty()) throw Error(ErrorCode::InvalidArgument, "quantize_model: no output directory given");
  const fs::path src = resolve_model(model);
  std::error_code ec;
  if (fs::equivalent(src, out, ec))  // save_int8_copy checks it too, but only after the model is read
    throw Error(ErrorCode::InvalidArgument, out + ": is the model's own directory; choose another");
  Model m = Model::load(src);
  if (has_int8_weights(m)) throw Error(ErrorCode::InvalidArgument, src.string() + ": is already int8");
  quantize_int8(m, options.group);
  QuantizeResult r;
  r.int8_layers = save_int8_copy(m, out);
  r.source = src.string();
  r.directory = out;
  const auto bytes = [](const fs::path& dir) {
    std::error_code size_ec;
    const auto n = fs::file_size(dir / "model.safetensors", size_ec);
    return size_ec ? std::uintmax_t{0} : n;  // not (uintmax_t)-1 when the file cannot be stat'ed
  };
  r.source_bytes = bytes(src);
  r.bytes = bytes(out);
  r.group = options.group;
  return r;
}

}  // namespace vitvk
