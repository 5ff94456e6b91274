#!/usr/bin/env bash
# Proves the installed package works from outside the source tree, using an existing build (nothing is rebuilt):
#   1. `cmake --install` into a temporary prefix; checks headers, libvitvk.so.0.1.0 (SONAME libvitvk.so.0),
#      libvitvk.a, vitvkConfig.cmake + vitvkConfigVersion.cmake, vitvk.pc, and that nothing points into the
#      source or build tree;
#   2. builds samples/embed with find_package(vitvk) (shared, then VITVK_USE_STATIC_LIBS=ON) and samples/overlay,
#      and the C API test program with pkg-config alone;
#   3. runs them on an image and checks the printed top-1 line against a regular expression.
#
# usage: scripts/test-install.sh [-B BUILD_DIR] [-m MODEL] [-i IMAGE] [-e TOP1_REGEX] [-k]
#   -B  build directory to install from (default: build/ in the checkout)
#   -m  model directory (default: the repository's ViT-Ti in models/)
#   -i  image (default: samples/images/chelsea.jpg)
#   -e  extended regex the top-1 line ("  PROB  LABEL (INDEX)") must match; defaults to a cat class for the
#       default model and image
#   -k  keep the temporary directory (printed)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$repo/build" model="" image="$repo/samples/images/chelsea.jpg" expect="" keep=0
while getopts "B:m:i:e:k" opt; do
  case $opt in
    B) build=$OPTARG ;;
    m) model=$OPTARG ;;
    i) image=$OPTARG ;;
    e) expect=$OPTARG ;;
    k) keep=1 ;;
    *) sed -n '2,20p' "$0"; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
if [[ -z $model ]]; then
  model="$repo/models/vit_tiny_patch16_224.augreg_in21k_ft_in1k"
  [[ -d $model ]] || { echo "test-install: no model at $model; pass -m MODEL_DIR" >&2; exit 2; }
  [[ -n $expect ]] || expect='^  [01]\.[0-9]{4}  (tabby|tiger cat|Egyptian cat) \(28[125]\)$'
fi
[[ -n $expect ]] || expect='^  [01]\.[0-9]{4}  .+ \([0-9]+\)$'

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vitvk-install.XXXXXX")
if [[ $keep == 1 ]]; then echo "test-install: keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
prefix=$tmp/prefix
fail() { echo "test-install: FAIL: $*" >&2; exit 1; }
step() { echo "test-install: $*"; }
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
strict=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Werror")  # the API must not warn

step "installing $build into $prefix"
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
libdir=$(dirname "$(find "$prefix" -name vitvkConfig.cmake -path '*/cmake/vitvk/*')")/../..
libdir=$(cd "$libdir" && pwd)
for f in include/vitvk/vitvk.hpp include/vitvk/vitvk.h include/vitvk/opencv.hpp include/vitvk/error.hpp bin/vitvk; do
  [[ -e $prefix/$f ]] || fail "$f not installed"
done
for f in libvitvk.so libvitvk.so.0 libvitvk.a cmake/vitvk/vitvkConfig.cmake cmake/vitvk/vitvkConfigVersion.cmake \
         pkgconfig/vitvk.pc; do
  [[ -e $libdir/$f ]] || fail "$libdir/$f not installed"
done
version=$(sed -n 's/^Version: //p' "$libdir/pkgconfig/vitvk.pc")
[[ -f $libdir/libvitvk.so.$version && ! -L $libdir/libvitvk.so.$version ]] || fail "libvitvk.so.$version missing"
[[ $(readlink "$libdir/libvitvk.so.0") == "libvitvk.so.$version" ]] || fail "libvitvk.so.0 does not link to .so.$version"
soname=$(readelf -d "$libdir/libvitvk.so.$version" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[[ $soname == libvitvk.so.${version%%.*} ]] || fail "SONAME is '$soname'"
# Only the API leaves the shared library (hidden visibility): no internals, no bundled fmt.
exported=$(nm -D --defined-only "$libdir/libvitvk.so" | c++filt)
grep -q 'vitvk::Classifier::load' <<< "$exported" || fail "vitvk::Classifier::load is not exported"
grep -q ' vitvk_model_load$' <<< "$exported" || fail "vitvk_model_load is not exported"
# Pipelines ending in `grep -q` are avoided throughout: under pipefail, the writer killed by SIGPIPE when grep
# exits early fails the pipeline at random. Outputs are captured first and searched as here-strings.
internal=$(grep -E 'vitvk::(gpu|ops|pipeline|api)::|vitvk::Model::' <<< "$exported" || true)
[[ -z $internal ]] || fail "internal symbols are exported: $(head -3 <<< "$internal")"
stray=$(grep -rlI -e "$repo" -e "$build" "$prefix/include" "$libdir/cmake" "$libdir/pkgconfig" || true)
[[ -z $stray ]] || fail "installed files refer to the source or build tree: $stray"

top1() {  # runs the sample, prints its output, returns the top-1 line of the first image
  "$@" > "$tmp/out.txt" 2> "$tmp/err.txt" || { cat "$tmp/out.txt" "$tmp/err.txt" >&2; fail "$1 exited with $?"; }
  sed -n 2p "$tmp/out.txt"
}

step "building samples/embed out of tree with find_package(vitvk)"
cmake -S "$repo/samples/embed" -B "$tmp/embed" "${generator[@]}" "${strict[@]}" \
      -DCMAKE_PREFIX_PATH="$prefix" > "$tmp/embed.log" || { cat "$tmp/embed.log"; fail "configure samples/embed"; }
cmake --build "$tmp/embed" >> "$tmp/embed.log" || { cat "$tmp/embed.log"; fail "build samples/embed"; }
line=$(top1 "$tmp/embed/vitvk_embed" "$model" "$image")
step "samples/embed top-1: '$line'"
grep -Eq -- "$expect" <<< "$line" || fail "top-1 line does not match /$expect/"
deps=$(ldd "$tmp/embed/vitvk_embed")
grep -qF "libvitvk.so.0 => $libdir/" <<< "$deps" || fail "the sample does not use the installed libvitvk.so.0: $(grep libvitvk <<< "$deps")"

step "building samples/embed against the static library (VITVK_USE_STATIC_LIBS=ON)"
cmake -S "$repo/samples/embed" -B "$tmp/embed-static" "${generator[@]}" "${strict[@]}" \
      -DCMAKE_PREFIX_PATH="$prefix" -DVITVK_USE_STATIC_LIBS=ON > "$tmp/static.log" \
  || { cat "$tmp/static.log"; fail "configure samples/embed (static)"; }
cmake --build "$tmp/embed-static" >> "$tmp/static.log" || { cat "$tmp/static.log"; fail "build samples/embed (static)"; }
deps=$(ldd "$tmp/embed-static/vitvk_embed")
! grep -q libvitvk <<< "$deps" || fail "the static sample still needs libvitvk.so"
[[ $(top1 "$tmp/embed-static/vitvk_embed" "$model" "$image") == "$line" ]] || fail "static and shared samples disagree"

step "building samples/overlay"
cmake -S "$repo/samples/overlay" -B "$tmp/overlay" "${generator[@]}" "${strict[@]}" \
      -DCMAKE_PREFIX_PATH="$prefix" > "$tmp/overlay.log" || { cat "$tmp/overlay.log"; fail "configure samples/overlay"; }
cmake --build "$tmp/overlay" >> "$tmp/overlay.log" || { cat "$tmp/overlay.log"; fail "build samples/overlay"; }
"$tmp/overlay/vitvk_overlay" "$model" "$image" "$tmp/overlay.png" || fail "samples/overlay exited with $?"
[[ $(head -c 8 "$tmp/overlay.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "overlay.png is not a PNG"

step "building the C API test with pkg-config only"
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
read -r -a pc_flags <<< "$(pkg-config --cflags --libs vitvk)"
cc -std=c99 -Wall -Wextra -Wpedantic -Werror -o "$tmp/c_api_test" "$repo/tests/api/c_api_test.c" "${pc_flags[@]}" -Wl,-rpath,"$libdir" -lm \
  || fail "compiling tests/api/c_api_test.c with \$(pkg-config --cflags --libs vitvk)"
"$tmp/c_api_test" "$model" "$image" > "$tmp/c.txt" || { cat "$tmp/c.txt"; fail "the C API test failed"; }
c_index=$(awk '$1 == "top" { print $2; exit }' "$tmp/c.txt")
[[ $line == *"($c_index)" ]] || fail "C API top-1 index $c_index differs from the C++ sample's"

step "installed bin/vitvk with no -m: the default model from share/vitvk/models"
[[ -f $prefix/share/vitvk/models/vit_tiny_patch16_224.augreg_in21k_ft_in1k/model.safetensors ]] || fail "the default model is not installed"
mkdir -p "$tmp/cwd"
(cd "$tmp/cwd" && env -u VITVK_MODEL_PATH -u XDG_CACHE_HOME HOME="$tmp/cwd" "$prefix/bin/vitvk" classify -f csv -q -k 1 \
   "$repo/samples/images/chelsea.jpg" > "$tmp/cli.csv" 2> "$tmp/cli.err") || { cat "$tmp/cli.err"; fail "installed vitvk classify"; }
cli_top=$(sed -n 2p "$tmp/cli.csv" | cut -d, -f4)
[[ $cli_top == "Egyptian cat" ]] || fail "installed vitvk classify says '$cli_top' for chelsea.jpg"

step "OK (vitvk $version: headers, shared + static library, CMake package, pkg-config, samples)"
