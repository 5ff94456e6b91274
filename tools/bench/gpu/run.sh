#!/usr/bin/env bash
# Issue 8, item 5, in one device call: vitvk's Vulkan backend next to PyTorch CUDA on the same GPU, ViT-B/16 at
# batch 1, 64 and 256, fp32 and fp16, every vitvk cell checked against the CPU backend. Made for the device
# tool's machine (run from the repo root there, `carry` [".gpu"] from tools/bench/gpu/bundle.sh); results in $OUT
# (gpu.md table, gpu.json record, progress.log cell by cell, devices.txt, gpu.txt). Locally, `GPU_SMOKE=1` runs a
# small version on whatever Vulkan device is there (lavapipe), with the same bundle, as a check of the kit itself.
set -uo pipefail
cd "$(dirname "$0")/../../.."
out=${OUT:-/tmp/vitvk-gpu-out}
mkdir -p "$out"
work=$(mktemp -d)
if ! tar -C "$work" -xzf .gpu/vitvk-gpu.tar.gz; then
  echo "run: no .gpu/vitvk-gpu.tar.gz (make it with tools/bench/gpu/bundle.sh, carry .gpu)"
  exit 1
fi
if [[ -z "${GPU_SMOKE:-}" ]]; then
  # The Vulkan loader's dependencies, as the device README says (their files only: dpkg -x, then ldconfig).
  for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
             /etc/vulkan/icd.d/nvidia_icd.json; do
    if [[ -f $icd ]]; then export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd; break; fi
  done
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp} XDG_CACHE_HOME=$work/cache  # a cold pipeline cache, warm after
# The bundled libraries for vitvk alone: PyTorch, in the same run, keeps its own.
bin=$work/vitvk
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/lib exec %s/bin/vitvk_bench_lean "$@"\n' "$work" "$work" >"$bin"
chmod +x "$bin"

(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true) | tee "$out/gpu.txt"
"$bin" devices 2>&1 | tee "$out/devices.txt"
[[ ${PIPESTATUS[0]} == 0 ]] || { echo "run: no Vulkan device"; exit 1; }

if [[ -n "${GPU_SMOKE:-}" ]]; then
  # The GEMM variant a GPU gets (lavapipe would pick its CPU-style one), so the smoke run covers that path.
  export VITVK_GEMM_VARIANT=tiled
  models=tiny batches=1,2 reps=2 rounds=1 python=/usr/bin/python3
else
  # One round: a GPU's figures move little from run to run, and each vitvk cell costs a process start (~3 s of
  # random ViT-B weights) out of a short lease. ROUNDS=2 interleaves a second.
  models=base batches=1,64,256 reps=30 rounds=${ROUNDS:-1} python=python3
fi
PYTHONUNBUFFERED=1 "$python" tools/bench/compare.py --models "$models" --batches "$batches" --reps "$reps" \
  --rounds "$rounds" --warmup 3 --frameworks vitvk-vulkan,vitvk-vulkan-fp16,torch-cuda,torch-cuda-fp16 \
  --baseline torch-cuda-fp16 --vitvk "$bin" --json "$out/gpu.json" \
  2> >(tee "$out/progress.log" >&2) | tee "$out/gpu.md"  # progress.log survives a run cut off at its limit
