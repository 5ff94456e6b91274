#include "explain/rollout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/file.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

[[noreturn]] void invalid(const std::string& what) { throw Error(ErrorCode::InvalidArgument, "rollout: " + what); }

// Order-preserving integer key of a float (negative values included; NaN never occurs in probabilities).
inline uint32_t sort_key(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// The k-th smallest key (1-based k) by a three-pass radix select (11 + 11 + 10 bits): linear time and
// branch-light, where nth_element's partitioning of 38,809 random values cost ~0.6 ms per layer.
uint32_t kth_smallest_key(std::span<const uint32_t> keys, std::size_t k, std::vector<uint32_t>& hist) {
  std::size_t rank = k - 1;
  uint32_t prefix = 0, mask = 0;
  for (const auto& [shift, bits] : {std::pair{21, 11}, std::pair{10, 11}, std::pair{0, 10}}) {
    const uint32_t bins = 1u << bits;
    hist.assign(bins, 0);
    for (uint32_t key : keys)
      if ((key & mask) == prefix) ++hist[(key >> shift) & (bins - 1)];
    uint32_t b = 0;
    while (rank >= hist[b]) rank -= hist[b++];
    prefix |= b << shift;
    mask |= (bins - 1) << shift;
  }
  return prefix;
}

// Zeroes in `a` the k smallest entries of f (ties broken by lower index), flat entry 0 excepted.
void discard_lowest(std::span<const float> f, std::size_t k, std::vector<double>& a, std::vector<uint32_t>& keys,
                    std::vector<uint32_t>& hist) {
  if (k == 0) return;
  if (k >= f.size()) {
    std::fill(a.begin() + 1, a.end(), 0.0);
    return;
  }
  keys.resize(f.size());
  std::transform(f.begin(), f.end(), keys.begin(), sort_key);
  const uint32_t t = kth_smallest_key(keys, k, hist);
  std::size_t below = 0;
  for (uint32_t key : keys) below += key < t;
  std::size_t ties = k - below;  // entries equal to the k-th value that are selected: lowest indices first
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const bool selected = keys[i] < t || (keys[i] == t && ties > 0 && (--ties, true));
    if (selected && i != 0) a[i] = 0.0;
  }
}

}  // namespace

HeadFusion parse_head_fusion(const std::string& s) {
  if (s == "mean") return HeadFusion::Mean;
  if (s == "max") return HeadFusion::Max;
  if (s == "min") return HeadFusion::Min;
  throw Error(ErrorCode::InvalidArgument, "unknown head fusion '" + s + "' (expected mean, max or min)");
}

const char* to_string(HeadFusion f) noexcept {
  switch (f) {
    case HeadFusion::Mean: return "mean";
    case HeadFusion::Max: return "max";
    case HeadFusion::Min: return "min";
  }
  return "?";
}

RolloutMap rollout(const ForwardResult& result, int image, const RolloutOptions& options, const ModelDims& dims) {
  const int N = result.tokens, L = result.layers, B = result.batch;
  if (!(options.discard_ratio >= 0.0 && options.discard_ratio < 1.0))
    invalid(fmt::format("discard ratio {} is outside [0, 1)", options.discard_ratio));
  const int fusion = static_cast<int>(options.head_fusion);
  if (fusion < 0 || fusion > 2) invalid("unknown head fusion");
  if (image < 0 || image >= B) invalid(fmt::format("image {} is not in the batch of {}", image, B));
  if (N != dims.tokens || dims.grid_h * dims.grid_w + dims.prefix != N || L < 1)
    invalid(fmt::format("result ({} tokens, {} layers) does not fit the model ({} prefix + {}x{} patches)", N, L,
                        dims.prefix, dims.grid_h, dims.grid_w));
  const std::size_t nn = static_cast<std::size_t>(N) * N;
  if (result.attention.size() != static_cast<std::size_t>(L) * B * 3 * nn)
    invalid("the forward result has no attention maps (run the forward with explain on)");

  // Same arithmetic as Python's int(N*N*ratio) on a double ratio.
  const auto k = static_cast<std::size_t>(static_cast<double>(nn) * options.discard_ratio);
  std::vector<double> a(nn), v(N, 0.0), next(N);
  std::vector<uint32_t> keys, hist;
  // What the head reads, as a weighting of the last layer's output rows: the class token (e0), the mean of the
  // patch rows (average pooling), or the attention pool's weights over the patch tokens (map head: its
  // attention is the last factor; it has no residual, so it enters as it is).
  if (dims.pool == "map") {
    const int K = result.pool_keys;
    if (K != dims.num_patches || result.pool_attention.size() != static_cast<std::size_t>(B) * 3 * K)
      invalid("the forward result has no attention-pool maps (run the forward with explain on)");
    const float* p = result.pool_attention.data() + (static_cast<std::size_t>(image) * 3 + fusion) * K;
    for (int i = 0; i < K; ++i) v[dims.prefix + i] = p[i];
  } else if (dims.pool == "avg") {
    for (int i = dims.prefix; i < N; ++i) v[i] = 1.0 / dims.num_patches;
  } else {
    v[0] = 1.0;
  }
  // Row 0 of A'_L ... A'_1 = ((e0^T A'_L) A'_{L-1}) ... A'_1: walk the layers from the last.
  for (int l = L - 1; l >= 0; --l) {
    const float* f = result.attention.data() + ((static_cast<std::size_t>(l) * B + image) * 3 + fusion) * nn;
    std::copy(f, f + nn, a.begin());
    discard_lowest({f, nn}, k, a, keys, hist);
    std::fill(next.begin(), next.end(), 0.0);
    for (int i = 0; i < N; ++i) {
      double* row = a.data() + static_cast<std::size_t>(i) * N;
      row[i] += 1.0;  // (F + I) / 2 then row-normalised: the 1/2 cancels
      const double sum = std::accumulate(row, row + N, 0.0);
      const double coef = v[i] / sum;  // sum >= 1: the identity term keeps it positive
      if (coef == 0.0) continue;
      for (int j = 0; j < N; ++j) next[j] += coef * row[j];
    }
    v.swap(next);
  }

  RolloutMap map;
  map.w = dims.grid_w;
  map.h = dims.grid_h;
  map.options = options;
  map.values.resize(static_cast<std::size_t>(map.w) * map.h);
  const double peak = *std::max_element(v.begin() + dims.prefix, v.end());
  for (std::size_t i = 0; i < map.values.size(); ++i)
    map.values[i] = peak > 0.0 ? static_cast<float>(v[dims.prefix + i] / peak) : 0.0f;
  return map;
}

std::vector<uint8_t> encode_npy(const RolloutMap& map) {
  if (map.w < 0 || map.h < 0 || map.values.size() != static_cast<std::size_t>(map.w) * map.h)
    invalid("map size does not match its width x height");
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", map.h, map.w);
  // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64, ending in '\n'.
  const std::size_t total = (10 + header.size() + 1 + 63) / 64 * 64;
  header.append(total - 10 - header.size() - 1, ' ');
  header.push_back('\n');
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.push_back(static_cast<uint8_t>(header.size() & 0xff));
  out.push_back(static_cast<uint8_t>(header.size() >> 8));
  out.insert(out.end(), header.begin(), header.end());
  for (float f : map.values) {  // explicit little-endian, whatever the host
    uint32_t u;
    std::memcpy(&u, &f, 4);
    for (int b = 0; b < 4; ++b) out.push_back(static_cast<uint8_t>(u >> (8 * b)));
  }
  return out;
}

std::string rollout_to_json(const RolloutMap& map) {
  if (map.w < 0 || map.h < 0 || map.values.size() != static_cast<std::size_t>(map.w) * map.h)
    invalid("map size does not match its width x height");
  std::string s = fmt::format(R"({{"width": {}, "height": {}, "head_fusion": "{}", "discard_ratio": {}, "values": [)",
                              map.w, map.h, to_string(map.options.head_fusion), map.options.discard_ratio);
  for (int y = 0; y < map.h; ++y) {
    s += y ? ",\n  [" : "\n  [";
    for (int x = 0; x < map.w; ++x) {
      const float v = map.at(x, y);
      if (x) s += ", ";
      s += fmt::format("{}", std::isfinite(v) ? v : 0.0f);  // shortest round-trip float
    }
    s += "]";
  }
  s += "\n]}\n";
  return s;
}

void write_rollout_npy(const std::filesystem::path& path, const RolloutMap& map) {
  write_file_atomic(path, encode_npy(map));
}

void write_rollout_json(const std::filesystem::path& path, const RolloutMap& map) {
  const std::string s = rollout_to_json(map);
  write_file_atomic(path, std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

RolloutFormat parse_rollout_format(const std::string& s) {
  if (s == "npy") return RolloutFormat::Npy;
  if (s == "json") return RolloutFormat::Json;
  throw Error(ErrorCode::InvalidArgument, "unknown rollout format '" + s + "' (expected npy or json)");
}

const char* file_extension(RolloutFormat f) noexcept { return f == RolloutFormat::Npy ? ".npy" : ".json"; }

void write_rollout(const std::filesystem::path& path, const RolloutMap& map, RolloutFormat format) {
  if (format == RolloutFormat::Npy)
    write_rollout_npy(path, map);
  else
    write_rollout_json(path, map);
}

}  // namespace vitvk
