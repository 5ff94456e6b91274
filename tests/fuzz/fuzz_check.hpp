#pragma once
// Shared by the fuzz targets: a failed invariant is a finding, reported with its expression and location.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                             \
  do {                                                                                               \
    if (!(cond)) {                                                                                   \
      std::fprintf(stderr, "fuzz invariant violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__);       \
      std::abort();                                                                                  \
    }                                                                                                \
  } while (0)
