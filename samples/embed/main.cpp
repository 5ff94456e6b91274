// Prints the top-5 classes of each image named on the command line:
//   vitvk_embed MODEL IMAGE...
// MODEL is a model directory (config.json + model.safetensors) or a model name (see vitvk::Classifier::load).
#include <vitvk/vitvk.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL IMAGE...\n", argv[0]);
    return 2;
  }
  try {
    auto model = vitvk::Classifier::load(argv[1]);
    const auto& info = model.info();
    std::fprintf(stderr, "%s on %s (%s, %s)\n", info.architecture.c_str(), info.backend.c_str(), info.device.c_str(),
                 info.precision.c_str());
    int failed = 0;
    for (int i = 2; i < argc; ++i) {
      try {
        const auto top5 = model.classify(vitvk::Image::load(argv[i]), 5);
        std::printf("%s\n", argv[i]);
        for (const auto& p : top5) std::printf("  %.4f  %s (%d)\n", p.probability, p.label.c_str(), p.index);
      } catch (const vitvk::Error& e) {  // a bad image: report it and go on with the rest
        std::fprintf(stderr, "%s\n", e.what());
        ++failed;
      }
    }
    return failed == 0 ? 0 : 1;
  } catch (const vitvk::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", vitvk::to_string(e.code()), e.what());
    return 1;
  }
}
