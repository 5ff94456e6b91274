#pragma once
// Class names for checkpoints whose config.json has no label_names (hub configs never have them): the ImageNet
// label set the checkpoint was trained on, chosen by class count and the checkpoint's tag, from tables built
// into the library (data/labels/, made by tools/labels/make_label_data.py from timm's synset lists).
//
// Sets (names as `vitvk info` prints them; class order = timm's): imagenet-1k (1000), imagenet-21k-miil (11221),
// imagenet-12k (11821), imagenet-22k (21841), imagenet-22k-ms (21842: the 1k classes first),
// imagenet-21k-goog (21843: timm's in21k). A name is the synset's first WordNet lemma ("tabby", "Egyptian cat").
#include <filesystem>
#include <string>
#include <vector>

namespace vitvk {

struct LabelSet {
  std::string source;              // "config.json", a set name above, or "none"
  std::vector<std::string> names;  // num_classes entries; "class N" for source "none"
};

// The built-in set for `num_classes` and `tag` (pretrained_cfg.tag or the hub name's suffix, e.g.
// "augreg_in21k_ft_in1k"), or "" when it cannot be known. The tag's last ImageNet token (in1k, in12k, in21k,
// in22k: the data the head was trained on last) picks the family and the class count the set within it; a tag
// naming a family whose counts do not include num_classes gives "". Without such a token the count alone decides.
std::string builtin_label_set(int num_classes, const std::string& tag);

// The names of a built-in set, in class order. Throws Error(InvalidArgument) for an unknown set.
std::vector<std::string> builtin_label_names(const std::string& set);

// config.json's label_names when present, else the built-in set, else "class 0", "class 1", ...
LabelSet choose_label_set(const std::vector<std::string>& config_labels, int num_classes, const std::string& tag);

// pretrained_cfg.tag from model_dir/config.json; else the directory name's part after its first '.'
// ("vit_small_patch16_224.augreg_in21k" -> "augreg_in21k"); else "". Never throws.
std::string pretrained_tag(const std::filesystem::path& model_dir);

}  // namespace vitvk
