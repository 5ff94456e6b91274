// Per-stage CPU cost of the classify pipeline's input side, single-threaded: read the file, probe its header,
// imdecode (to BGR), PIL-exact resize of the crop region, and crop + normalise to CHW floats (the pipeline
// preprocesses the BGR image as decoded). BGR -> RGB, which only the RGB API path pays, is timed on the side
// and left out of the total.
// Figures are CPU time of this thread (CLOCK_THREAD_CPUTIME_ID), so other load on the machine inflates them
// far less than wall time. Developer tool: prints figures, asserts nothing.
//
//   vitvk_preprocess_bench <image dir> [--model <model dir>] [--repeat N]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "image/preprocess.hpp"
#include "image/probe.hpp"
#include "model/config.hpp"

namespace fs = std::filesystem;

namespace {

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<uint8_t> b(fs::file_size(p));
  in.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return b;
}

bool is_image(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".jpeg" || e == ".jpg" || e == ".png";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <image dir> [--repeat N]\n", argv[0]);
    return 2;
  }
  int repeat = 1;
  for (int i = 2; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--repeat") repeat = std::max(1, std::atoi(argv[i + 1]));

  // timm's ViT-Ti / DeiT-Ti eval transform: 224, crop_pct 0.9, bicubic, centre crop, ImageNet-style mean/std.
  vitvk::PreprocessConfig cfg;
  cfg.width = cfg.height = 224;
  cfg.channels = 3;
  cfg.crop_pct = 0.9f;
  cfg.interpolation = "bicubic";
  cfg.crop_mode = "center";
  cfg.mean = {0.5f, 0.5f, 0.5f};
  cfg.std = {0.5f, 0.5f, 0.5f};

  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(argv[1], ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file() && is_image(it->path())) files.push_back(it->path());
  if (ec) {
    std::fprintf(stderr, "%s: %s\nusage: %s <image dir> [--repeat N]\n", argv[1], ec.message().c_str(), argv[0]);
    return 2;
  }
  std::sort(files.begin(), files.end());

  double t_read = 0, t_probe = 0, t_decode = 0, t_rgb = 0, t_resize = 0, t_norm = 0, t_total = 0;
  double pixels = 0;
  std::size_t n = 0;
  std::vector<float> out(3 * 224 * 224);
  for (int r = 0; r < repeat; ++r) {
    for (const fs::path& p : files) {
      double t = cpu_now();
      const double t_start = t;
      const std::vector<uint8_t> bytes = read_file(p);
      double u = cpu_now();
      t_read += u - t;
      t = u;
      vitvk::image::probe_image(bytes, p.string());
      u = cpu_now();
      t_probe += u - t;
      t = u;
      const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data()));
      const cv::Mat bgr = cv::imdecode(buf, cv::IMREAD_COLOR);
      u = cpu_now();
      t_decode += u - t;
      t = u;
      cv::Mat rgb;
      cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
      u = cpu_now();
      const double t_rgb_one = u - t;
      t_rgb += t_rgb_one;
      t = u;
      // The resize alone (the region preprocess_into asks for), then the whole of preprocess_into; the
      // crop/normalise cost is the difference.
      const vitvk::CropGeometry g = vitvk::plan_crop_geometry(rgb.cols, rgb.rows, cfg);
      const int x0 = std::max(g.crop_x, 0), y0 = std::max(g.crop_y, 0);
      const int x1 = std::min(g.crop_x + g.crop_w, g.resized_w), y1 = std::min(g.crop_y + g.crop_h, g.resized_h);
      const cv::Mat region = vitvk::resize_like_pil(bgr, g.resized_w, g.resized_h, cfg.interpolation,
                                                    cv::Rect(x0, y0, x1 - x0, y1 - y0));
      u = cpu_now();
      const double resize = u - t;
      t_resize += resize;
      t = u;
      vitvk::preprocess_into(bgr, cfg, out, vitvk::PixelOrder::Bgr);
      u = cpu_now();
      t_norm += std::max(0.0, (u - t) - resize);
      // Counts the resize once and leaves BGR -> RGB out.
      t_total += (u - t_start) - (u - t) + std::max(0.0, (u - t) - resize) - t_rgb_one;
      pixels += static_cast<double>(rgb.total());
      ++n;
    }
  }
  if (n == 0) {
    std::fprintf(stderr, "no images in %s\n", argv[1]);
    return 1;
  }
  const double k = 1e3 / static_cast<double>(n);
  std::printf("%zu images (%.2f MP average), CPU ms/image on one thread:\n", n, pixels / n / 1e6);
  std::printf("  read      %7.3f\n  probe     %7.3f\n  imdecode  %7.3f\n  resize    %7.3f\n  crop+norm %7.3f\n"
              "  total     %7.3f\n  (bgr->rgb %7.3f, not on the classify path, not in the total)\n",
              t_read * k, t_probe * k, t_decode * k, t_resize * k, t_norm * k, t_total * k, t_rgb * k);
  return 0;
}
