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
import torch

# golden_common first: it puts ../shared/timm on sys.path.
from golden_common import (PHOTOS, ROOT, TOLERANCE, TimmInputs, at_size, clear_top1_model, create_model, hub_config,
                           malformed_entry, preprocess, random_model, save_safetensors, seed_of, setup_torch,
                           write_arrays, write_manifest)
from timm.models.swin_transformer import checkpoint_filter_fn

OUT = ROOT / "tests" / "data" / "swin"

setup_torch(attention_hooks=False)
timm_input = TimmInputs(OUT)


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

# randomize's scales of Swin's own parameters: the relative position bias tables ~N(0, 1).
SCALES = {"relative_position_bias_table": (0.0, 1.0)}


def rel(path):
    return str(path.relative_to(OUT))


def create(spec, img, classes=10):
    return create_model(spec["arch"], img, classes, **spec["size"])


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
    model = at_size(model, sd, img, ckpt_img, lambda size: create(spec, size), checkpoint_filter_fn)
    return model, timm_input(model, spec.get("photos", PHOTOS))[0]


def make_model(spec, cases):
    d = OUT / spec["name"]
    sizes = spec.get("sizes", [spec["size"]["img_size"]])
    ckpt_img = spec["size"]["img_size"]
    seed, model, sd = clear_top1_model(spec["name"], lambda: create(spec, ckpt_img), SCALES,
                                       lambda model, sd: (resized(spec, sd, model, img, ckpt_img) for img in sizes))
    save_safetensors(d / "model.safetensors", sd)
    args = None
    if not spec["hub"]:
        args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec["size"].items() if k != "img_size"}
        args["window_size"] = model.layers[0].blocks[0].attn.window_size[0]
    (d / "config.json").write_text(hub_config(model, spec["arch"], 10, ckpt_img, args))
    for img in sizes:
        m, x = resized(spec, sd, model, img, ckpt_img)
        _, input_rel, dc = timm_input(m, spec.get("photos", PHOTOS))
        with torch.no_grad():
            out = m(x)
            feats = m.forward_head(m.forward_features(x), pre_logits=True)
        exp = write_arrays(d / f"golden_{img}", OUT, {"logits": out, "features": feats})
        exp["top1"] = out.argmax(-1).tolist()
        tests = spec["tests"] if img == ckpt_img else f"img-size override {ckpt_img} -> {img} px; " + spec["tests"]
        cases.append({
            "name": spec["name"] + ("" if img == ckpt_img else f"_at{img}"), "model_dir": spec["name"], "seed": seed,
            "config": "config.json", "arch": spec["arch"], "tests": tests, "status": "supported",
            "img_size": None if img == ckpt_img else img, "num_classes": 10, "model_args_given": args,
            "input": input_rel, "input_shape": list(x.shape), "photos": spec.get("photos", PHOTOS),
            "preprocess": preprocess(dc), "expected": exp, "stages": stage_plan(m, x), "tolerance": dict(TOLERANCE),
        })


def make_malformed(cases):
    # Small: 32 px, two stages (8x8 shifted by 3 and padded to 14x14, then 4x4 clipped).
    spec = dict(arch="swin_tiny_patch4_window7_224", size=size(8, (2, 2), (2, 2), 32))

    def base():
        return random_model(lambda: create(spec, spec["size"]["img_size"]), seed_of("malformed"), SCALES)

    def write(name, model, sd, model_args, what, contains, any_of):
        d = OUT / "malformed" / name
        save_safetensors(d / "model.safetensors", sd)
        (d / "config.json").write_text(hub_config(model, spec["arch"], 10, spec["size"]["img_size"], model_args))
        cases.append(malformed_entry(name, rel(d), spec["arch"], what, "supported", contains, any_of))

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
    write_manifest(OUT, __file__, {
        "layout": "float32 little-endian row-major; paths relative to tests/data/swin; photos relative to the "
                  "repository root; stages: per stage the feature map [H, W] its blocks see, the window and the "
                  "shift of its odd blocks as timm decided them",
        "cases": cases,
    })
    for c in cases:
        print(f"{c['name']:28s} {c.get('tests', '')[:90]}")


if __name__ == "__main__":
    main()
