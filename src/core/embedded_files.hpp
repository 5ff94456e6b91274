#pragma once
// Files compiled into the library at build time (tools/cmake/embed_files.cmake, listed in src/CMakeLists.txt):
// the label-set tables (data/labels/) and the report page (src/explain/web/). Nothing to install or find at run
// time.
#include <span>
#include <string_view>

namespace vitvk::embedded {

struct File {
  std::string_view name;                // the file's base name, e.g. "imagenet_lemmas.tsv.gz"
  std::span<const unsigned char> bytes;
};

// nullptr when no file of that name was embedded.
const File* find(std::string_view name);

}  // namespace vitvk::embedded
