#!/usr/bin/env bash
# Downloads a timm checkpoint (config.json + model.safetensors) from the Hugging Face hub into the user model
# cache, where `vitvk classify -m NAME` finds it:
#   ${XDG_CACHE_HOME:-~/.cache}/vitvk/models/NAME/
#
#   scripts/fetch-model.sh vit_tiny_patch16_224.augreg_in21k_ft_in1k
#   scripts/fetch-model.sh --force NAME      replace an existing copy
#
# Files come from https://huggingface.co/timm/NAME/resolve/main/{config.json,model.safetensors}
# (VITVK_HF_BASE overrides https://huggingface.co, e.g. a mirror; HF_TOKEN, if set, is sent for gated repos).
# The model appears all at once: both files are downloaded into a temporary folder beside the destination and
# checked, and the folder is then renamed into place, so an interrupted download never leaves a half model.
# timm's hub config.json has no label_names: vitvk names the classes from the ImageNet label set the checkpoint
# was trained on (by class count and tag; `vitvk info -m NAME` says which), else "class N".
set -euo pipefail

usage() { echo "usage: $0 [--force] MODEL_NAME   (e.g. vit_tiny_patch16_224.augreg_in21k_ft_in1k)" >&2; exit 1; }

force=0
name=""
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h|--help) usage ;;
    -*) echo "fetch-model: unknown option $a" >&2; usage ;;
    *) [[ -z "$name" ]] || usage; name="$a" ;;
  esac
done
[[ -n "$name" ]] || usage
# A hub repo name: letters, digits, '.', '_', '-' only (no paths, no "..").
if [[ ! "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ || "$name" == *..* ]]; then
  echo "fetch-model: '$name' is not a model name (letters, digits, '.', '_', '-')" >&2
  exit 1
fi
command -v curl >/dev/null || { echo "fetch-model: curl is not installed" >&2; exit 1; }

if [[ -n "${XDG_CACHE_HOME:-}" && "${XDG_CACHE_HOME}" == /* ]]; then
  cache="$XDG_CACHE_HOME/vitvk/models"
elif [[ -n "${HOME:-}" ]]; then
  cache="$HOME/.cache/vitvk/models"
else
  echo "fetch-model: neither XDG_CACHE_HOME nor HOME is set; cannot find the model cache" >&2
  exit 1
fi
dest="$cache/$name"
if [[ -e "$dest" && $force -eq 0 ]]; then
  echo "fetch-model: $dest already exists (use --force to download it again)" >&2
  exit 1
fi

base="${VITVK_HF_BASE:-https://huggingface.co}"
url="$base/timm/$name/resolve/main"
mkdir -p "$cache"
tmp="$(mktemp -d "$cache/.$name.tmp-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

auth=()
[[ -n "${HF_TOKEN:-}" ]] && auth=(-H "Authorization: Bearer $HF_TOKEN")

fetch() {  # fetch FILE: $url/FILE -> $tmp/FILE, failing with a reason
  local file="$1" rc=0
  echo "fetch-model: downloading $url/$file" >&2
  curl --fail --location --silent --show-error --connect-timeout 15 --retry 2 \
       ${auth[@]+"${auth[@]}"} -o "$tmp/$file" "$url/$file" || rc=$?
  case $rc in
    0) ;;
    5|6|7|28|35) echo "fetch-model: cannot reach $base (offline? curl exit $rc); nothing was changed" >&2; exit 1 ;;
    18) echo "fetch-model: the transfer of $url/$file was interrupted (curl exit 18); nothing was changed" >&2; exit 1 ;;
    22) echo "fetch-model: $url/$file was refused (not found or gated; check the name at $base/timm)" >&2; exit 1 ;;
    *) echo "fetch-model: downloading $url/$file failed (curl exit $rc)" >&2; exit 1 ;;
  esac
}

fetch config.json
fetch model.safetensors

# Cheap sanity checks before anything becomes visible: JSON object with an architecture; safetensors starts
# with an 8-byte little-endian header length followed by '{'.
grep -q '"architecture"' "$tmp/config.json" || { echo "fetch-model: $url/config.json is not a timm config" >&2; exit 1; }
size=$(stat -c %s "$tmp/model.safetensors")
if (( size < 10 )) || [[ "$(dd if="$tmp/model.safetensors" bs=1 skip=8 count=1 2>/dev/null)" != "{" ]]; then
  echo "fetch-model: $url/model.safetensors is not a safetensors file" >&2
  exit 1
fi

if [[ -e "$dest" ]]; then  # --force: swap, then drop the old copy
  old="$(mktemp -d "$cache/.$name.old-XXXXXX")"
  mv "$dest" "$old/"
  mv "$tmp" "$dest"
  rm -rf "$old"
else
  mv "$tmp" "$dest"
fi
trap - EXIT
chmod 755 "$dest"
echo "fetch-model: $name -> $dest ($size bytes of weights)" >&2
echo "$dest"
