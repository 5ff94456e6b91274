#!/usr/bin/env bash
# Installs every Debian package vitvk's build, tests and tools need, then configures and builds into build/.
# Idempotent: re-running only installs what is missing and rebuilds what changed.
#   scripts/setup.sh            packages + build
#   scripts/setup.sh --no-build packages only
#   VITVK_SETUP_TOOLS=1 scripts/setup.sh   also installs python3-torch and python3-torchvision (golden generation, benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 1 ;;
  esac
done

packages=(
  build-essential cmake ninja-build pkg-config git
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libvulkan-dev vulkan-validationlayers mesa-vulkan-drivers vulkan-tools glslc spirv-tools
  libvkfft-dev glslang-dev
  catch2 libopenblas-dev libopenblas0-pthread nlohmann-json3-dev libcli11-dev libfmt-dev
  zlib1g-dev  # gunzips the built-in label-set tables (data/labels/)
  libheif-dev libgif-dev  # HEIF/HEIC + AVIF and GIF decoding (bookworm's libheif1 1.15 links libde265, dav1d, x265, aom)
  libheif-examples        # heif-enc: the tests make HEIC/AVIF files from samples/images/
  python3-numpy python3-pil
  python3-dev pybind11-dev python3-pytest python3-dask python3-distributed python3-pandas  # python/ + its tests
  chromium  # the report page's browser test
)
if [[ "${VITVK_SETUP_TOOLS:-0}" == 1 ]]; then
  packages+=(python3-torch python3-torchvision)  # regenerating goldens (timm imports torchvision) and the PyTorch side of tools/bench
fi

missing=()
for p in "${packages[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi

# Debian 13 (trixie) and later split libheif's codecs into plugin packages, only Recommended by libheif1 (which
# --no-install-recommends skips): without them HEIC/AVIF files cannot be decoded (libde265, dav1d) and the tests
# cannot make their own (x265, aomenc). Bookworm has no such packages (its libheif1 links the codecs), so each is
# installed only where the package lists know it.
plugins=()
for p in libheif-plugin-libde265 libheif-plugin-dav1d libheif-plugin-x265 libheif-plugin-aomenc; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] && continue
  apt-cache show "$p" >/dev/null 2>&1 && plugins+=("$p")
done
if ((${#plugins[@]})); then
  echo "setup: installing ${plugins[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${plugins[@]}"
fi

if ((build)); then
  cmake --preset release -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}"  # CMakePresets.json: Ninja, build/
  cmake --build build -j"$(nproc)"
fi
