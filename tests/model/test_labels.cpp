// Label sets for checkpoints without label_names: built-in ImageNet tables chosen by class count and tag.
#include <catch2/catch.hpp>

#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "model/labels.hpp"
#include "model/model.hpp"
#include "support/test_data.hpp"
#include "support/tiny_model.hpp"
#include "vitvk/error.hpp"

using namespace vitvk;
namespace fs = std::filesystem;

TEST_CASE("label sets: chosen by class count and the tag's last ImageNet token", "[model][labels]") {
  CHECK(builtin_label_set(1000, "") == "imagenet-1k");
  CHECK(builtin_label_set(1000, "augreg_in21k_ft_in1k") == "imagenet-1k");
  CHECK(builtin_label_set(21843, "augreg_in21k") == "imagenet-21k-goog");
  CHECK(builtin_label_set(21841, "fb_in22k") == "imagenet-22k");
  CHECK(builtin_label_set(21842, "ms_in22k") == "imagenet-22k-ms");
  CHECK(builtin_label_set(11821, "clip_laion2b_ft_in12k") == "imagenet-12k");
  CHECK(builtin_label_set(11221, "miil_in21k") == "imagenet-21k-miil");
  CHECK(builtin_label_set(1000, "in21k_ft_in22k_ft_in1k") == "imagenet-1k");
  // The tag contradicts the count: nothing is guessed.
  CHECK(builtin_label_set(21843, "augreg_in21k_ft_in1k").empty());
  CHECK(builtin_label_set(1000, "in12k").empty());
  // Unknown counts.
  CHECK(builtin_label_set(10, "").empty());
  CHECK(builtin_label_set(1001, "in1k").empty());
  CHECK(builtin_label_set(0, "").empty());
}

TEST_CASE("label sets: names are the synsets' first lemmas in timm's class order", "[model][labels]") {
  const auto in1k = builtin_label_names("imagenet-1k");
  REQUIRE(in1k.size() == 1000);
  CHECK(in1k[0] == "tench");
  CHECK(in1k[281] == "tabby");
  CHECK(in1k[285] == "Egyptian cat");
  CHECK(in1k[999] == "toilet tissue");
  const auto goog = builtin_label_names("imagenet-21k-goog");
  REQUIRE(goog.size() == 21843);
  CHECK(goog[0] == "organism");
  CHECK(goog[2405] == "Egyptian cat");
  CHECK(goog[21842] == "knothole");
  CHECK(builtin_label_names("imagenet-12k")[1623] == "Egyptian cat");
  CHECK(builtin_label_names("imagenet-22k").size() == 21841);
  const auto ms = builtin_label_names("imagenet-22k-ms");
  REQUIRE(ms.size() == 21842);
  CHECK(std::vector<std::string>(ms.begin(), ms.begin() + 1000) == in1k);  // Microsoft's order: the 1k first
  CHECK(builtin_label_names("imagenet-21k-miil").size() == 11221);
  CHECK_THROWS_AS(builtin_label_names("imagenet-5k"), Error);

  // Against timm's own files, where present.
  const auto shared = test::shared_data_dir();
  if (shared && fs::exists(*shared / "timm/timm/data/_info/imagenet21k_goog_synsets.txt")) {
    const fs::path info = *shared / "timm/timm/data/_info";
    std::map<std::string, std::string> lemma;
    std::ifstream lf(info / "imagenet_synset_to_lemma.txt");
    for (std::string l; std::getline(lf, l);) {
      const auto tab = l.find('\t');
      std::string first = l.substr(tab + 1);
      first = first.substr(0, first.find(", "));
      lemma[l.substr(0, tab)] = first;
    }
    for (const auto& [set, file] : std::vector<std::pair<std::string, std::string>>{
             {"imagenet-1k", "imagenet_synsets.txt"}, {"imagenet-21k-goog", "imagenet21k_goog_synsets.txt"},
             {"imagenet-22k-ms", "imagenet22k_ms_synsets.txt"}, {"imagenet-12k", "imagenet12k_synsets.txt"}}) {
      std::ifstream sf(info / file);
      std::vector<std::string> want;
      for (std::string s; sf >> s;) want.push_back(lemma.at(s));
      CHECK(builtin_label_names(set) == want);
    }
  }
}

TEST_CASE("label sets: a hub-style model directory without label_names gets ImageNet names", "[model][labels]") {
  test::TempDir tmp;
  auto write_model = [&](const std::string& name, int classes, const std::string& tag) {
    auto cfg = test::tiny_config(false, 32, 8, 24, 1, 2, classes);
    cfg.labels.clear();
    const fs::path dir = tmp.path() / name;
    Model::random(cfg, 3).save(dir);
    auto j = nlohmann::json::parse(std::ifstream(dir / "config.json"));
    j.erase("label_names");
    if (!tag.empty()) j["pretrained_cfg"]["tag"] = tag;
    std::ofstream(dir / "config.json") << j.dump();
    return Model::load(dir);
  };
  const Model in1k = write_model("vit_x.hub", 1000, "augreg_in21k_ft_in1k");
  REQUIRE(in1k.labels.size() == 1000);
  CHECK(in1k.labels[285] == "Egyptian cat");
  // No tag in the config: the directory name's suffix is the tag (timm/<arch>.<tag> repositories).
  const Model in21k = write_model("vit_y.augreg_in21k", 21843, "");
  CHECK(pretrained_tag(tmp.path() / "vit_y.augreg_in21k") == "augreg_in21k");
  CHECK(in21k.labels[2405] == "Egyptian cat");
  const Model unknown = write_model("vit_z", 37, "");
  CHECK(unknown.labels[36] == "class 36");
  // label_names in the config always win.
  auto cfg = test::tiny_config();
  Model::random(cfg, 3).save(tmp.path() / "named");
  CHECK(Model::load(tmp.path() / "named").labels[3] == "label 3");
  CHECK(choose_label_set({}, 37, "").source == "none");
}
