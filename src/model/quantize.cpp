#include "model/quantize.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/file.hpp"
#include "model/safetensors.hpp"
#include "ops/cpu_gemm_int8.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

// Every LinearWeights of a model (const or not), whatever its family.
template <class M, class F>
void for_each_linear(M& m, F&& f) {
  auto& w = m.weights;
  for (auto* l : {&w.patch_embed, &w.head, &w.head_dist}) f(*l);
  for (auto& b : w.blocks)
    for (auto* l : {&b.qkv, &b.proj, &b.fc1, &b.fc2}) f(*l);
  auto& g = m.gfnet;
  for (auto* l : {&g.patch_embed, &g.head}) f(*l);
  for (auto& b : g.blocks)
    for (auto* l : {&b.fc1, &b.fc2}) f(*l);
}

}  // namespace

Int8Layers int8_layers() {
  const char* env = std::getenv("VITVK_INT8_LAYERS");
  if (!env) return {};
  Int8Layers l = Int8Layers::none();
  std::string s = env;
  for (std::size_t b = 0; b <= s.size();) {
    const std::size_t e = std::min(s.find(',', b), s.size());
    const std::string k = s.substr(b, e - b);
    if (k == "patch") l.patch_embed = true;
    else if (k == "qkv") l.qkv = true;
    else if (k == "proj") l.proj = true;
    else if (k == "fc1") l.fc1 = true;
    else if (k == "fc2") l.fc2 = true;
    else if (k == "head") l.head = true;
    else if (!k.empty())
      throw Error(ErrorCode::InvalidArgument, "VITVK_INT8_LAYERS: unknown layer kind '" + k +
                                                  "' (patch, qkv, proj, fc1, fc2, head)");
    b = e + 1;
  }
  return l;
}

static_assert(kInt8MaxFileGroup == ops::kInt8MaxK);

int int8_weights_group(const Model& m) {
  int group = -1;
  for_each_linear(m, [&](const LinearWeights& l) {
    if (!l.quantized()) return;
    if (group >= 0 && l.qgroup != group)
      throw Error(ErrorCode::InvalidArgument, "the model's int8 layers have scales in groups of " +
                                                  std::to_string(group) + " and of " + std::to_string(l.qgroup) +
                                                  " input channels (one file holds one group)");
    group = l.qgroup;
  });
  return std::max(group, 0);
}

int int8_run_group(const Model& m) {
  const int stored = int8_weights_group(m);
  const char* env = std::getenv("VITVK_INT8_GROUP");
  if (!env) return stored;
  char* end = nullptr;
  const long g = std::strtol(env, &end, 10);
  if (*env == '\0' || *end != '\0' || !ops::int8_group_valid(g))
    throw Error(ErrorCode::InvalidArgument,
                std::string("VITVK_INT8_GROUP must be 0 or a multiple of 4 (channels per scale), got '") + env + "'");
  if (stored && g != stored)
    throw Error(ErrorCode::InvalidArgument, std::string("VITVK_INT8_GROUP is ") + env +
                                                " but the model's int8 weights have a scale per " +
                                                std::to_string(stored) + " input channels: unset it or set it to " +
                                                std::to_string(stored));
  return static_cast<int>(g);
}

bool has_int8_weights(const Model& m) {
  bool any = false;
  for_each_linear(m, [&](const LinearWeights& l) { any = any || l.quantized(); });
  return any;
}

void require_int8_file_group(long group, const std::string& what) {
  if (group != 0 && !int8_file_group_valid(group))
    throw Error(ErrorCode::InvalidArgument, what + " " + std::to_string(group) +
                                                ": expected 0 or a multiple of 8 up to " +
                                                std::to_string(kInt8MaxFileGroup));
}

void quantize_int8(Model& m, int group) {
  if (m.dims.family != ModelFamily::ViT)
    throw Error(ErrorCode::Unsupported,
                std::string("int8 is implemented for ") + kInt8Families + ", not " + m.config.architecture);
  require_int8_file_group(group, "int8 scale group");
  if (const int stored = int8_weights_group(m); has_int8_weights(m) && stored != group)
    throw Error(ErrorCode::InvalidArgument, "quantize_int8: the model's int8 layers have scales in groups of " +
                                                std::to_string(stored) + ", not " + std::to_string(group) +
                                                " (one model holds one group)");
  for_each_int8_linear(m, [group](LinearWeights& l) {
    if (l.quantized()) return;
    ops::QuantizedMatrix q = ops::quantize_per_row(l.weight, l.out, l.in, group);
    l.qweight = std::move(q.q);
    l.qscale = std::move(q.scale);
    l.qgroup = group;
    std::vector<float>().swap(l.weight);
  });
}

int save_int8_copy(const Model& m, const std::filesystem::path& out_dir) {
  namespace fs = std::filesystem;
  if (m.dims.family != ModelFamily::ViT || !has_int8_weights(m))
    throw Error(ErrorCode::InvalidArgument, "save_int8_copy: the model has no int8 layer (quantize_int8 first)");
  if (m.dir.empty())
    throw Error(ErrorCode::InvalidArgument, "save_int8_copy: the model was not loaded from a directory");
  std::error_code ec;
  if (fs::equivalent(m.dir, out_dir, ec))
    throw Error(ErrorCode::InvalidArgument, out_dir.string() + ": is the model's own directory; choose another");
  // The tensors the int8 layers replace, by their names in the file (model.cpp binds them so).
  std::map<std::string, const LinearWeights*> int8;
  for (std::size_t i = 0; i < m.weights.blocks.size(); ++i) {
    const BlockWeights& b = m.weights.blocks[i];
    const std::string p = "blocks." + std::to_string(i) + ".";
    for (const auto& [name, l] : {std::pair{"attn.qkv", &b.qkv}, {"attn.proj", &b.proj}, {"mlp.fc1", &b.fc1},
                                  {"mlp.fc2", &b.fc2}})
      if (l->quantized()) int8[p + name + ".weight"] = l;
  }
  const fs::path src = m.dir / "model.safetensors";
  std::vector<TensorData> tensors;
  std::map<std::string, std::string> metadata;
  {
    const SafeTensors st = SafeTensors::open(src);
    metadata = st.metadata();
    metadata.erase(kInt8GroupKey);
    std::size_t replaced = 0;
    for (const TensorView& t : st.tensors()) {
      const auto it = int8.find(t.name);
      if (it == int8.end()) {
        tensors.push_back({t.name, t.dtype, t.shape, std::vector<uint8_t>(t.data.begin(), t.data.end())});
        continue;
      }
      const LinearWeights& l = *it->second;
      if (t.shape != std::vector<int64_t>{l.out, l.in} || st.find(t.name + "_scale"))
        throw Error(ErrorCode::ModelFormat, src.string() + ": tensor '" + t.name +
                                                "' is not the loaded model's layer (changed since it was loaded?)");
      const auto* q = reinterpret_cast<const uint8_t*>(l.qweight.data());
      tensors.push_back({t.name, DType::I8, t.shape, std::vector<uint8_t>(q, q + l.qweight.size())});
      const std::vector<int64_t> scale_shape = l.qgroup ? std::vector<int64_t>{l.out, l.qgroups()}
                                                        : std::vector<int64_t>{l.out};
      tensors.push_back(TensorData::from_f32(t.name + "_scale", scale_shape, l.qscale));
      ++replaced;
    }
    if (replaced != int8.size())
      throw Error(ErrorCode::ModelFormat, src.string() + ": " + std::to_string(int8.size() - replaced) +
                                              " of the model's int8 layers have no weight tensor there");
  }
  if (const int group = int8_weights_group(m); group > 0) metadata[kInt8GroupKey] = std::to_string(group);
  // Every file is written into a staging directory inside out_dir first and then renamed into place, config.json
  // last: a run interrupted while it writes the weights (seconds) leaves out_dir as it was, not new weights beside
  // an old model's config; only the renames (microseconds) could be cut.
  const fs::path stage = out_dir / (".vitvk-quantize-" + std::to_string(::getpid()));
  fs::create_directories(stage, ec);
  if (ec) throw Error(ErrorCode::Io, stage.string() + ": cannot create the directory: " + ec.message());
  try {
    std::vector<std::string> names{"model.safetensors"};
    save_safetensors(stage / names[0], tensors, metadata);
    // The config and the licence facts, byte for byte (a quantized copy of an Apache-2.0 checkpoint is one too).
    fs::directory_iterator dir(m.dir, ec);
    if (ec) throw Error(ErrorCode::Io, m.dir.string() + ": cannot list the directory: " + ec.message());
    for (const auto& entry : dir) {
      const std::string name = entry.path().filename().string();
      const bool keep = name == "config.json" || name.starts_with("LICENSE") || name.starts_with("NOTICE") ||
                        name.starts_with("COPYING") || name.starts_with("README");
      if (!keep || !entry.is_regular_file(ec)) continue;
      const std::string text = read_text_file(entry.path(), std::size_t{64} << 20);
      write_file_atomic(stage / name, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
      if (name != "config.json") names.push_back(name);
    }
    names.push_back("config.json");
    for (const auto& name : names) {
      fs::rename(stage / name, out_dir / name, ec);
      if (ec) throw Error(ErrorCode::Io, (out_dir / name).string() + ": cannot move it into place: " + ec.message());
    }
    fs::remove(stage, ec);
  } catch (...) {
    fs::remove_all(stage, ec);
    throw;
  }
  return static_cast<int>(int8.size());
}

Model dequantized(const Model& m) {
  Model out = m;
  for_each_linear(out, [](LinearWeights& l) {
    if (!l.quantized()) return;
    l.weight = ops::dequantize(
        {.n = l.out, .k = l.in, .group = l.qgroup, .q = std::move(l.qweight), .scale = std::move(l.qscale)});
    l.qweight.clear();
    l.qscale.clear();
    l.qgroup = 0;
  });
  return out;
}

}  // namespace vitvk
