// The C++ side of the Python tests (tests/python/) and of tools/bench/python_bench.py:
//   vitvk_pytest_helper model DIR [img patch dim depth heads classes [seed [distilled]]]
//       writes a random-weight model directory (tests/support/tiny_model.hpp's config), so that the pytest files
//       need no shared data;
//   vitvk_pytest_helper infer MODEL TOP_K FILE...
//       one JSON line per file from the public C++ API on the CPU backend (Image::load + Classifier::infer): the
//       reference the Python module's results are compared with;
//   vitvk_pytest_helper explain MODEL FUSION DISCARD_RATIO FILE...
//       the same for Classifier::explain;
//   vitvk_pytest_helper time MODEL ROUNDS FILE...
//       seconds per Classifier::classify call over the files' decoded images as one batch (each round's time on a
//       line): the C++ cost the Python binding's overhead is measured against.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/model.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/vitvk.hpp"

namespace {

using nlohmann::json;

json top_json(const std::vector<vitvk::Prediction>& top) {
  json t = json::array();
  for (const auto& p : top) t.push_back({p.index, p.label, p.probability});
  return t;
}

vitvk::Classifier load_cpu(const std::string& model) {
  vitvk::LoadOptions o;
  o.backend = vitvk::BackendType::Cpu;
  return vitvk::Classifier::load(model, o);
}

int run(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "model" && argc >= 3) {
    auto arg = [&](int i, int fallback) { return argc > i ? std::atoi(argv[i]) : fallback; };
    const vitvk::ModelConfig c = vitvk::test::tiny_config(arg(10, 0) != 0, arg(3, 32), arg(4, 8), arg(5, 24),
                                                          arg(6, 2), arg(7, 2), arg(8, 10));
    vitvk::Model::random(c, static_cast<uint32_t>(arg(9, 7))).save(argv[2]);
    return 0;
  }
  if (cmd == "infer" && argc >= 4) {
    vitvk::Classifier clf = load_cpu(argv[2]);
    const int k = std::atoi(argv[3]);
    for (int i = 4; i < argc; ++i) {
      const vitvk::Inference r = clf.infer(vitvk::Image::load(argv[i]), k);
      std::cout << json{{"path", argv[i]}, {"top", top_json(r.top)}, {"probabilities", r.probabilities},
                        {"embedding", r.embedding}}.dump() << '\n';
    }
    return 0;
  }
  if (cmd == "explain" && argc >= 5) {
    vitvk::Classifier clf = load_cpu(argv[2]);
    vitvk::ExplainOptions o;
    const std::string f = argv[3];
    o.fusion = f == "max" ? vitvk::AttentionFusion::Max : f == "min" ? vitvk::AttentionFusion::Min : vitvk::AttentionFusion::Mean;
    o.discard_ratio = std::atof(argv[4]);
    for (int i = 5; i < argc; ++i) {
      const vitvk::Explanation e = clf.explain(vitvk::Image::load(argv[i]), o);
      const vitvk::CropRegion& c = e.map.crop;
      std::cout << json{{"path", argv[i]}, {"top", top_json(e.top)}, {"width", e.map.width}, {"height", e.map.height},
                        {"values", e.map.values},
                        {"crop", {c.source_width, c.source_height, c.resized_width, c.resized_height, c.crop_x, c.crop_y,
                                  c.crop_width, c.crop_height}}}.dump()
                << '\n';
    }
    return 0;
  }
  if (cmd == "time" && argc >= 5) {
    vitvk::LoadOptions o;
    o.backend = vitvk::BackendType::Cpu;
    o.max_batch = argc - 4;
    vitvk::Classifier clf = vitvk::Classifier::load(argv[2], o);
    std::vector<vitvk::Image> images;
    for (int i = 4; i < argc; ++i) images.push_back(vitvk::Image::load(argv[i]));
    std::vector<vitvk::ImageView> views(images.begin(), images.end());
    const int rounds = std::atoi(argv[3]);
    for (int r = 0; r < rounds; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto top = clf.classify(views, 5);
      const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
      std::printf("%.6f %d\n", dt.count(), top.front().front().index);
      std::fflush(stdout);
    }
    return 0;
  }
  std::cerr << "usage: vitvk_pytest_helper model DIR [img patch dim depth heads classes [seed [distilled]]]\n"
               "       vitvk_pytest_helper infer MODEL TOP_K FILE...\n"
               "       vitvk_pytest_helper explain MODEL FUSION DISCARD_RATIO FILE...\n"
               "       vitvk_pytest_helper time MODEL ROUNDS FILE...\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "vitvk_pytest_helper: " << e.what() << '\n';
    return 1;
  }
}
