/* vitvk/export.h: marks the symbols the shared library exports (it is built with hidden visibility, so only the
 * public C++ and C API is visible to the dynamic linker). Usable from C and C++. */
#ifndef VITVK_EXPORT_H
#define VITVK_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define VITVK_API __attribute__((visibility("default")))
#else
#define VITVK_API
#endif

#endif /* VITVK_EXPORT_H */
