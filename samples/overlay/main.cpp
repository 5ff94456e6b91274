// Writes where a ViT looked in an image (attention rollout) as a PNG overlay, and prints its top class:
//   vitvk_overlay MODEL IMAGE OUT.png [DISCARD_RATIO]
// (rollout with mean head fusion; a discard ratio such as 0.9 drops each layer's weakest attention first)
#include <vitvk/vitvk.hpp>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: %s MODEL IMAGE OUT.png [DISCARD_RATIO (default 0)]\n", argv[0]);
    return 2;
  }
  try {
    auto model = vitvk::Classifier::load(argv[1]);
    const auto photo = vitvk::Image::load(argv[2]);

    vitvk::ExplainOptions options;
    if (argc == 5) options.discard_ratio = std::atof(argv[4]);
    const auto explanation = model.explain(photo, options);

    vitvk::render_overlay(photo, explanation.map).save(argv[3]);
    const auto& top = explanation.top.front();
    std::printf("%s: %s (%.4f); %dx%d rollout map written over the photo to %s\n", argv[2], top.label.c_str(),
                top.probability, explanation.map.width, explanation.map.height, argv[3]);
    return 0;
  } catch (const vitvk::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", vitvk::to_string(e.code()), e.what());
    return 1;
  }
}
