#include "pipeline/result_writer.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "vitvk/error.hpp"

namespace vitvk::pipeline {
namespace {

// The shortest decimal that reads back as the same float, as a double, so the JSON shows 0.91 and not
// 0.9100000262260437.
double json_number(float v) { return std::strtod(fmt::format("{}", v).c_str(), nullptr); }

const std::string& label_of(const std::vector<std::string>& labels, int index) {
  static const std::string none;
  return index >= 0 && static_cast<std::size_t>(index) < labels.size() ? labels[static_cast<std::size_t>(index)] : none;
}

class JsonlWriter final : public ResultWriter {
 public:
  JsonlWriter(std::ostream& out, const std::vector<std::string>& labels) : out_(out), labels_(labels) {}
  void write(const ClassifyResult& r) override {
    nlohmann::ordered_json j;
    j["path"] = r.path.string();
    if (!r.ok()) {
      j["error"] = r.error;
    } else {
      auto top = nlohmann::ordered_json::array();
      for (const ScoredClass& c : r.top)
        top.push_back({{"index", c.index}, {"label", label_of(labels_, c.index)}, {"prob", json_number(c.prob)}});
      j["top"] = std::move(top);
      if (!r.logits.empty()) {
        auto logits = nlohmann::ordered_json::array();
        for (float v : r.logits) logits.push_back(json_number(v));
        j["logits"] = std::move(logits);
      }
    }
    // Paths are bytes, JSON is UTF-8: invalid sequences become U+FFFD rather than failing the row.
    out_ << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
  }

 private:
  std::ostream& out_;
  const std::vector<std::string>& labels_;
};

class CsvWriter final : public ResultWriter {
 public:
  CsvWriter(std::ostream& out, const std::vector<std::string>& labels, const WriterOptions& o)
      : out_(out), labels_(labels), k_(std::min<std::size_t>(static_cast<std::size_t>(std::max(o.top_k, 1)), labels.size())),
        logits_(o.logits) {
    std::string h = "path,error";
    for (std::size_t i = 1; i <= k_; ++i) h += fmt::format(",top{0}_index,top{0}_label,top{0}_prob", i);
    if (logits_)
      for (std::size_t i = 0; i < labels_.size(); ++i) h += fmt::format(",logit_{}", i);
    out_ << h << '\n';
  }
  void write(const ClassifyResult& r) override {
    std::string row = csv_field(r.path.string()) + ',' + csv_field(r.error);
    for (std::size_t i = 0; i < k_; ++i) {
      if (i < r.top.size())
        row += fmt::format(",{},{},{}", r.top[i].index, csv_field(label_of(labels_, r.top[i].index)), r.top[i].prob);
      else
        row += ",,,";
    }
    if (logits_) {
      for (std::size_t i = 0; i < labels_.size(); ++i)
        row += i < r.logits.size() ? fmt::format(",{}", r.logits[i]) : std::string(",");
    }
    out_ << row << '\n';
  }

 private:
  std::ostream& out_;
  const std::vector<std::string>& labels_;
  std::size_t k_;
  bool logits_;
};

class TableWriter final : public ResultWriter {
 public:
  TableWriter(std::ostream& out, const std::vector<std::string>& labels, const WriterOptions& o)
      : out_(out), labels_(labels), width_(std::max<std::size_t>(o.path_width, 4)) {
    out_ << pad("path") << "  rank  index    prob  label\n";
  }
  void write(const ClassifyResult& r) override {
    const std::string path = r.path.string();
    if (!r.ok()) {
      out_ << pad(path) << "  error: " << r.error << '\n';
      return;
    }
    for (std::size_t i = 0; i < r.top.size(); ++i) {
      const ScoredClass& c = r.top[i];
      out_ << pad(i == 0 ? path : std::string()) << fmt::format("  {:>4}  {:>5}  {:.4f}  {}\n", i + 1, c.index, c.prob,
                                                                label_of(labels_, c.index));
    }
    if (!r.logits.empty()) {
      std::string line = pad({}) + "  logits:";
      for (float v : r.logits) line += fmt::format(" {}", v);
      out_ << line << '\n';
    }
  }

 private:
  std::string pad(const std::string& s) const {
    const std::size_t w = display_width(s);
    return w >= width_ ? s : s + std::string(width_ - w, ' ');
  }

  std::ostream& out_;
  const std::vector<std::string>& labels_;
  std::size_t width_;
};

}  // namespace

OutputFormat parse_output_format(const std::string& s) {
  if (s == "table") return OutputFormat::Table;
  if (s == "csv") return OutputFormat::Csv;
  if (s == "jsonl") return OutputFormat::Jsonl;
  throw Error(ErrorCode::InvalidArgument, "unknown output format '" + s + "' (table, csv, jsonl)");
}

std::unique_ptr<ResultWriter> make_result_writer(OutputFormat format, std::ostream& out,
                                                 const std::vector<std::string>& labels, const WriterOptions& options) {
  switch (format) {
    case OutputFormat::Table: return std::make_unique<TableWriter>(out, labels, options);
    case OutputFormat::Csv: return std::make_unique<CsvWriter>(out, labels, options);
    case OutputFormat::Jsonl: return std::make_unique<JsonlWriter>(out, labels);
  }
  throw Error(ErrorCode::Internal, "unhandled output format");
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + '"';
}

std::size_t display_width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace vitvk::pipeline
