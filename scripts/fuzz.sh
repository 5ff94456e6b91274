#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz (clang, ASan + UBSan) into build-fuzz/ and runs each one for a
# bounded time, starting from the committed seeds in tests/fuzz/corpus/<target>/. Fails on any crash, sanitizer
# report, leak, timeout (one input over 20 s) or out-of-memory; the offending input is kept under
# build-fuzz/fuzz/artifacts/<target>/ (replay it with: build-fuzz/fuzz/fuzz_<target> <file>).
#   scripts/fuzz.sh [seconds-per-target (default 60)] [target ...]   targets: safetensors config image heif gif
# VITVK_FUZZ_BUILD_DIR overrides the build folder. Inputs the fuzzer finds accumulate in
# build-fuzz/fuzz/corpus-<target>/ across runs; the committed seeds are never modified.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: seconds must be a whole number, got '$secs'" >&2; exit 1; }
shift || true
targets=("$@")
((${#targets[@]})) || targets=(safetensors config image heif gif)
build=${VITVK_FUZZ_BUILD_DIR:-build-fuzz}

# clang and its libFuzzer runtime, installed the way scripts/setup.sh installs everything else.
missing=()
for p in clang libclang-rt-dev; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "fuzz.sh: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVITVK_FUZZ=ON -DVITVK_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target vitvk_fuzz -j"$(nproc)"

export UBSAN_OPTIONS=print_stacktrace=1
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan-codecs.supp:print_suppressions=0"
failed=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [[ -x "$bin" ]] || { echo "fuzz.sh: unknown target '$t'" >&2; exit 1; }
  work="$build/fuzz/corpus-$t"
  artifacts="$build/fuzz/artifacts/$t/"
  log="$build/fuzz/$t.log"
  mkdir -p "$work" "$artifacts"
  echo "fuzz.sh: fuzz_$t for ${secs} s (log: $log)"
  rc=0
  "$bin" "$work" "tests/fuzz/corpus/$t" -dict="tests/fuzz/$t.dict" -max_total_time="$secs" -timeout=20 \
    -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 || true)
  echo "fuzz.sh: fuzz_$t: ${execs:-?} executions (${rate:-?}/s), $cov, corpus dir $(ls "$work" | wc -l) files"
  if ((rc != 0)); then
    echo "fuzz.sh: fuzz_$t FAILED (exit $rc); the finding:" >&2
    grep -E -A40 '^==[0-9]+==ERROR|runtime error|fuzz invariant|deadly signal|uncaught exception|terminate called|libFuzzer: (timeout|out-of-memory)' \
      "$log" | head -60 >&2 || tail -40 "$log" >&2
    ls "$artifacts" >&2
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no findings"
