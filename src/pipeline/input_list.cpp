#include "pipeline/input_list.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>

#include "vitvk/error.hpp"

namespace vitvk::pipeline {

std::vector<std::string> read_input_list(std::istream& in, bool nul, const std::string& source) {
  std::vector<std::string> out;
  std::string record;
  while (std::getline(in, record, nul ? '\0' : '\n'))
    if (!record.empty()) out.push_back(std::move(record));
  if (in.bad()) throw Error(ErrorCode::Io, source + ": read error");
  return out;
}

std::vector<std::string> read_input_list(const std::string& file_or_dash, bool nul) {
  if (file_or_dash == "-") return read_input_list(std::cin, nul, "standard input");
  std::error_code ec;
  if (std::filesystem::is_directory(file_or_dash, ec))
    throw Error(ErrorCode::Io, "--files-from " + file_or_dash + ": is a folder (expected a list of paths)");
  std::ifstream f(file_or_dash, std::ios::binary);
  if (!f) throw Error(ErrorCode::Io, "--files-from " + file_or_dash + ": cannot open it");
  return read_input_list(f, nul, file_or_dash);
}

ShardSpec parse_shard(const std::string& text) {
  const auto bad = [&] {
    return Error(ErrorCode::InvalidArgument, "--shard: expected K/N with 0 <= K < N (e.g. 0/4), got '" + text + "'");
  };
  const auto slash = text.find('/');
  if (slash == std::string::npos) throw bad();
  ShardSpec s;
  const char* b = text.data();
  const char* e = b + text.size();
  auto r1 = std::from_chars(b, b + slash, s.index);
  auto r2 = std::from_chars(b + slash + 1, e, s.count);
  if (r1.ec != std::errc() || r1.ptr != b + slash || r2.ec != std::errc() || r2.ptr != e || slash == 0 ||
      s.count == 0 || s.index >= s.count)
    throw bad();
  return s;
}

std::vector<InputEntry> select_shard(std::vector<InputEntry> inputs, const ShardSpec& spec) {
  if (spec.count == 0 || spec.index >= spec.count) throw Error(ErrorCode::InvalidArgument, "bad shard");
  std::stable_sort(inputs.begin(), inputs.end(),
                   [](const InputEntry& a, const InputEntry& b) { return a.path.native() < b.path.native(); });
  const std::size_t n = inputs.size();
  // 128-bit-safe enough: n * count stays far below 2^64 for any list that fits in memory.
  const std::size_t first = n * spec.index / spec.count, last = n * (spec.index + 1) / spec.count;
  return {std::make_move_iterator(inputs.begin() + static_cast<std::ptrdiff_t>(first)),
          std::make_move_iterator(inputs.begin() + static_cast<std::ptrdiff_t>(last))};
}

}  // namespace vitvk::pipeline
