#include "explain/report.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "core/embedded_files.hpp"
#include "core/file.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

// The page lives in src/explain/web/ (report.html with @STYLE@ and @SCRIPT@ for report.css and report.js),
// embedded at build time. @GRADIENT@ (in the CSS), @TITLE@ (HTML-escaped), @CONFIG@ and @DATA@ (JSON with '<'
// escaped, so no "</script>" can end the element early) are filled in by finish().
std::string web_file(std::string_view name) {
  const embedded::File* f = embedded::find(name);
  if (!f) throw Error(ErrorCode::Internal, "report: the page file " + std::string(name) + " is missing from this build");
  return std::string(reinterpret_cast<const char*>(f->bytes.data()), f->bytes.size());
}



std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// JSON for inside <script>: invalid UTF-8 (odd file names) replaced, '<' escaped so "</script" cannot occur.
std::string script_json(const nlohmann::json& j) {
  const std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    if (c == '<')
      o += "\\u003c";
    else
      o += c;
  }
  return o;
}

// Fills @NAME@ placeholders in one pass, so substituted (user) text is never scanned for placeholders.
std::string fill(const std::string& tpl, const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t a = tpl.find('@', pos);
    const std::size_t b = a == std::string::npos ? a : tpl.find('@', a + 1);
    if (b == std::string::npos) break;
    const std::string key = tpl.substr(a + 1, b - a - 1);
    const auto it = std::find_if(values.begin(), values.end(), [&](const auto& kv) { return kv.first == key; });
    if (it == values.end()) {  // a lone '@' in the template text
      out.append(tpl, pos, a + 1 - pos);
      pos = a + 1;
      continue;
    }
    out.append(tpl, pos, a - pos);
    out += it->second;
    pos = b + 1;
  }
  out.append(tpl, pos, std::string::npos);
  return out;
}

// CSS gradient of the colormap, for the legend.
std::string colormap_gradient(int colormap) {
  cv::Mat ramp(1, 9, CV_8U), rgb;
  for (int i = 0; i < 9; ++i) ramp.at<uint8_t>(0, i) = static_cast<uint8_t>(std::lround(i * 255.0 / 8));
  cv::applyColorMap(ramp, rgb, colormap);
  std::string g = "linear-gradient(90deg";
  for (int i = 0; i < 9; ++i) {
    const auto bgr = rgb.at<cv::Vec3b>(0, i);
    g += fmt::format(",#{:02x}{:02x}{:02x}", bgr[2], bgr[1], bgr[0]);
  }
  return g + ")";
}

cv::Mat fit(const cv::Mat& rgb, int longest) {
  const int side = std::max(rgb.cols, rgb.rows);
  if (side <= longest) return rgb;
  const double s = static_cast<double>(longest) / side;
  cv::Mat out;
  cv::resize(rgb, out, cv::Size(std::max(1, static_cast<int>(std::lround(rgb.cols * s))),
                                std::max(1, static_cast<int>(std::lround(rgb.rows * s)))),
             0, 0, cv::INTER_AREA);
  return out;
}

std::string colormap_name(int id) {
  for (const auto& n : colormap_names())
    if (parse_colormap(n) == id) return n;
  return std::to_string(id);
}

}  // namespace

ReportWriter::ReportWriter(std::filesystem::path dir, ReportOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  if (options_.thumb_size < 16 || options_.view_size < options_.thumb_size || options_.page_size < 1)
    throw Error(ErrorCode::InvalidArgument, "report: thumb_size >= 16, view_size >= thumb_size and page_size >= 1 required");
  if (!(options_.overlay.opacity >= 0.f && options_.overlay.opacity <= 1.f))
    throw Error(ErrorCode::InvalidArgument, fmt::format("report: opacity {} is outside [0, 1]", options_.overlay.opacity));
  std::error_code ec;
  std::filesystem::create_directories(dir_ / "img", ec);
  if (ec) throw Error(ErrorCode::Io, (dir_ / "img").string() + ": cannot create directory: " + ec.message());
}

void ReportWriter::add(const std::string& name, const cv::Mat& photo_rgb8, std::span<const ReportPrediction> topk,
                       const RolloutMap* map, const CropGeometry* geometry) {
  if (photo_rgb8.empty() || photo_rgb8.type() != CV_8UC3)
    throw Error(ErrorCode::InvalidArgument, "report: " + name + ": the photo must be a non-empty 8-bit RGB image");
  if ((map == nullptr) != (geometry == nullptr))
    throw Error(ErrorCode::InvalidArgument, "report: " + name + ": a rollout map needs its crop geometry");
  std::size_t slot;
  Entry e;
  {
    const std::lock_guard lock(mutex_);
    slot = entries_.size();
    e.id = fmt::format("{:06d}", next_id_++);
    entries_.push_back({name, "", e.id, 0, 0, false, {}});  // reserve the position; filled below
  }
  e.name = name;
  e.width = photo_rgb8.cols;
  e.height = photo_rgb8.rows;
  e.topk.assign(topk.begin(), topk.end());
  e.heat = map != nullptr;
  try {
    const std::filesystem::path img = dir_ / "img";
    const cv::Mat view = fit(photo_rgb8, options_.view_size), thumb = fit(photo_rgb8, options_.thumb_size);
    write_image_atomic(img / (e.id + ".jpg"), view, options_.jpeg_quality);
    write_image_atomic(img / (e.id + "_t.jpg"), thumb, options_.jpeg_quality);
    if (map) {
      write_image_atomic(img / (e.id + "_h.jpg"), render_heat_layer(view, *map, *geometry, options_.overlay), options_.jpeg_quality);
      write_image_atomic(img / (e.id + "_th.jpg"), render_heat_layer(thumb, *map, *geometry, options_.overlay), options_.jpeg_quality);
    }
  } catch (const Error& err) {
    const std::lock_guard lock(mutex_);
    entries_[slot].error = std::string("could not write the report images: ") + err.what();
    ++errors_;
    throw;
  }
  const std::lock_guard lock(mutex_);
  entries_[slot] = std::move(e);
}

void ReportWriter::add_error(const std::string& name, const std::string& message) {
  const std::lock_guard lock(mutex_);
  entries_.push_back({name, message.empty() ? "unknown error" : message, fmt::format("{:06d}", next_id_++), 0, 0, false, {}});
  ++errors_;
}

std::filesystem::path ReportWriter::finish() {
  nlohmann::json data = nlohmann::json::array();
  {
    const std::lock_guard lock(mutex_);
    for (const Entry& e : entries_) {
      nlohmann::json j = {{"name", e.name}, {"id", e.id}};
      if (!e.error.empty()) {
        j["error"] = e.error;
      } else {
        j["w"] = e.width;
        j["h"] = e.height;
        j["heat"] = e.heat;
        nlohmann::json top = nlohmann::json::array();
        for (const auto& p : e.topk)
          top.push_back({p.label, p.index, std::isfinite(p.probability) ? std::round(p.probability * 1e5) / 1e5 : 0.0});
        j["top"] = std::move(top);
      }
      data.push_back(std::move(j));
    }
  }
  nlohmann::json info = nlohmann::json::array();
  for (const auto& [k, v] : options_.info) info.push_back({k, v});
  const nlohmann::json config = {{"title", options_.title},         {"info", info},
                                 {"opacity", options_.overlay.opacity}, {"pageSize", options_.page_size},
                                 {"thumbSize", options_.thumb_size},   {"viewSize", options_.view_size},
                                 {"colormap", colormap_name(options_.overlay.colormap)}};
  // Two passes: the page's own files first, then the values (fill never rescans what it substituted).
  const std::string tpl = fill(web_file("report.html"), {{"STYLE", web_file("report.css")}, {"SCRIPT", web_file("report.js")}});
  std::string page = fill(tpl, {{"GRADIENT", colormap_gradient(options_.overlay.colormap)},
                                       {"TITLE", html_escape(options_.title)},
                                       {"CONFIG", script_json(config)},
                                       {"DATA", script_json(data)}});
  const auto path = dir_ / "index.html";
  write_file_atomic(path, std::span(reinterpret_cast<const uint8_t*>(page.data()), page.size()));
  return path;
}

std::size_t ReportWriter::images() const {
  const std::lock_guard lock(mutex_);
  return entries_.size() - errors_;
}

std::size_t ReportWriter::errors() const {
  const std::lock_guard lock(mutex_);
  return errors_;
}

}  // namespace vitvk
