// `vitvk devices` and `vitvk bench` alone, in a binary that links no image codecs: OpenCV's imgcodecs pulls in
// ~200 MB of shared libraries (GDAL and its kin), this one needs only libfmt, OpenBLAS and the C/C++ runtimes,
// and loads Vulkan at run time. tools/bench/gpu/bundle.sh carries it to a machine that has none of vitvk's
// packages (the device machine with a GPU).
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vitvk devices / bench without the image codecs (see tools/bench/gpu/)", "vitvk_bench_lean"};
  vitvk::cli::Registry registry;
  vitvk::cli::add_devices_command(app, registry);
  vitvk::cli::add_bench_command(app, registry);
  return vitvk::cli::run_app(app, registry, argc, argv);
}
