#pragma once
// Helpers for tests that run the vitvk CLI and read what it wrote.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace vitvk::test {

// A strict RFC 4180 reader (quoted fields may hold ',', '""' and line breaks; records end with LF or CRLF).
inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c != '"') field += c;
      else if (i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else quoted = false;
    } else if (c == '"') {
      if (!field.empty() || was_quoted) throw std::runtime_error("csv: quote inside an unquoted field");
      quoted = was_quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field)), field.clear(), was_quoted = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n')) throw std::runtime_error("csv: bare CR");
      if (c == '\r') ++i;
      row.push_back(std::move(field)), field.clear(), was_quoted = false;
      rows.push_back(std::move(row)), row.clear();
    } else {
      if (was_quoted) throw std::runtime_error("csv: text after a closing quote");
      field += c;
    }
  }
  if (quoted) throw std::runtime_error("csv: unterminated quote");
  if (!field.empty() || !row.empty() || was_quoted) row.push_back(std::move(field)), rows.push_back(std::move(row));
  return rows;
}

// 'text' for /bin/sh, whatever it contains.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs `command` (a shell command line) with stdout and stderr captured through files in `scratch`.
inline CommandResult run_command(const std::string& command, const std::filesystem::path& scratch) {
  const auto out = scratch / "cmd.stdout", err = scratch / "cmd.stderr";
  const std::string full = command + " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string()) + " </dev/null";
  const int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

}  // namespace vitvk::test
