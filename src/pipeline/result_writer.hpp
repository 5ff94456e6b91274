#pragma once
// Writing classify results as a human table, CSV or JSON Lines — the same content in each.
//
// jsonl: one object per input, in input order:
//   {"path": "...", "top": [{"index": 281, "label": "tabby", "prob": 0.91}, ...], "logits": [...]}
//   {"path": "...", "error": "reason"}
// csv:   a header row, then one row per input: path,error,top1_index,top1_label,top1_prob,...[,logit_0,...];
//        fields are quoted as RFC 4180 says (commas, quotes, CR/LF), records end with '\n'.
// table: aligned columns, one line per rank (path on the first), "error: reason" for failed inputs.
// Numbers are the shortest decimal that reads back as the same fp32 value (table: probabilities to 4 places).
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "pipeline/result.hpp"

namespace vitvk::pipeline {

enum class OutputFormat { Table, Csv, Jsonl };

// "table" | "csv" | "jsonl"; throws Error(InvalidArgument).
OutputFormat parse_output_format(const std::string& s);

struct WriterOptions {
  int top_k = 5;              // columns in csv (clamped to the number of labels)
  bool logits = false;        // add the raw logits
  std::size_t path_width = 0;  // table: width of the path column (longer paths push the row right)
};

class ResultWriter {
 public:
  virtual ~ResultWriter() = default;
  virtual void write(const ClassifyResult& result) = 0;
};

// Writes the header (csv, table) immediately. `labels` (one per class) must outlive the writer.
std::unique_ptr<ResultWriter> make_result_writer(OutputFormat format, std::ostream& out,
                                                 const std::vector<std::string>& labels, const WriterOptions& options);

// RFC 4180 field: quoted (with doubled quotes) only when it contains ',', '"', '\r' or '\n'.
std::string csv_field(const std::string& s);

// Display width of a UTF-8 string in terminal columns (code points; wide characters are not special-cased).
std::size_t display_width(const std::string& s);

}  // namespace vitvk::pipeline
