#!/usr/bin/env bash
# Packs what tools/bench/gpu/run.sh needs on the device machine, which has a GPU, Python with PyTorch and timm,
# and none of vitvk's Debian packages (nothing can be installed there): build/tools/vitvk_bench_lean (vitvk's
# `devices` and `bench` without the image codecs), the shared libraries it loads but glibc and the C++ runtime, and the
# Vulkan loader's Debian packages. Output: .gpu/ at the repo root (git-ignored), 16 MB; name it in the device
# tool's `carry`. Run here, after scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../../.."
cmake --build build --target vitvk_bench_lean
bin=build/tools/vitvk_bench_lean
needed=$(readelf -d "$bin")
if grep -q opencv <<<"$needed"; then
  echo "bundle: $bin links OpenCV (its imgcodecs needs ~200 MB of libraries): it must not" >&2
  exit 1
fi

rm -rf .gpu && mkdir -p .gpu/debs
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
cp "$bin" "$stage/bin/" && strip "$stage/bin/vitvk_bench_lean"
# ldd's closure, less glibc and the C++ runtime (the device's own, newer ones serve, and the NVIDIA driver loaded
# into the process expects them), plus the Vulkan loader.
libs=$(ldd "$bin")
for lib in $(awk '/=> \//{print $3}' <<<"$libs") /usr/lib/x86_64-linux-gnu/libvulkan.so.1; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libstdc++.so.*|libgcc_s.so.*) continue ;;
  esac
  cp -L "$lib" "$stage/lib/"
done
tar -C "$stage" -czf .gpu/vitvk-gpu.tar.gz bin lib  # gzip: every image has it
# The device README's loader set (the NVIDIA ICD needs libglvnd's dispatch library beside the loader).
(cd .gpu/debs && apt-get download -q -oAPT::Sandbox::User=root libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 \
   libgles2 >/dev/null)
du -sh .gpu
echo "bundle: .gpu ready; on the device: bash tools/bench/gpu/run.sh (carry .gpu)"
