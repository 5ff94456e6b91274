#include "model/quantize.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>

#include "ops/cpu_gemm_int8.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

// Every LinearWeights of a model, whatever its family.
template <class F>
void for_each_linear(const Model& m, F&& f) {
  const ViTWeights& w = m.weights;
  for (const LinearWeights* l : {&w.patch_embed, &w.head, &w.head_dist}) f(*l);
  for (const BlockWeights& b : w.blocks)
    for (const LinearWeights* l : {&b.qkv, &b.proj, &b.fc1, &b.fc2}) f(*l);
  const GFNetWeights& g = m.gfnet;
  for (const LinearWeights* l : {&g.patch_embed, &g.head}) f(*l);
  for (const GFNetBlockWeights& b : g.blocks)
    for (const LinearWeights* l : {&b.fc1, &b.fc2}) f(*l);
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

void quantize_int8(Model& m, int group) {
  if (m.dims.family != ModelFamily::ViT)
    throw Error(ErrorCode::Unsupported, "int8 quantization is implemented for ViT / DeiT models, not " +
                                            m.config.architecture);
  if (group != 0 && !int8_file_group_valid(group))
    throw Error(ErrorCode::InvalidArgument, "int8 scale group " + std::to_string(group) +
                                                ": expected 0 or a multiple of 8 up to " +
                                                std::to_string(kInt8MaxFileGroup));
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

Model dequantized(const Model& m) {
  Model out = m;
  auto fix = [](LinearWeights& l) {
    if (!l.quantized()) return;
    l.weight = ops::dequantize(
        {.n = l.out, .k = l.in, .group = l.qgroup, .q = std::move(l.qweight), .scale = std::move(l.qscale)});
    l.qweight.clear();
    l.qscale.clear();
    l.qgroup = 0;
  };
  ViTWeights& w = out.weights;
  for (LinearWeights* l : {&w.patch_embed, &w.head, &w.head_dist}) fix(*l);
  for (BlockWeights& b : w.blocks)
    for (LinearWeights* l : {&b.qkv, &b.proj, &b.fc1, &b.fc2}) fix(*l);
  GFNetWeights& g = out.gfnet;
  for (LinearWeights* l : {&g.patch_embed, &g.head}) fix(*l);
  for (GFNetBlockWeights& b : g.blocks)
    for (LinearWeights* l : {&b.fc1, &b.fc2}) fix(*l);
  return out;
}

}  // namespace vitvk
