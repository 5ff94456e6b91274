// `vitvk quantize MODEL OUT`: writes MODEL with the linear layers int8 precision runs in int8 stored as int8
// (I8 weights + F32 scales per output channel, or per channel and group of --group input channels;
// model/quantize.hpp), so that loading it makes no fp32 copy of them.
#include <fmt/core.h>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "cli/commands.hpp"
#include "model/model.hpp"
#include "model/quantize.hpp"
#include "model/resolve.hpp"
#include "vitvk/error.hpp"

namespace vitvk::cli {

void add_quantize_command(CLI::App& app, Registry& reg) {
  auto* sub = app.add_subcommand("quantize", "Write a copy of a model with its transformer blocks' linear layers in "
                                             "int8 (a scale per channel, or per channel and --group inputs), for "
                                             "--precision int8");
  auto in = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto group = std::make_shared<int>(0);
  sub->add_option("MODEL", *in, "Model directory or name")->required();
  sub->add_option("OUT", *out, "Directory to write config.json + model.safetensors to")->required();
  sub->add_option("--group", *group,
                  "Input channels per scale (a multiple of 8; 64 is closer to fp32, README 'int8 on the CPU'); "
                  "0: one scale per output channel")
      ->default_val(0);
  reg.add(sub, [in, out, group] {
    if (*group != 0 && !int8_file_group_valid(*group))
      throw Error(ErrorCode::InvalidArgument,
                  "--group " + std::to_string(*group) + ": expected 0 or a multiple of 8 up to " +
                      std::to_string(kInt8MaxFileGroup));
    const std::filesystem::path src = resolve_model(*in, ModelSearchEnv::from_process());
    std::error_code ec;
    if (std::filesystem::equivalent(src, *out, ec))
      throw Error(ErrorCode::InvalidArgument, *out + ": is the model's own directory; choose another OUT");
    Model m = Model::load(src);
    if (has_int8_weights(m)) throw Error(ErrorCode::InvalidArgument, src.string() + ": is already int8");
    quantize_int8(m, *group);
    m.save(*out);
    const auto bytes = [](const std::filesystem::path& p) { return std::filesystem::file_size(p / "model.safetensors"); };
    fmt::print("{} -> {}: {:.1f} MiB -> {:.1f} MiB (blocks' qkv, proj, fc1, fc2 in int8, {})\n", src.string(), *out,
               bytes(src) / 1048576.0, bytes(*out) / 1048576.0,
               *group ? fmt::format("a scale per channel and {} inputs", *group) : std::string("a scale per channel"));
    return 0;
  });
}

}  // namespace vitvk::cli
