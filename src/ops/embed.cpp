#include "ops/embed.hpp"

#include <algorithm>

namespace vitvk::ops {

void embed_tokens_cpu(float* tokens, const EmbedShape& s, const float* prefix, const float* pos) {
  const long D = s.dim, first_pos = static_cast<long>(s.tokens - s.pos_rows) * D;
  for (int b = 0; b < s.batch; ++b) {
    float* t = tokens + static_cast<long>(b) * s.tokens * D;
    if (s.prefix) std::copy(prefix, prefix + s.prefix * D, t);
    for (long i = 0; i < static_cast<long>(s.pos_rows) * D; ++i) t[first_pos + i] += pos[i];
  }
}

}  // namespace vitvk::ops
