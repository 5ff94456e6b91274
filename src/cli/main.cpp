// vitvk command-line tool: a thin layer over the library. Each subcommand lives in its own file.
#include <cstdio>

#include "cli/commands.hpp"
#include "vitvk/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vitvk: Vision Transformer image classification on Vulkan compute"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("vitvk ") + VITVK_VERSION);
  vitvk::cli::Registry registry;
  vitvk::cli::register_commands(app, registry);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }
  try {
    return registry.run_selected();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vitvk: error: %s\n", e.what());
    return 1;
  }
}
