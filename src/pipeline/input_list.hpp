#pragma once
// Input lists made elsewhere (--files-from) and deterministic splits of a job over machines (--shard K/N).
#include <cstddef>
#include <filesystem>
#include <istream>
#include <string>
#include <vector>

#include "pipeline/enumerate.hpp"

namespace vitvk::pipeline {

// Reads one path per record: records end with '\n' (a trailing '\r' is kept: it is a valid byte of a file name),
// or with '\0' when `nul` is set (find -print0, git ls-files -z). Empty records are skipped. `source` names the
// list in errors. Throws Error(Io) when the stream fails before its end.
std::vector<std::string> read_input_list(std::istream& in, bool nul, const std::string& source);
// The same from a file, or from standard input for "-".
std::vector<std::string> read_input_list(const std::string& file_or_dash, bool nul);

// Part K of N (K = 0 .. N-1: a Kubernetes indexed Job's JOB_COMPLETION_INDEX, a Slurm array task id).
struct ShardSpec {
  std::size_t index = 0, count = 1;
};
// "K/N" with 0 <= K < N; throws Error(InvalidArgument) naming the text otherwise.
ShardSpec parse_shard(const std::string& text);

// Sorts `inputs` by path bytes (so every machine sees the same list whatever order its arguments came in) and
// keeps the contiguous part `spec.index` of `spec.count`: entries [floor(K*n/N), floor((K+1)*n/N)). The parts
// of N machines are disjoint and together hold every input once; concatenated in K order they are the sorted list.
std::vector<InputEntry> select_shard(std::vector<InputEntry> inputs, const ShardSpec& spec);

}  // namespace vitvk::pipeline
