#pragma once
// Warnings the library cannot turn into errors (e.g. an ignored corrupt cache file): one line on stderr,
// silenced by VITVK_QUIET=1.
#include <string>

namespace vitvk {
void warn(const std::string& message);
}
