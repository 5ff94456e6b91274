#include "model/labels.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/embedded_files.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

struct KnownSet {
  std::string_view name;
  int classes;
  std::string_view family;  // the tag token that names it
};
// timm's class-count table, grouped by the tag token a checkpoint trained on it carries.
constexpr std::array<KnownSet, 6> kSets{{{"imagenet-1k", 1000, "in1k"},
                                         {"imagenet-12k", 11821, "in12k"},
                                         {"imagenet-21k-miil", 11221, "in21k"},
                                         {"imagenet-22k", 21841, "in22k"},
                                         {"imagenet-22k-ms", 21842, "in22k"},
                                         {"imagenet-21k-goog", 21843, "in21k"}}};

// in21k and in22k name the same ImageNet "full" release in timm's tags (fall11 with or without two classes):
// either token admits any of its orders.
bool in_family(const KnownSet& s, std::string_view token) {
  if (token == "in21k" || token == "in22k") return s.family == "in21k" || s.family == "in22k";
  return s.family == token;
}

std::string gunzip(const embedded::File& f) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) throw Error(ErrorCode::Internal, "zlib: inflateInit2 failed");
  z.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(f.bytes.data()));
  z.avail_in = static_cast<uInt>(f.bytes.size());
  std::string out;
  std::array<char, 1 << 16> buf{};
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf.data());
    z.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf.data(), buf.size() - z.avail_out);
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) throw Error(ErrorCode::Internal, "built-in label table " + std::string(f.name) + " is corrupt");
  return out;
}

const embedded::File& embedded_file(std::string_view name) {
  const embedded::File* f = embedded::find(name);
  if (!f) throw Error(ErrorCode::Internal, "built-in label table " + std::string(name) + " is missing from this build");
  return *f;
}

}  // namespace

std::string builtin_label_set(int num_classes, const std::string& tag) {
  // The last ImageNet token of the tag: "augreg_in21k_ft_in1k" -> in1k, "clip_laion2b_ft_in12k" -> in12k.
  std::string_view token;
  std::string_view rest = tag;
  while (!rest.empty()) {
    const auto cut = rest.find_first_of("_.-");
    const std::string_view t = rest.substr(0, cut);
    if (t == "in1k" || t == "in12k" || t == "in21k" || t == "in22k") token = t;
    rest = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 1);
  }
  for (const KnownSet& s : kSets)
    if (s.classes == num_classes && (token.empty() || in_family(s, token))) return std::string(s.name);
  return {};
}

std::vector<std::string> builtin_label_names(const std::string& set) {
  const auto known = std::find_if(kSets.begin(), kSets.end(), [&](const KnownSet& s) { return s.name == set; });
  if (known == kSets.end()) throw Error(ErrorCode::InvalidArgument, "unknown label set '" + set + "'");
  // Lemma table: "synset\tlemma" per line, sorted by synset; a set lists table rows as runs "a-b" or "a".
  std::vector<std::string> lemmas;
  {
    std::istringstream in(gunzip(embedded_file("imagenet_lemmas.tsv.gz")));
    std::string line;
    while (std::getline(in, line)) {
      const auto tab = line.find('\t');
      lemmas.push_back(tab == std::string::npos ? line : line.substr(tab + 1));
    }
  }
  std::istringstream sets(gunzip(embedded_file("imagenet_sets.txt.gz")));
  std::string name, runs;
  int count = 0;
  while (sets >> name >> count >> runs) {
    if (name != set) continue;
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(count));
    std::string_view r = runs;
    while (!r.empty()) {
      const auto comma = r.find(',');
      const std::string_view run = r.substr(0, comma);
      const auto dash = run.find('-');
      std::size_t a = 0, b = 0;
      std::from_chars(run.data(), run.data() + run.size(), a);
      b = a;
      if (dash != std::string_view::npos) std::from_chars(run.data() + dash + 1, run.data() + run.size(), b);
      if (b < a || b >= lemmas.size()) throw Error(ErrorCode::Internal, "built-in label set " + set + " is corrupt");
      for (std::size_t i = a; i <= b; ++i) out.push_back(lemmas[i]);
      r = comma == std::string_view::npos ? std::string_view() : r.substr(comma + 1);
    }
    if (static_cast<int>(out.size()) != count || count != known->classes)
      throw Error(ErrorCode::Internal, "built-in label set " + set + " has " + std::to_string(out.size()) + " names");
    return out;
  }
  throw Error(ErrorCode::Internal, "built-in label set " + set + " is missing from this build");
}

LabelSet choose_label_set(const std::vector<std::string>& config_labels, int num_classes, const std::string& tag) {
  LabelSet s;
  if (!config_labels.empty()) {
    s.source = "config.json";
    s.names = config_labels;
    return s;
  }
  s.source = builtin_label_set(num_classes, tag);
  if (!s.source.empty()) {
    s.names = builtin_label_names(s.source);
    return s;
  }
  s.source = "none";
  for (int i = 0; i < num_classes; ++i) s.names.push_back("class " + std::to_string(i));
  return s;
}

std::string pretrained_tag(const std::filesystem::path& model_dir) {
  try {
    std::ifstream in(model_dir / "config.json", std::ios::binary);
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object()) {
      const auto pc = j.find("pretrained_cfg");
      if (pc != j.end() && pc->is_object()) {
        const auto t = pc->find("tag");
        if (t != pc->end() && t->is_string() && !t->get<std::string>().empty()) return t->get<std::string>();
      }
    }
  } catch (const std::exception&) {  // an unreadable config: the directory name may still tell
  }
  const std::string name = model_dir.filename().empty() ? model_dir.parent_path().filename().string()
                                                        : model_dir.filename().string();
  const auto dot = name.find('.');
  return dot == std::string::npos ? std::string() : name.substr(dot + 1);
}

}  // namespace vitvk
