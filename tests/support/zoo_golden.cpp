#include "support/zoo_golden.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/test_data.hpp"

namespace vitvk::test {
namespace {

using json = nlohmann::json;

json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  return json::parse(in);
}

json manifest(const std::filesystem::path& root) { return read_json(root / "manifest.json"); }

std::size_t count_of(const std::vector<int64_t>& shape) {
  std::size_t n = 1;
  for (auto s : shape) n *= static_cast<std::size_t>(s);
  return n;
}

ZooOutput output(const std::filesystem::path& root, const json& exp, const std::string& key) {
  ZooOutput o;
  if (!exp.contains(key)) return o;
  o.shape = exp.at(key + "_shape").get<std::vector<int64_t>>();
  o.values = read_f32(root / exp.at(key).get<std::string>(), count_of(o.shape));
  return o;
}

}  // namespace

std::filesystem::path zoo_dir() { return std::filesystem::path(VITVK_SOURCE_DIR) / "tests" / "data" / "zoo"; }

std::vector<std::string> zoo_case_names(const std::filesystem::path& root) {
  std::vector<std::string> out;
  const json m = manifest(root);  // not a temporary in the range-for: its member would dangle
  for (const auto& c : m.at("cases")) out.push_back(c.at("name").get<std::string>());
  return out;
}

ZooCase zoo_case(const std::string& name, const std::filesystem::path& root) {
  const json m = manifest(root);
  for (const auto& j : m.at("cases")) {
    if (j.at("name") != name) continue;
    ZooCase c;
    c.root = root;
    c.name = name;
    c.model_dir = j.at("model_dir");
    c.config = j.at("config");
    c.arch = j.at("arch");
    c.tests = j.at("tests");
    c.status = j.at("status");
    c.malformed = j.value("malformed", false);
    if (c.malformed) {
      c.error_contains = j.at("error_contains").get<std::vector<std::string>>();
      c.error_any = j.at("error_any").get<std::vector<std::string>>();
      return c;
    }
    if (!j.at("img_size").is_null()) c.img_size = j.at("img_size").get<int>();
    c.num_classes = j.at("num_classes");
    c.input_shape = j.at("input_shape").get<std::vector<int64_t>>();
    c.input = read_f32(root / j.at("input").get<std::string>(), count_of(c.input_shape));
    c.photos = j.at("photos").get<std::vector<std::string>>();
    const json& p = j.at("preprocess");
    c.pre_height = p.at("input_size")[1];
    c.pre_width = p.at("input_size")[2];
    for (int i = 0; i < 3; ++i) {
      c.pre_mean[i] = p.at("mean")[i].get<float>();
      c.pre_std[i] = p.at("std")[i].get<float>();
    }
    c.pre_crop_pct = p.at("crop_pct").get<float>();
    c.pre_interpolation = p.at("interpolation");
    c.pre_crop_mode = p.at("crop_mode");
    const json& e = j.at("expected");
    c.logits = output(root, e, "logits");
    c.features = output(root, e, "features");
    c.attn = output(root, e, "attn");
    c.attn_pool = output(root, e, "attn_pool");
    if (e.contains("top1")) c.top1 = e.at("top1").get<std::vector<int>>();
    const json& t = j.at("tolerance");
    c.fp32_rel = t.at("fp32_rel");
    c.fp16_abs = t.at("fp16_abs");
    c.attn_abs = t.at("attn_abs");
    c.preprocess_abs = t.at("preprocess_abs");
    return c;
  }
  throw std::runtime_error((root / "manifest.json").string() + " has no case '" + name + "'");
}

Model load_zoo_model(const ZooCase& c) {
  const auto dir = c.root / c.model_dir;
  if (c.config == "config.json" && !c.img_size) return Model::load(dir);
  TempDir tmp;
  std::filesystem::copy_file(dir / "model.safetensors", tmp.path() / "model.safetensors");
  json cfg = read_json(dir / c.config);
  if (c.img_size) {
    cfg["pretrained_cfg"]["input_size"] = {3, *c.img_size, *c.img_size};
    if (cfg.contains("model_args") && cfg["model_args"].contains("img_size")) cfg["model_args"]["img_size"] = *c.img_size;
  }
  std::ofstream(tmp.path() / "config.json") << cfg.dump(2);
  return Model::load(tmp.path());  // the weights are in memory once loaded: the temp dir may go
}

double max_abs_diff_d(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size())
    throw std::runtime_error("size " + std::to_string(got.size()) + " != expected " + std::to_string(want.size()));
  double m = 0;
  for (std::size_t i = 0; i < got.size(); ++i) m = std::max(m, std::abs(double(got[i]) - double(want[i])));
  return m;
}

double max_rel_diff(const std::vector<float>& got, const std::vector<float>& want) {
  double scale = 0;
  for (float v : want) scale = std::max(scale, std::abs(double(v)));
  return max_abs_diff_d(got, want) / std::max(scale, 1e-30);
}

std::vector<int> argmax_rows(const std::vector<float>& m, int cols) {
  std::vector<int> out;
  for (std::size_t r = 0; cols > 0 && (r + 1) * cols <= m.size(); ++r) {
    const auto row = m.begin() + static_cast<long>(r * cols);
    out.push_back(static_cast<int>(std::max_element(row, row + cols) - row));
  }
  return out;
}

}  // namespace vitvk::test
