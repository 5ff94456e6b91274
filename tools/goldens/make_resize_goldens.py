#!/usr/bin/python3
"""Writes the image goldens under tests/data/resize/ with Pillow (run with Debian's /usr/bin/python3).

- Synthetic source images (deterministic; gradients, hard edges, 1-px lines, noise, extreme aspect ratios).
- Pillow's Image.resize output for down-, up- and mixed scaling with every filter vitvk implements.
- The whole timm eval transform (torchvision semantics: shorter side to floor(size / crop_pct) with the long
  side truncated, CenterCrop with int(round(...)) offsets and zero padding, ToTensor, Normalize) as float32.
- Decode goldens: JPEGs carrying each EXIF orientation with Pillow's exif_transpose result, a CMYK (Adobe)
  JPEG, a palette PNG with transparency and a grey+alpha PNG, each with Pillow's convert('RGB').

manifest.json lists every case; tests/image/test_resize_goldens.cpp reads it.
Usage: /usr/bin/python3 tools/goldens/make_resize_goldens.py [--out DIR]
"""
import argparse
import json
import math
import os

import numpy as np
from PIL import Image, ImageOps

FILTERS = {
    "bicubic": Image.BICUBIC,
    "bilinear": Image.BILINEAR,
    "lanczos": Image.LANCZOS,
    "hamming": Image.HAMMING,
    "box": Image.BOX,
}


def synth_sources(rng):
    """name -> HxWx3 uint8 array."""
    out = {}
    # 97x61: gradients, a saturated block, 1-px lines and a noise patch (exercises overshoot and clipping).
    h, w = 61, 97
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1).astype(np.uint8)
    a[10:30, 20:45] = [255, 0, 0]
    a[35:50, 60:90] = [0, 0, 0]
    a[:, 5] = 255
    a[40, :] = [0, 255, 255]
    a[::7, 70:] = 0
    a[45:61, 0:25] = rng.integers(0, 256, (16, 25, 3), dtype=np.uint8)
    out["pattern_97x61"] = a
    # 40x72 portrait: 1-px and 2-px checkerboards and a disc.
    h, w = 72, 40
    y, x = np.mgrid[0:h, 0:w]
    b = np.zeros((h, w, 3), np.uint8)
    b[..., 0] = ((x + y) % 2) * 255
    b[..., 1] = (((x // 2) + (y // 2)) % 2) * 255
    b[..., 2] = np.where((x - 20) ** 2 + (y - 40) ** 2 < 150, 230, 20)
    out["checker_40x72"] = b
    # 31x31 uniform noise: the worst case for ringing.
    out["noise_31x31"] = rng.integers(0, 256, (31, 31, 3), dtype=np.uint8)
    # 150x4: extreme aspect ratio.
    c = rng.integers(0, 256, (4, 150, 3), dtype=np.uint8)
    c[:, ::10] = 255
    out["wide_150x4"] = c
    return out


RESIZE_CASES = {
    "pattern_97x61": [(40, 25), (13, 9), (150, 95), (120, 30), (97, 30), (50, 61), (3, 2)],
    "checker_40x72": [(25, 45), (57, 102), (40, 73), (7, 200)],
    "noise_31x31": [(10, 10), (64, 64), (31, 7), (1, 1)],
    "wide_150x4": [(60, 2), (300, 9), (37, 4)],
}
EXTRA_FILTER_CASES = [("pattern_97x61", (40, 25)), ("pattern_97x61", (150, 95)), ("noise_31x31", (10, 10))]

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
HALF = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
# (source, size, crop_pct, interpolation, (mean, std), crop_mode)
TRANSFORM_CASES = [
    ("pattern_97x61", 32, 0.875, "bicubic", IMAGENET, "center"),
    ("pattern_97x61", 24, 0.875, "bicubic", HALF, "center"),     # crop top 1.5 -> 2 (round half to even)
    ("checker_40x72", 32, 0.9, "bilinear", HALF, "center"),
    ("noise_31x31", 32, 1.0, "bicubic", IMAGENET, "center"),     # upscale 31 -> 32
    ("wide_150x4", 16, 1.25, "bicubic", IMAGENET, "center"),     # still smaller than the crop: zero padding
    ("checker_40x72", 16, 0.875, "bicubic", HALF, "squash"),
]


def timm_eval_transform(im, size, crop_pct, interp, mean, std, crop_mode):
    """timm transforms_imagenet_eval for a square size, written out with torchvision's rounding."""
    s = math.floor(size / crop_pct)
    w, h = im.size
    if crop_mode == "squash":
        nw, nh = s, s
    elif w <= h:
        nw, nh = s, int(s * h / w)
    else:
        nw, nh = int(s * w / h), s
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), FILTERS[interp])
    a = np.asarray(im)
    pl = pt = 0
    if size > nw or size > nh:  # torchvision CenterCrop pads with 0 first
        pl, pt = ((size - nw) // 2 if size > nw else 0), ((size - nh) // 2 if size > nh else 0)
        pr, pb = ((size - nw + 1) // 2 if size > nw else 0), ((size - nh + 1) // 2 if size > nh else 0)
        a = np.pad(a, ((pt, pb), (pl, pr), (0, 0)))
    hh, ww = a.shape[:2]
    top, left = int(round((hh - size) / 2.0)), int(round((ww - size) / 2.0))
    a = a[top:top + size, left:left + size]
    x = a.astype(np.float32) / np.float32(255)
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)), (nw, nh, left - pl, top - pt)


def save_png(arr_or_im, path):
    im = arr_or_im if isinstance(arr_or_im, Image.Image) else Image.fromarray(arr_or_im)
    im.save(path, optimize=True)


def decode_goldens(out_dir, rng):
    cases = []
    base = rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)
    base[:4, :6] = [250, 10, 10]  # a corner marker makes every orientation distinct
    src = Image.fromarray(base)
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        name = f"exif_orientation_{o}.jpg"
        src.save(os.path.join(out_dir, name), quality=90, exif=exif.tobytes())
        expected = ImageOps.exif_transpose(Image.open(os.path.join(out_dir, name))).convert("RGB")
        save_png(expected, os.path.join(out_dir, name + ".expected.png"))
        cases.append({"file": name, "expected": name + ".expected.png", "max_abs_diff": 0, "what": f"EXIF orientation {o}"})

    cmyk = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).convert("CMYK")
    cmyk.save(os.path.join(out_dir, "cmyk.jpg"), quality=90)
    save_png(Image.open(os.path.join(out_dir, "cmyk.jpg")).convert("RGB"), os.path.join(out_dir, "cmyk.jpg.expected.png"))
    # OpenCV converts CMYK with (255 - c) * k >> 8 where Pillow divides by 255 with rounding: 1 level apart.
    cases.append({"file": "cmyk.jpg", "expected": "cmyk.jpg.expected.png", "max_abs_diff": 1, "what": "Adobe CMYK JPEG"})

    pal = Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)).quantize(16)
    pal.info["transparency"] = 3
    pal.save(os.path.join(out_dir, "palette_trns.png"), transparency=3)
    save_png(Image.open(os.path.join(out_dir, "palette_trns.png")).convert("RGB"),
             os.path.join(out_dir, "palette_trns.png.expected.png"))
    cases.append({"file": "palette_trns.png", "expected": "palette_trns.png.expected.png", "max_abs_diff": 0,
                  "what": "palette PNG with a transparent index"})

    la = Image.fromarray(rng.integers(0, 256, (7, 10, 2), dtype=np.uint8), "LA")
    la.save(os.path.join(out_dir, "gray_alpha.png"))
    save_png(Image.open(os.path.join(out_dir, "gray_alpha.png")).convert("RGB"),
             os.path.join(out_dir, "gray_alpha.png.expected.png"))
    cases.append({"file": "gray_alpha.png", "expected": "gray_alpha.png.expected.png", "max_abs_diff": 0,
                  "what": "grey + alpha PNG (alpha dropped, not composited)"})
    return cases


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "data", "resize"))
    out_dir = os.path.abspath(ap.parse_args().out)
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20240611)
    sources = synth_sources(rng)
    manifest = {"generator": "tools/goldens/make_resize_goldens.py", "pillow": Image.__version__,
                "resize": [], "transform": [], "decode": []}
    for name, arr in sources.items():
        save_png(arr, os.path.join(out_dir, name + ".png"))

    def add_resize(src, size, filt):
        w, h = size
        out_name = f"{src}__{filt}_{w}x{h}.png"
        save_png(Image.open(os.path.join(out_dir, src + ".png")).resize((w, h), FILTERS[filt]), os.path.join(out_dir, out_name))
        manifest["resize"].append({"source": src + ".png", "width": w, "height": h, "filter": filt, "expected": out_name})

    for src, sizes in RESIZE_CASES.items():
        for size in sizes:
            for filt in ("bicubic", "bilinear"):
                add_resize(src, size, filt)
    for src, size in EXTRA_FILTER_CASES:
        for filt in ("lanczos", "hamming", "box"):
            add_resize(src, size, filt)

    for i, (src, size, crop_pct, interp, (mean, std), mode) in enumerate(TRANSFORM_CASES):
        im = Image.open(os.path.join(out_dir, src + ".png")).convert("RGB")
        x, (rw, rh, cx, cy) = timm_eval_transform(im, size, crop_pct, interp, mean, std, mode)
        out_name = f"transform_{i}_{src}_{size}.f32"
        x.astype("<f4").tofile(os.path.join(out_dir, out_name))
        manifest["transform"].append({"source": src + ".png", "size": size, "crop_pct": crop_pct, "interpolation": interp,
                                      "mean": mean, "std": std, "crop_mode": mode, "expected": out_name,
                                      "resized": [rw, rh], "crop_origin": [cx, cy]})

    manifest["decode"] = decode_goldens(out_dir, rng)
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
    print(f"wrote {len(manifest['resize'])} resize, {len(manifest['transform'])} transform, "
          f"{len(manifest['decode'])} decode goldens to {out_dir} ({total} bytes)")


if __name__ == "__main__":
    main()
