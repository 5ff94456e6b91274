#!/usr/bin/python3
"""timm Swin Transformer v1 goldens for tests/model/test_swin.cpp (run with /usr/bin/python3: Debian's torch 1.13
and torchvision 0.14; timm itself from ../shared/timm).

Each case: timm.create_model(<real architecture name>, pretrained=False, <small widths>), every parameter
randomised with a fixed seed (relative position bias tables, patch-embed norm, merge norms included), saved under
timm's state_dict names (hub layout: head.fc, downsample at the start of stages 1..) as F32 safetensors with a
hub-style config.json; timm's eval transform of two photos; timm's logits and pre-logits features; and, per
stage, the window, shift and feature size timm's blocks run with (the loader must decide the same). Also
malformed variants vitvk must refuse. Writes tests/data/swin/ in the manifest layout of tests/data/zoo.

Deterministic: running it twice gives identical bytes (one torch thread, seeds from the case names).
"""
import json
import math
import pathlib
import struct
import sys
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT.parent / "shared" / "timm"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from PIL import Image  # noqa: E402

import timm  # noqa: E402
from timm.data import create_transform, resolve_data_config  # noqa: E402
from timm.models.swin_transformer import checkpoint_filter_fn  # noqa: E402

OUT = ROOT / "tests" / "data" / "swin"
PHOTOS = ["samples/images/chelsea.jpg", "samples/images/astronaut.jpg"]
torch.set_num_threads(1)


def size(dim, depths, heads, img, mlp_ratio=2.0):
    return dict(embed_dim=dim, depths=depths, num_heads=heads, mlp_ratio=mlp_ratio, img_size=img)


# hub: config.json without model_args (widths and depths from the tensors, heads from the bias tables, the window
# from the name); else model_args spell out the size. sizes: input sizes to make goldens at (first: the
# checkpoint's; the others load the checkpoint through timm's checkpoint_filter_fn at that img_size).
MODELS = [
    dict(name="swin_t_48", arch="swin_tiny_patch4_window7_224", size=size(8, (2, 2, 2), (2, 2, 4), 48), hub=True,
         tests="48 px, window 7: stage 0 (12x12) shifted by 3 and zero-padded to 14x14 (the mask on the padded "
               "map, padded tokens attend with k/v = qkv bias); stages 1 (6x6) and 2 (3x3) smaller than the "
               "window: window clipped to the map, shift 0, bias tables 11x11 and 5x5"),
    dict(name="swin_t_56", arch="swin_tiny_patch4_window7_224", size=size(12, (2, 2), (2, 4), 56), hub=False,
         sizes=[56, 60],
         tests="56 px, window 7 as at 224: stage 0 14x14 = 2x2 windows shifted by 3, stage 1 7x7 = one window, "
               "shift 0; model_args given; also run at 60 px (grid 15: stage 0 padded to 21 with the shift; "
               "stage 1 is 8x8 after the merge's padding while timm decides window 7 / shift 0 from 15 // 2 = 7)"),
    dict(name="swin_b_w12_96", arch="swin_base_patch4_window12_384", size=size(12, (2, 2), (2, 4), 96), hub=True,
         photos=PHOTOS[:1],
         tests="window 12 (swin_base_patch4_window12_384's last stages at small width): stage 0 24x24 = 2x2 "
               "windows shifted by 6, stage 1 12x12 = one window, shift 0; crop_pct 1.0; one photo (the input "
               "is the largest file here)"),
]


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def randomize(model, seed):
    """Every parameter O(1) random: LayerNorm gains ~1 +- 0.2, biases ~0.1, bias tables ~N(0, 1), weights
    ~N(0, 1/fan_in)."""
    g = torch.Generator().manual_seed(seed)
    norms = {n for n, m in model.named_modules() if isinstance(m, nn.LayerNorm)}
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner = name.rsplit(".", 1)[0]
            r = torch.randn(p.shape, generator=g)
            if owner in norms and name.endswith(".weight"):
                p.copy_(1.0 + 0.2 * r)
            elif name.endswith(".bias"):
                p.copy_(0.1 * r)
            elif name.endswith("relative_position_bias_table"):
                p.copy_(r)
            else:
                p.copy_(r / math.sqrt(p[0].numel()))


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_f32(path, t):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def rel(path):
    return str(path.relative_to(OUT))


def create(spec, img, classes=10):
    kw = dict(spec["size"])
    kw["img_size"] = img
    m = timm.create_model(spec["arch"], pretrained=False, num_classes=classes,
                          pretrained_cfg_overlay=dict(input_size=(3, img, img)), **kw)
    return m.eval()


def hub_config(arch, model, img, classes, model_args=None):
    cfg = model.pretrained_cfg
    pc = {"input_size": [3, img, img], "interpolation": cfg["interpolation"], "crop_pct": cfg["crop_pct"],
          "crop_mode": cfg.get("crop_mode", "center"), "mean": list(cfg["mean"]), "std": list(cfg["std"]),
          "num_classes": classes}
    j = {"architecture": arch, "num_classes": classes, "num_features": model.num_features,
         "global_pool": model.global_pool}
    if model_args is not None:
        j["model_args"] = model_args
    j["pretrained_cfg"] = pc
    return json.dumps(j, indent=2) + "\n"


_INPUTS = {}


def timm_input(model, photos=PHOTOS):
    dc = resolve_data_config({}, model=model)
    key = ("" if photos == PHOTOS else f"{len(photos)}photo_") + "{}px_{}_crop{}_{}_mean{}_std{}".format(
        dc["input_size"][1], dc["interpolation"], dc["crop_pct"], dc.get("crop_mode", "center"),
        "-".join(f"{v:.4f}" for v in dc["mean"]), "-".join(f"{v:.4f}" for v in dc["std"]))
    if key not in _INPUTS:
        tf = create_transform(**dc)
        x = torch.stack([tf(Image.open(ROOT / p).convert("RGB")) for p in photos])
        path = OUT / "inputs" / (key + ".f32")
        write_f32(path, x)
        _INPUTS[key] = (x, rel(path), dc)
    return _INPUTS[key]


def stage_plan(model, x):
    """Per stage: the feature map its blocks see (a hook: after the merge's padding) and the window / shift of
    its blocks as timm decided them (shift of the odd blocks; the even ones never shift)."""
    seen, hooks = {}, []
    for i, st in enumerate(model.layers):
        hooks.append(st.blocks.register_forward_pre_hook(lambda m, a, i=i: seen.__setitem__(i, list(a[0].shape[1:3]))))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    plan = []
    for i, st in enumerate(model.layers):
        b = st.blocks[1] if len(st.blocks) > 1 else st.blocks[0]
        assert all(not any(blk.shift_size) for blk in st.blocks[0::2])
        plan.append({"feature": seen[i], "window": list(b.window_size), "shift": list(b.shift_size),
                     "depth": len(st.blocks), "heads": b.attn.num_heads})
    return plan


def resized(spec, sd, model, img, ckpt_img):
    if img != ckpt_img:
        model = create(spec, img)
        model.load_state_dict(checkpoint_filter_fn(dict(sd), model))
    return model, timm_input(model, spec.get("photos", PHOTOS))[0]


def top_gap(model_and_input):
    model, x = model_and_input
    with torch.no_grad():
        s = model(x).sort(-1).values
    return float((s[:, -1] - s[:, -2]).min())


def make_model(spec, cases):
    d = OUT / spec["name"]
    sizes = spec.get("sizes", [spec["size"]["img_size"]])
    ckpt_img = spec["size"]["img_size"]
    # The first seed whose top-1 logit leads the second by >= 0.1 on both photos at every size (fp16 is checked
    # for the same top-1, which a near tie would make a coin toss).
    for attempt in range(200):
        seed = seed_of(spec["name"]) + attempt
        torch.manual_seed(seed)
        model = create(spec, ckpt_img)
        randomize(model, seed)
        sd = {k: v.clone() for k, v in model.state_dict().items()}
        if all(top_gap(resized(spec, sd, model, img, ckpt_img)) >= 0.1 for img in sizes):
            break
    else:
        raise RuntimeError(spec["name"] + ": no seed with a clear top-1")
    save_safetensors(d / "model.safetensors", sd)
    args = None
    if not spec["hub"]:
        args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec["size"].items() if k != "img_size"}
        args["window_size"] = model.layers[0].blocks[0].attn.window_size[0]
    (d / "config.json").write_text(hub_config(spec["arch"], model, ckpt_img, 10, args))
    for img in sizes:
        m, x = resized(spec, sd, model, img, ckpt_img)
        _, input_rel, dc = timm_input(m, spec.get("photos", PHOTOS))
        gdir = d / f"golden_{img}"
        with torch.no_grad():
            out = m(x)
            feats = m.forward_head(m.forward_features(x), pre_logits=True)
        write_f32(gdir / "logits.f32", out)
        write_f32(gdir / "features.f32", feats)
        tests = spec["tests"] if img == ckpt_img else f"img-size override {ckpt_img} -> {img} px; " + spec["tests"]
        cases.append({
            "name": spec["name"] + ("" if img == ckpt_img else f"_at{img}"), "model_dir": spec["name"], "seed": seed,
            "config": "config.json", "arch": spec["arch"], "tests": tests, "status": "supported",
            "img_size": None if img == ckpt_img else img, "num_classes": 10, "model_args_given": args,
            "input": input_rel, "input_shape": list(x.shape), "photos": spec.get("photos", PHOTOS),
            "preprocess": {"input_size": list(dc["input_size"]), "interpolation": dc["interpolation"],
                           "crop_pct": dc["crop_pct"], "crop_mode": dc.get("crop_mode", "center"),
                           "mean": list(dc["mean"]), "std": list(dc["std"])},
            "expected": {"logits": rel(gdir / "logits.f32"), "logits_shape": list(out.shape),
                         "features": rel(gdir / "features.f32"), "features_shape": list(feats.shape),
                         "top1": out.argmax(-1).tolist()},
            "stages": stage_plan(m, x),
            "tolerance": {"fp32_rel": 1e-4, "fp16_abs": 5e-2, "attn_abs": 1e-4, "preprocess_abs": 1e-6},
        })


def make_malformed(cases):
    # Small: 32 px, two stages (8x8 shifted by 3 and padded to 14x14, then 4x4 clipped).
    spec = dict(arch="swin_tiny_patch4_window7_224", size=size(8, (2, 2), (2, 2), 32))

    def base():
        torch.manual_seed(seed_of("malformed"))
        m = create(spec, spec["size"]["img_size"])
        randomize(m, seed_of("malformed"))
        return m, {k: v.clone() for k, v in m.state_dict().items()}

    def write(name, model, sd, model_args, what, contains, any_of):
        d = OUT / "malformed" / name
        save_safetensors(d / "model.safetensors", sd)
        (d / "config.json").write_text(hub_config(spec["arch"], model, spec["size"]["img_size"], 10, model_args))
        cases.append({"name": "malformed_" + name, "model_dir": rel(d), "config": "config.json", "arch": spec["arch"],
                      "tests": what, "status": "supported", "malformed": True, "error_code": "ModelFormat",
                      "error_contains": contains, "error_any": any_of})

    # 1. A bias table of the wrong size: stage 0's shifted block (window 7: 13 x 13 = 169 rows) cut to 11 x 11.
    m, sd = base()
    t = "layers.0.blocks.1.attn.relative_position_bias_table"
    sd[t] = sd[t][:121].clone()
    write("bias_table_size", m, sd, None, "layers.0.blocks.1's relative_position_bias_table has 121 rows, window 7 "
          "needs 13 x 13 = 169", [t, "169"], [])
    # 2. model_args.depths says four stages, the file has three.
    m, sd = base()
    args = {"embed_dim": 8, "depths": [2, 2, 2], "num_heads": [2, 2, 4], "window_size": 7, "mlp_ratio": 2.0}
    write("stage_count", m, sd, args, "model_args.depths has 3 stages, the file 2", ["depths"], ["stage"])
    # 3. model_args.depths says stage 1 has 3 blocks, the file 2.
    m, sd = base()
    args = {"embed_dim": 8, "depths": [2, 3], "num_heads": [2, 2], "window_size": 7, "mlp_ratio": 2.0}
    write("stage_depth", m, sd, args, "model_args.depths says 3 blocks in stage 1, the file has 2", ["depths"],
          ["layers.1", "stage 1"])


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for spec in MODELS:
        make_model(spec, cases)
    make_malformed(cases)
    manifest = {
        "generator": "tools/goldens/make_swin_goldens.py",
        "timm": timm.__version__, "torch": torch.__version__,
        "layout": "float32 little-endian row-major; paths relative to tests/data/swin; photos relative to the "
                  "repository root; stages: per stage the feature map [H, W] its blocks see, the window and the "
                  "shift of its odd blocks as timm decided them",
        "cases": cases,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for c in cases:
        print(f"{c['name']:28s} {c.get('tests', '')[:90]}")


if __name__ == "__main__":
    main()
