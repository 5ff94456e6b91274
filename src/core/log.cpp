#include "core/log.hpp"

#include <cstdio>
#include <cstdlib>

namespace vitvk {

void warn(const std::string& message) {
  if (const char* q = std::getenv("VITVK_QUIET"); q && std::string(q) == "1") return;
  std::fprintf(stderr, "vitvk: warning: %s\n", message.c_str());
}

}  // namespace vitvk
