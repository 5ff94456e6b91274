#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/ (committed; rerun to regenerate).

Seeds are tiny but real-shaped: one valid file per format/feature each parser branches on, so the fuzzer starts
from inside every code path instead of having to discover a PNG IHDR or a safetensors header by itself.
Needs Debian's python3-numpy and python3-pil (run with /usr/bin/python3), and heif-enc (libheif-examples).
"""
import io
import json
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent / "corpus"


def out(target, name, data):
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


# ---------- safetensors ----------
DT = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32,
      "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def safetensors(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, arr in tensors:
        b = arr.astype(DT[dtype]).tobytes() if dtype != "BF16" else \
            (arr.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(len(h) + 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def tiny_vit(rng, dtype="F32", distilled=False, dim=4, depth=1, patch=8, img=16, classes=3):
    """The model fuzz_safetensors.cpp's fuzz_config() describes (timm tensor names and shapes)."""
    tokens = (2 if distilled else 1) + (img // patch) ** 2
    t = [("patch_embed.proj.weight", (dim, 3, patch, patch)), ("patch_embed.proj.bias", (dim,)),
         ("cls_token", (1, 1, dim)), ("pos_embed", (1, tokens, dim))]
    if distilled:
        t.append(("dist_token", (1, 1, dim)))
    for i in range(depth):
        p = f"blocks.{i}."
        t += [(p + "norm1.weight", (dim,)), (p + "norm1.bias", (dim,)), (p + "attn.qkv.weight", (3 * dim, dim)),
              (p + "attn.qkv.bias", (3 * dim,)), (p + "attn.proj.weight", (dim, dim)), (p + "attn.proj.bias", (dim,)),
              (p + "norm2.weight", (dim,)), (p + "norm2.bias", (dim,)), (p + "mlp.fc1.weight", (2 * dim, dim)),
              (p + "mlp.fc1.bias", (2 * dim,)), (p + "mlp.fc2.weight", (dim, 2 * dim)), (p + "mlp.fc2.bias", (dim,))]
    t += [("norm.weight", (dim,)), ("norm.bias", (dim,)), ("head.weight", (classes, dim)), ("head.bias", (classes,))]
    if distilled:
        t += [("head_dist.weight", (classes, dim)), ("head_dist.bias", (classes,))]
    return [(n, dtype, rng.standard_normal(s).astype(np.float32)) for n, s in t]


def int8_blocks(tensors, group):
    """tiny_vit's tensors with every block's linear weight as I8 and its `_scale` (per row, or [rows, groups])."""
    res = []
    for name, dtype, arr in tensors:
        if name.startswith("blocks.") and name.endswith(".weight") and arr.ndim == 2:
            g = group or arr.shape[1]
            parts = [arr[:, k:k + g] for k in range(0, arr.shape[1], g)]
            scale = np.stack([np.abs(p).max(axis=1) / 127 for p in parts], axis=1)
            q = np.concatenate([np.round(p / s[:, None]) for p, s in zip(parts, scale.T)], axis=1)
            res += [(name, "I8", q), (name + "_scale", "F32", scale if group else scale[:, 0])]
        else:
            res.append((name, dtype, arr))
    return res


def make_safetensors():
    rng = np.random.default_rng(7)
    out("safetensors", "empty_header", safetensors([]))
    out("safetensors", "metadata_only", safetensors([], {"format": "pt"}))
    out("safetensors", "every_dtype", safetensors(
        [(f"t_{d.lower()}", d, np.arange(6).reshape(2, 3) % 2) for d in list(DT) + ["BF16"]], {"format": "pt"}))
    out("safetensors", "zero_sized", safetensors([("empty", "F32", np.zeros((0, 5))), ("scalar", "F32", np.array(1.5))]))
    out("safetensors", "tiny_vit_f32", safetensors(tiny_vit(rng), {"format": "pt"}))
    out("safetensors", "tiny_deit_distilled_f16", safetensors(tiny_vit(rng, "F16", distilled=True)))
    out("safetensors", "tiny_vit_bf16", safetensors(tiny_vit(rng, "BF16")))
    # int8 (vitvk quantize): the blocks' linear weights as I8 with F32 scales per row, or per row and group of 8
    # inputs (named in the metadata).
    out("safetensors", "tiny_vit_int8", safetensors(int8_blocks(tiny_vit(rng), 0)))
    out("safetensors", "tiny_vit_int8_group8", safetensors(int8_blocks(tiny_vit(rng, dim=8), 8),
                                                           {"vitvk_int8_group": "8"}))


# ---------- config.json ----------
def make_config():
    labels = ["tench", "goldfish", "great white shark"]
    timm = {"architecture": "vit_tiny_patch16_224", "num_classes": 3, "num_features": 192, "global_pool": "token",
            "model_args": {"img_size": 224, "patch_size": 16, "embed_dim": 192, "depth": 12, "num_heads": 3,
                           "class_token": True, "layer_norm_eps": 1e-6},
            "pretrained_cfg": {"tag": "augreg_in21k_ft_in1k", "input_size": [3, 224, 224], "fixed_input_size": True,
                               "interpolation": "bicubic", "crop_pct": 0.9, "crop_mode": "center",
                               "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "num_classes": 3},
            "label_names": labels}
    out("config", "timm_vit_tiny.json", json.dumps(timm, indent=2))
    out("config", "hf_architectures.json", json.dumps(
        {"architectures": ["deit_small_patch16_224"], "num_classes": 3, "label_names": labels,
         "pretrained_cfg": {"input_size": [3, 224, 224], "crop_pct": 0.875, "interpolation": "bilinear",
                            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}))
    out("config", "minimal.json", '{"architecture": "deit_base_distilled_patch16_384"}')
    out("config", "custom_args.json", json.dumps(
        {"architecture": "vit_custom", "model_args": {"img_size": 32, "patch_size": 8, "embed_dim": 24, "depth": 2,
                                                      "num_heads": 2, "num_classes": 10, "global_pool": None},
         "pretrained_cfg": None, "label_names": None}))


# ---------- images ----------
def pattern(w, h, mode="RGB"):
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 37 + y * 11) % 256, (x * 5 + y * 53) % 256, (x * y * 7) % 256], -1).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    return im if mode == "RGB" else im.convert(mode)


def save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def make_images():
    im = pattern(13, 9)
    out("image", "rgb.jpg", save(im, "JPEG", quality=80))
    out("image", "progressive.jpg", save(im, "JPEG", progressive=True))
    out("image", "gray.jpg", save(im.convert("L"), "JPEG"))
    out("image", "cmyk.jpg", save(im.convert("CMYK"), "JPEG"))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    out("image", "exif_rot90.jpg", save(im, "JPEG", exif=exif.tobytes()))
    out("image", "rgb.png", save(im, "PNG"))
    out("image", "rgba.png", save(im.convert("RGBA"), "PNG"))
    out("image", "palette.png", save(im.convert("P"), "PNG", transparency=0))
    out("image", "gray16.png", save(Image.fromarray((np.arange(63).reshape(7, 9) * 1000).astype(np.uint16)), "PNG"))
    out("image", "la.png", save(im.convert("LA"), "PNG"))
    out("image", "rgb.bmp", save(im, "BMP"))
    out("image", "palette.bmp", save(im.convert("P"), "BMP"))
    out("image", "lossy.webp", save(im, "WEBP", quality=50))
    out("image", "lossless.webp", save(im, "WEBP", lossless=True))
    out("image", "alpha.webp", save(im.convert("RGBA"), "WEBP", lossless=True, exact=True))
    out("image", "rgb.tif", save(im, "TIFF"))
    out("image", "lzw.tif", save(im, "TIFF", compression="tiff_lzw"))
    out("image", "gray_raw.tif", save(im.convert("L"), "TIFF", compression="raw"))
    out("image", "rgb.ppm", save(im, "PPM"))
    out("image", "gray.pgm", save(im.convert("L"), "PPM"))
    out("image", "ascii.ppm", "P3\n# comment\n3 2\n255\n" + " ".join(str(v) for v in range(0, 255, 14)) + "\n")
    out("image", "bits.pbm", b"P4\n9 3\n" + bytes([0xA5, 0x80, 0x5A, 0x00, 0xFF, 0x80]))
    out("image", "rgb.pam", b"P7\nWIDTH 3\nHEIGHT 2\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n" + bytes(range(0, 180, 10)))
    out("image", "rgb.pfm", b"PF\n2 2\n-1.0\n" + np.linspace(0, 1, 12, dtype="<f4").tobytes())
    sun = struct.pack(">8I", 0x59A66A95, 3, 2, 24, 18, 1, 0, 0) + bytes(range(0, 18 * 12, 12))
    out("image", "rgb.ras", sun)
    out("image", "flat.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 3\n" + bytes([128, 64, 32, 129] * 6))
    out("image", "rgb.jp2", save(im, "JPEG2000"))
    out("image", "rgb.j2k", save(im, "JPEG2000", no_jp2=True))
    out("image", "anim.gif", save(im, "GIF", save_all=True, append_images=[im.rotate(180)]))
    out("image", "tall_1x40.png", save(pattern(1, 40), "PNG"))


# ---------- HEIF / AVIF ----------
def heif_enc(im, *args):
    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "in.png", Path(d) / "out"
        im.save(src)
        subprocess.run(["heif-enc", *args, "-o", str(dst), str(src)], check=True, capture_output=True)
        return dst.read_bytes()


def iso_boxes(d, pos, end):
    while pos < end:
        size, kind = struct.unpack(">I4s", d[pos:pos + 8])
        yield pos, size, kind
        pos += size


def iso_child(d, parent, kind, header):
    pos, size = parent
    for p, s, k in iso_boxes(d, pos + header, pos + size):
        if k == kind:
            return p, s
    raise ValueError(kind)


def with_transform(heic, box):
    """heif-enc 1.15 writes no irot/imir: adds `box` (a whole irot or imir box) to the primary image's properties.

    Two insertions (an association in 'ipma', the box at the end of 'ipco'); the enclosing boxes grow, and every
    item offset in 'iloc' past them moves (libheif writes 'iloc' version 1, 4-byte offsets, before 'iprp')."""
    d = bytearray(heic)
    meta = iso_child(d, (0, len(d)), b"meta", 0)
    pitm = iso_child(d, meta, b"pitm", 12)
    primary = struct.unpack(">H", d[pitm[0] + 12:pitm[0] + 14])[0]
    iprp = iso_child(d, meta, b"iprp", 12)
    ipco = iso_child(d, iprp, b"ipco", 8)
    ipma = iso_child(d, iprp, b"ipma", 8)
    assert d[ipma[0] + 8] == 0 and d[ipma[0] + 11] & 1 == 0  # version 0, 8-bit associations
    index = sum(1 for _ in iso_boxes(d, ipco[0] + 8, ipco[0] + ipco[1])) + 1
    inserts = []  # (position, bytes, boxes that contain it)
    pos = ipma[0] + 16
    for _ in range(struct.unpack(">I", d[ipma[0] + 12:ipma[0] + 16])[0]):
        item, count = struct.unpack(">HB", d[pos:pos + 3])
        if item == primary:
            d[pos + 2] = count + 1
            inserts.append((pos + 3 + count, bytes([0x80 | index]), [meta, iprp, ipma]))
        pos += 3 + count
    inserts.append((ipco[0] + ipco[1], box, [meta, iprp, ipco]))
    iloc = iso_child(d, meta, b"iloc", 12)
    assert d[iloc[0] + 8] == 1 and d[iloc[0] + 12:iloc[0] + 14] == b"\x44\x40"
    for at, data, parents in sorted(inserts, reverse=True):
        pos = iloc[0] + 16
        for _ in range(struct.unpack(">H", d[iloc[0] + 14:iloc[0] + 16])[0]):  # id, method, dref, base, count
            method, _, base, extents = struct.unpack(">HHIH", d[pos + 2:pos + 12])
            if method & 15 == 0 and base >= at:
                d[pos + 6:pos + 10] = struct.pack(">I", base + len(data))
            elif method & 15 == 0:
                for off in range(pos + 12, pos + 12 + 8 * extents, 8):
                    if base + struct.unpack(">I", d[off:off + 4])[0] >= at:
                        d[off:off + 4] = struct.pack(">I", struct.unpack(">I", d[off:off + 4])[0] + len(data))
            pos += 12 + 8 * extents
        for p, _ in parents:
            d[p:p + 4] = struct.pack(">I", struct.unpack(">I", d[p:p + 4])[0] + len(data))
        d[at:at] = data
    return bytes(d)


def make_heif():
    im = pattern(16, 12)
    out("heif", "rgb.heic", heif_enc(im, "-q", "50"))
    out("heif", "rgb.avif", heif_enc(im, "-q", "50", "--avif"))
    out("heif", "odd_grid.heic", heif_enc(pattern(13, 9), "-q", "50"))  # odd size: a 1x1 'grid' in 'idat'
    out("heif", "odd_grid.avif", heif_enc(pattern(13, 9), "-q", "50", "--avif"))
    out("heif", "alpha.heic", heif_enc(pattern(13, 9, "RGBA"), "-q", "50"))  # an 'auxl' alpha item
    out("heif", "alpha.avif", heif_enc(pattern(13, 9, "RGBA"), "-q", "50", "--avif"))
    out("heif", "thumb.heic", heif_enc(pattern(48, 32), "-q", "30", "-t", "16"))  # a 'thmb' item
    out("heif", "irot90.heic", with_transform(heif_enc(im, "-q", "50"), struct.pack(">I4sB", 9, b"irot", 1)))
    out("heif", "imir.heic", with_transform(heif_enc(im, "-q", "50"), struct.pack(">I4sB", 9, b"imir", 1)))


# ---------- GIF ----------
def lzw_literal(indices, min_code_size=2):
    """An LZW stream that never grows its table: a clear code before every pixel keeps every code 3 bits."""
    clear, end, bits, acc, n, data = 1 << min_code_size, (1 << min_code_size) + 1, min_code_size + 1, 0, 0, bytearray()
    for code in [c for i in indices for c in (clear, i)] + [end]:
        acc |= code << n
        n += bits
        while n >= 8:
            data.append(acc & 255)
            acc >>= 8
            n -= 8
    if n:
        data.append(acc)
    return bytes([min_code_size, len(data)]) + bytes(data) + b"\0"


def make_gif():
    im = pattern(13, 9)
    out("gif", "rgb.gif", save(im, "GIF"))
    out("gif", "interlaced.gif", save(pattern(24, 20), "GIF", interlace=True))
    out("gif", "transparent.gif", save(im.convert("P"), "GIF", transparency=2))
    out("gif", "gray.gif", save(im.convert("L"), "GIF"))
    moved = im.copy()
    moved.paste((255, 0, 0), (3, 2, 7, 5))
    out("gif", "anim_subrect.gif", save(im, "GIF", save_all=True, append_images=[moved]))  # frame 2: a sub-rectangle
    # By hand: a 4x4 screen without a global palette; a graphic control extension (transparent index 1); a 3x2
    # frame at (2, 3) reaching past the screen, with a local 4-colour palette.
    gce = b"\x21\xf9\x04\x01\x00\x00\x01\x00"
    frame = b"\x2c" + struct.pack("<4H", 2, 3, 3, 2) + b"\x81" + bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    out("gif", "local_offset.gif", b"GIF89a" + struct.pack("<2H", 4, 4) + b"\x00\x00\x00" + gce + frame +
        lzw_literal([0, 1, 2, 3, 2, 1]) + b";")


if __name__ == "__main__":
    make_safetensors()
    make_config()
    make_images()
    make_heif()
    make_gif()
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file())
    print(f"{ROOT}: {sum(1 for p in ROOT.rglob('*') if p.is_file())} files, {total} bytes")
