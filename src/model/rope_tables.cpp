#include "model/rope_tables.hpp"

#include <cmath>
#include <string>

#include "vitvk/error.hpp"

namespace vitvk {

RopeTables rope_tables_2d(const RopeGrid& g, int head_dim) {
  if (head_dim < 4 || head_dim % 4 || g.grid_h < 1 || g.grid_w < 1 || g.ref_h < 0 || g.ref_w < 0 ||
      !(g.temperature > 0.0))
    throw Error(ErrorCode::InvalidArgument, "rope_tables_2d: head_dim " + std::to_string(head_dim) +
                                                " is not a positive multiple of 4, or a bad grid");
  const int nb = head_dim / 4, N = g.grid_h * g.grid_w;
  // float steps in timm's order (its tables are float32 throughout), the sines and cosines of the float angles
  // in double and rounded once: the tables agree with timm's to about an ulp of the angle.
  std::vector<float> bands(nb);
  for (int j = 0; j < nb; ++j) {
    const float e = static_cast<float>(j) / static_cast<float>(nb);
    bands[j] = 1.0f / static_cast<float>(std::pow(static_cast<float>(g.temperature), e));
  }
  auto coord = [&](int i, int size, int ref) {
    float t = static_cast<float>(i) + static_cast<float>(g.offset);
    if (ref > 0) t = t / static_cast<float>(size) * static_cast<float>(ref);
    return t;
  };
  RopeTables out;
  out.sin.resize(static_cast<std::size_t>(N) * head_dim);
  out.cos.resize(out.sin.size());
  for (int y = 0; y < g.grid_h; ++y)
    for (int x = 0; x < g.grid_w; ++x) {
      const float ty = coord(y, g.grid_h, g.ref_h), tx = coord(x, g.grid_w, g.ref_w);
      const std::size_t row = (static_cast<std::size_t>(y) * g.grid_w + x) * head_dim;
      for (int a = 0; a < 2 * nb; ++a) {  // the pair's angle: rows' bands, then columns'
        const float angle = (a < nb ? ty : tx) * bands[a % nb];
        const float sv = static_cast<float>(std::sin(static_cast<double>(angle)));
        const float cv = static_cast<float>(std::cos(static_cast<double>(angle)));
        // Pair a's two elements: (2a, 2a+1) interleaved, (a, a + head_dim/2) with rotate_half.
        const int ia = g.rotate_half ? a : 2 * a, ib = g.rotate_half ? a + 2 * nb : 2 * a + 1;
        out.sin[row + ia] = out.sin[row + ib] = sv;
        out.cos[row + ia] = out.cos[row + ib] = cv;
      }
    }
  return out;
}

}  // namespace vitvk
