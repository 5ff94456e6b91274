// vitvk command-line tool: a thin layer over the library. Each subcommand lives in its own file.
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vitvk: Vision Transformer image classification on Vulkan compute", "vitvk"};
  app.set_version_flag("--version", std::string("vitvk ") + VITVK_VERSION);
  vitvk::cli::Registry registry;
  vitvk::cli::register_commands(app, registry);
  return vitvk::cli::run_app(app, registry, argc, argv);
}
