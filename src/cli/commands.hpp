#pragma once
// Subcommand registry: each src/cli/<command>.cpp adds its options and a runner returning the exit code.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <functional>
#include <utility>
#include <vector>

namespace vitvk::cli {

using Runner = std::function<int()>;

class Registry {
 public:
  void add(CLI::App* sub, Runner run) { entries_.emplace_back(sub, std::move(run)); }
  int run_selected() const {
    for (const auto& [sub, run] : entries_)
      if (sub->parsed()) return run();
    return 1;
  }

 private:
  std::vector<std::pair<CLI::App*, Runner>> entries_;
};

// One per command file.
void add_info_command(CLI::App& app, Registry& reg);
void add_classify_command(CLI::App& app, Registry& reg);
void add_embed_command(CLI::App& app, Registry& reg);
void add_devices_command(CLI::App& app, Registry& reg);
void add_bench_command(CLI::App& app, Registry& reg);
void add_quantize_command(CLI::App& app, Registry& reg);

inline void register_commands(CLI::App& app, Registry& reg) {
  add_classify_command(app, reg);
  add_embed_command(app, reg);
  add_info_command(app, reg);
  add_devices_command(app, reg);
  add_bench_command(app, reg);
  add_quantize_command(app, reg);
}

// Parses the command line and runs the chosen subcommand; any error becomes a message and exit code 1.
inline int run_app(CLI::App& app, const Registry& reg, int argc, char** argv) {
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  try {
    return reg.run_selected();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", app.get_name().c_str(), e.what());
    return 1;
  }
}

}  // namespace vitvk::cli
