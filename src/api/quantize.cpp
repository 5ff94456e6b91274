// vitvk::quantize_model (include/vitvk/quantize.hpp): the one path behind `vitvk quantize`, the C API and Python.
#include "vitvk/quantize.hpp"

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
  if (options.group != 0 && !int8_file_group_valid(options.group))
    throw Error(ErrorCode::InvalidArgument, "int8 group " + std::to_string(options.group) +
                                                ": expected 0 or a multiple of 8 up to " +
                                                std::to_string(kInt8MaxFileGroup));
  if (out.empty()) throw Error(ErrorCode::InvalidArgument, "quantize_model: no output directory given");
  const fs::path src = resolve_model(model);
  std::error_code ec;
  if (fs::equivalent(src, out, ec))
    throw Error(ErrorCode::InvalidArgument, out + ": is the model's own directory; choose another");
  Model m = Model::load(src);
  if (has_int8_weights(m)) throw Error(ErrorCode::InvalidArgument, src.string() + ": is already int8");
  quantize_int8(m, options.group);
  QuantizeResult r;
  r.int8_layers = save_int8_copy(m, out);
  r.source = src.string();
  r.directory = out;
  r.source_bytes = fs::file_size(src / "model.safetensors", ec);
  r.bytes = fs::file_size(fs::path(out) / "model.safetensors", ec);
  r.group = options.group;
  return r;
}

}  // namespace vitvk
