#pragma once
// Read-only memory mapping of a whole file (RAII), used for model weights so ViT-L does not double in memory.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace vitvk {

class MappedFile {
 public:
  // Throws Error(Io) naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// Whole file as a string; throws Error(Io) naming the path. Refuses files larger than max_bytes.
std::string read_text_file(const std::filesystem::path& path, std::size_t max_bytes);

// Writes via a temporary file in the same directory and rename(), so readers never see a partial file.
void write_file_atomic(const std::filesystem::path& path, std::span<const uint8_t> bytes);

}  // namespace vitvk
