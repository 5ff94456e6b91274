#pragma once
// safetensors reader/writer. The reader checks every bound: header length, JSON shape, dtype, offsets
// inside the data area, byte size = numel * dtype size, no overlapping tensors; errors name the file and tensor.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/file.hpp"

namespace vitvk {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

std::size_t dtype_size(DType t);
const char* dtype_name(DType t);
std::optional<DType> parse_dtype(std::string_view s);

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;  // into the mapped file (or the caller's buffer)
  int64_t numel() const;
};

struct SafeTensorsLimits {
  uint64_t max_header_bytes = 100u << 20;  // as in the reference implementation
  std::size_t max_tensors = 100000;
  std::size_t max_rank = 8;
};

class SafeTensors {
 public:
  // Maps the file and parses it. Throws Error(Io) or Error(ModelFormat) naming the path.
  static SafeTensors open(const std::filesystem::path& path, const SafeTensorsLimits& limits = {});
  // Parses bytes the caller keeps alive; source names them in errors.
  static SafeTensors parse(std::span<const uint8_t> bytes, const std::string& source,
                           const SafeTensorsLimits& limits = {});

  const std::string& source() const { return source_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorView* find(std::string_view name) const;
  // Converts F32/F16/BF16/F64 to float32; throws Error(ModelFormat) for other dtypes.
  std::vector<float> to_f32(const TensorView& t) const;

 private:
  SafeTensors() = default;
  std::optional<MappedFile> file_;
  std::string source_;
  std::vector<TensorView> tensors_;  // sorted by name
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: raw little-endian bytes of the given dtype.
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  static TensorData from_f32(std::string name, std::vector<int64_t> shape, std::span<const float> values,
                             DType dtype = DType::F32);
};

// Serialises tensors (data laid out in the given order) and writes the file atomically.
std::vector<uint8_t> serialize_safetensors(const std::vector<TensorData>& tensors,
                                           const std::map<std::string, std::string>& metadata = {});
void save_safetensors(const std::filesystem::path& path, const std::vector<TensorData>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace vitvk
