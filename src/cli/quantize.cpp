// `vitvk quantize MODEL OUT`: writes MODEL with the linear layers int8 precision runs in int8 stored as int8
// (I8 weights + F32 scales per output channel, or per channel and group of --group input channels), so that
// loading it makes no fp32 copy of them: vitvk::quantize_model (include/vitvk/quantize.hpp), as the APIs do.
#include <fmt/core.h>

#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "model/quantize.hpp"
#include "vitvk/quantize.hpp"

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
    require_int8_file_group(*group, "--group");  // named as the user wrote it; quantize_model checks it too
    const QuantizeResult r = quantize_model(*in, *out, {.group = *group});
    fmt::print("{} -> {}: {:.1f} MiB -> {:.1f} MiB ({} linear layers of the blocks in int8, {})\n", r.source,
               r.directory, r.source_bytes / 1048576.0, r.bytes / 1048576.0, r.int8_layers,
               r.group ? fmt::format("a scale per channel and {} inputs", r.group) : std::string("a scale per channel"));
    return 0;
  });
}

}  // namespace vitvk::cli
