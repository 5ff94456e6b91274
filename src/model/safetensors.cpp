#include "model/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>

#include "core/half.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  throw Error(ErrorCode::ModelFormat, source + ": " + what);
}

struct DTypeInfo {
  DType type;
  const char* name;
  std::size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::F64, "F64", 8},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2},   {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};

const DTypeInfo& info(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d;
  throw Error(ErrorCode::Internal, "unknown dtype");
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Reads a JSON number that must be a non-negative integer representable in uint64.
bool as_u64(const json& j, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer()) {
    auto v = j.get<int64_t>();
    if (v < 0) return false;
    out = static_cast<uint64_t>(v);
    return true;
  }
  return false;
}

}  // namespace

std::size_t dtype_size(DType t) { return info(t).size; }
const char* dtype_name(DType t) { return info(t).name; }

std::optional<DType> parse_dtype(std::string_view s) {
  for (const auto& d : kDTypes)
    if (s == d.name) return d.type;
  return std::nullopt;
}

int64_t TensorView::numel() const {
  // A zero anywhere makes the tensor empty whatever the other dimensions are: [2^40, 2^23, 0] is a valid
  // empty tensor whose running product would overflow. Otherwise the parser bounded the product by the file.
  if (std::find(shape.begin(), shape.end(), int64_t{0}) != shape.end()) return 0;
  int64_t n = 1;
  for (auto d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      throw Error(ErrorCode::InvalidArgument, "tensor '" + name + "': shape has no valid element count");
  return n;
}

SafeTensors SafeTensors::open(const std::filesystem::path& path, const SafeTensorsLimits& limits) {
  MappedFile file(path);
  SafeTensors st = parse(file.bytes(), path.string(), limits);
  st.file_.emplace(std::move(file));  // the mapping's address does not change on move
  return st;
}

SafeTensors SafeTensors::parse(std::span<const uint8_t> bytes, const std::string& source,
                               const SafeTensorsLimits& limits) {
  if (bytes.size() < 8) bad(source, "truncated: " + std::to_string(bytes.size()) + " bytes, no header length");
  const uint64_t header_len = read_le64(bytes.data());
  if (header_len > limits.max_header_bytes)
    bad(source, "header length " + std::to_string(header_len) + " exceeds the limit of " +
                    std::to_string(limits.max_header_bytes) + " bytes");
  if (header_len > bytes.size() - 8)
    bad(source, "truncated: header length " + std::to_string(header_len) + " but only " +
                    std::to_string(bytes.size() - 8) + " bytes follow");
  const char* hbegin = reinterpret_cast<const char*>(bytes.data() + 8);
  json header;
  try {
    header = json::parse(hbegin, hbegin + header_len, nullptr, /*allow_exceptions=*/false);
  } catch (const std::bad_alloc&) {  // a header within the size limit can still expand ~20x in memory
    throw Error(ErrorCode::OutOfMemory, source + ": out of memory parsing the " + std::to_string(header_len) +
                                            "-byte header");
  }
  if (header.is_discarded()) bad(source, "header is not valid JSON");
  if (!header.is_object()) bad(source, "header is not a JSON object");

  const std::span<const uint8_t> data = bytes.subspan(8 + header_len);
  SafeTensors st;
  st.source_ = source;
  const std::size_t tensor_entries = header.size() - (header.contains("__metadata__") ? 1 : 0);
  if (tensor_entries > limits.max_tensors)
    bad(source, "header lists " + std::to_string(tensor_entries) + " tensors, over the limit of " +
                    std::to_string(limits.max_tensors));

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) bad(source, "__metadata__ is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) bad(source, "__metadata__." + m.key() + " is not a string");
        st.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!e.is_object()) bad(source, where + "entry is not an object");
    auto dt = e.find("dtype");
    auto sh = e.find("shape");
    auto off = e.find("data_offsets");
    if (dt == e.end() || !dt->is_string()) bad(source, where + "missing or non-string dtype");
    if (sh == e.end() || !sh->is_array()) bad(source, where + "missing or non-array shape");
    if (off == e.end() || !off->is_array() || off->size() != 2) bad(source, where + "data_offsets is not [begin, end]");
    auto dtype = parse_dtype(dt->get<std::string>());
    if (!dtype) bad(source, where + "unknown dtype '" + dt->get<std::string>() + "'");
    if (sh->size() > limits.max_rank) bad(source, where + "rank " + std::to_string(sh->size()) + " is too large");

    TensorView t;
    t.name = name;
    t.dtype = *dtype;
    for (const auto& d : *sh) {
      uint64_t v = 0;
      if (!as_u64(d, v) || v > (uint64_t{1} << 40)) bad(source, where + "shape has a negative, non-integer or huge dimension");
      t.shape.push_back(static_cast<int64_t>(v));
    }
    // As TensorView::numel(): empty when any dimension is 0 (in whatever order), else a checked product.
    uint64_t numel = 1;
    if (std::find(t.shape.begin(), t.shape.end(), int64_t{0}) != t.shape.end()) numel = 0;
    for (auto v : t.shape) {
      if (numel == 0) break;
      if (numel > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(v)) bad(source, where + "shape overflows");
      numel *= static_cast<uint64_t>(v);
    }
    if (numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) bad(source, where + "shape overflows");
    uint64_t begin = 0, end = 0;
    if (!as_u64((*off)[0], begin) || !as_u64((*off)[1], end)) bad(source, where + "data_offsets are not non-negative integers");
    if (begin > end) bad(source, where + "data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
    if (end > data.size())
      bad(source, where + "data_offsets end " + std::to_string(end) + " is past the data area of " +
                      std::to_string(data.size()) + " bytes (file truncated?)");
    const uint64_t esize = dtype_size(*dtype);
    if (numel > std::numeric_limits<uint64_t>::max() / esize || numel * esize != end - begin)
      bad(source, where + "holds " + std::to_string(end - begin) + " bytes but shape x " + dtype_name(*dtype) +
                      " needs " + std::to_string(numel * esize));
    t.data = data.subspan(begin, end - begin);
    st.tensors_.push_back(std::move(t));
  }

  // Overlap check: sort by start offset; each tensor must start at or after the previous one's end.
  std::vector<const TensorView*> by_offset;
  for (const auto& t : st.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorView* a, const TensorView* b) { return a->data.data() < b->data.data(); });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const TensorView* a = by_offset[i - 1];
    const TensorView* b = by_offset[i];
    if (!a->data.empty() && !b->data.empty() && b->data.data() < a->data.data() + a->data.size())
      bad(source, "tensors '" + a->name + "' and '" + b->name + "' overlap");
  }
  std::sort(st.tensors_.begin(), st.tensors_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return st;
}

const TensorView* SafeTensors::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorView& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::vector<float> SafeTensors::to_f32(const TensorView& t) const {
  const auto n = static_cast<std::size_t>(t.numel());
  std::vector<float> out(n);
  const uint8_t* p = t.data.data();
  switch (t.dtype) {
    case DType::F32:
      if (n) std::memcpy(out.data(), p, n * 4);
      break;
    case DType::F16:
      for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_f32(static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
      break;
    case DType::BF16:
      for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8)));
      break;
    case DType::F64:
      for (std::size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<float>(d);
      }
      break;
    default:
      bad(source_, "tensor '" + t.name + "': dtype " + dtype_name(t.dtype) + " is not a float type");
  }
  return out;
}

TensorData TensorData::from_f32(std::string name, std::vector<int64_t> shape, std::span<const float> values,
                                DType dtype) {
  TensorData t{std::move(name), dtype, std::move(shape), {}};
  const std::size_t n = values.size();
  switch (dtype) {
    case DType::F32:
      t.bytes.resize(n * 4);
      if (n) std::memcpy(t.bytes.data(), values.data(), n * 4);
      break;
    case DType::F16:
    case DType::BF16:
      t.bytes.resize(n * 2);
      for (std::size_t i = 0; i < n; ++i) {
        uint16_t h = dtype == DType::F16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
        t.bytes[2 * i] = static_cast<uint8_t>(h & 0xff);
        t.bytes[2 * i + 1] = static_cast<uint8_t>(h >> 8);
      }
      break;
    default:
      throw Error(ErrorCode::InvalidArgument, "TensorData::from_f32: unsupported dtype");
  }
  return t;
}

std::vector<uint8_t> serialize_safetensors(const std::vector<TensorData>& tensors,
                                           const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8 != 0) h.push_back(' ');  // keep data 8-byte aligned, as the reference writer does
  std::vector<uint8_t> out(8 + h.size() + offset);
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, h.data(), h.size());
  uint8_t* p = out.data() + 8 + h.size();
  for (const auto& t : tensors) {
    if (!t.bytes.empty()) std::memcpy(p, t.bytes.data(), t.bytes.size());
    p += t.bytes.size();
  }
  return out;
}

void save_safetensors(const std::filesystem::path& path, const std::vector<TensorData>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace vitvk
