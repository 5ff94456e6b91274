#pragma once
// VITVK_SIMD_CLONES marks a hot loop as a clone set: GCC compiles it for x86-64-v4 (AVX-512), v3 (AVX2 + FMA)
// and the baseline, and the loader picks by CPU, so the library stays portable without -march flags.
// Give cloned functions internal linkage and call them through a plain wrapper: a clone set's ifunc resolver
// would otherwise be exported from libvitvk.so whatever its visibility. Elsewhere (clang, other CPUs) it is empty.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VITVK_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VITVK_SIMD_CLONES
#endif
