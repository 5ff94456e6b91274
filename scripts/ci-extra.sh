#!/usr/bin/env bash
# The whole hardening stage (by hand, before a release; not in .ci/run: README "Hardening"): fuzzes every parser for a bounded time (scripts/fuzz.sh), then builds the library,
# CLI and tests with AddressSanitizer + UndefinedBehaviorSanitizer (CMake preset "asan", in build-asan/) and runs
# the whole test suite under them, on the CPU path and on the Vulkan device (lavapipe where there is no GPU).
# Any crash, sanitizer report, leak or failing test fails the stage. The ASan run (CMakePresets.json, test preset
# "asan") leaves out the second-driver and fallback repeats and the three sweeps over hundreds of shared photos
# (int8 agreement, the reference top-1 run, preprocessing vs the reference inputs): the plain run covers them, and
# under ASan they took most of the stage's time while their code paths are exercised by the smaller tests.
#   scripts/ci-extra.sh [fuzz seconds per target (default 60)]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
start=$SECONDS

scripts/fuzz.sh "$secs"
fuzz_done=$SECONDS

cmake --preset asan >/dev/null
cmake --build --preset asan -j"$(nproc)"
build_done=$SECONDS
ctest --preset asan
echo "ci-extra: passed in $((SECONDS - start)) s (fuzz $((fuzz_done - start)) s, asan build $((build_done - fuzz_done)) s," \
     "asan tests $((SECONDS - build_done)) s)"
