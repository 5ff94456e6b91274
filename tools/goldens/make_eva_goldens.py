#!/usr/bin/python3
"""timm EVA-02 goldens for tests/model/test_eva.cpp (run with /usr/bin/python3: Debian's torch 1.13 and
torchvision 0.14; timm itself from ../shared/timm).

For each layout of timm's eva.py as the eva02_* names register it: timm.create_model(<real eva02 name>,
pretrained=False, <small widths>), every parameter randomised with a fixed seed, saved under timm's state_dict
names as F32 safetensors with a hub-style config.json; timm's eval transform of two photos from samples/images;
timm's logits, pre-logits features and per-layer attention probabilities. Also the same checkpoints run at
another input size (timm's route: create_model(img_size=N) + eva's checkpoint_filter_fn, which resamples
pos_embed; the rotary tables are built for the new grid), and malformed variants vitvk must refuse.
Writes tests/data/eva/ in the manifest layout of tests/data/zoo (see tests/data/eva/README.md).

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
import timm.layers  # noqa: E402
from timm.data import create_transform, resolve_data_config  # noqa: E402
from timm.models.eva import checkpoint_filter_fn  # noqa: E402

OUT = ROOT / "tests" / "data" / "eva"
PHOTOS = ["samples/images/chelsea.jpg", "samples/images/astronaut.jpg"]
MIN_GAP = 0.1

torch.set_num_threads(1)
timm.layers.set_fused_attn(False)  # the probabilities must pass attn_drop (torch 1.13 has no SDPA anyway)


# ---------------------------------------------------------------------------------------------------------------
# The cases. size: timm kwargs for the small widths; extra: kwargs the name does not imply, which the tensors
# tell (init_values) or model_args states (hub=False); sizes: input sizes for goldens (the first is the
# checkpoint's). Patch 14 as the names say; 42 px = a 3x3 grid (odd), 56 px = 4x4.
# ---------------------------------------------------------------------------------------------------------------
def dims(dim, depth, img, heads=None):
    d = dict(embed_dim=dim, depth=depth, img_size=img)
    if heads is not None:
        d["num_heads"] = heads
    return d


CASES = [
    dict(name="eva02_tiny", arch="eva02_tiny_patch14_224", tag="mim_in22k", size=dims(24, 2, 42), classes=10,
         hub=True, sizes=[42, 56],
         tests="EVA-02 Tiny layout from a hub config (no model_args): fused attn.qkv with q_bias / v_bias and no k "
               "bias, rope on q/k of the patch tokens (3 heads of 8: two bands per axis, ref grid 16x16 from the "
               "name), packed SwiGLU (GluMlp fc1 [2h, D], gate first), mean of the patch tokens + fc_norm",
         inferred=["heads 3 from 'tiny'", "fused qkv + q/v bias from attn.qkv / attn.q_bias", "packed SwiGLU from "
                   "mlp.fc1 [2h, D]", "avg pool + fc_norm (Eva's default, fc_norm.weight)", "rope + ref 16x16 from "
                   "the eva02 name"]),
    dict(name="eva02_small", arch="eva02_small_patch14_224", tag="mim_in22k", size=dims(24, 1, 42), classes=0,
         hub=True, extra=dict(init_values=0.1), with_rope_table=True,
         tests="EVA-02 Small layout, embedding only (num_classes 0, as the MIM checkpoints): 6 heads of 4 (one band "
               "per axis), layer scale gamma_1 / gamma_2, 3x3 grid; the file also carries timm's rope.pos_embed "
               "buffer (timm's checkpoint filter drops it; vitvk checks it against its own tables)",
         inferred=["heads 6 from 'small'", "layer scale from blocks.*.gamma_1", "num_classes 0 from the absent head"]),
    dict(name="eva02_base", arch="eva02_base_patch14_224", tag="mim_in22k", size=dims(32, 2, 42, heads=4),
         classes=10, hub=False, sizes=[42, 56],
         switches=dict(qkv_fused=False, swiglu_mlp=True, scale_mlp=True, use_rot_pos_emb=True, ref_feat_shape=[16, 16],
                       mlp_ratio=4 * 2 / 3, global_pool="token"),
         tests="EVA-02 Base layout: separate q_proj / k_proj (no bias) / v_proj fused at load, SwiGLU with fc1_g / "
               "fc1_x and its LayerNorm over the hidden width (scale_mlp), token pooling (final norm, no fc_norm) "
               "from model_args, 4 heads of 8",
         inferred=["switches from model_args (checked against the tensors)"]),
]


# ---------------------------------------------------------------------------------------------------------------
def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def randomize(model, seed):
    """Every parameter O(1) random: LayerNorm gains ~1 +- 0.2, biases (q_bias / v_bias too) ~0.1, layer scales
    ~1 +- 0.3, class token ~N(0, 1), pos_embed ~N(0, 0.25), weights ~N(0, 1/fan_in)."""
    g = torch.Generator().manual_seed(seed)
    norms = {n for n, m in model.named_modules() if isinstance(m, nn.LayerNorm)}
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner = name.rsplit(".", 1)[0] if "." in name else ""
            r = torch.randn(p.shape, generator=g)
            if owner in norms and name.endswith(".weight"):
                p.copy_(1.0 + 0.2 * r)
            elif name.endswith(".bias") or name.endswith("_bias"):
                p.copy_(0.1 * r)
            elif name.endswith(".gamma_1") or name.endswith(".gamma_2"):
                p.copy_(1.0 + 0.3 * r)
            elif name in ("cls_token", "reg_token"):
                p.copy_(r)
            elif name == "pos_embed":
                p.copy_(0.5 * r)
            else:
                p.copy_(r / math.sqrt(p[0].numel()))


def save_safetensors(path, tensors, dtype="F32"):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        data = t.numpy().astype("<f4" if dtype == "F32" else "<f2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
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


def create(spec, img):
    kw = dict(spec["size"])
    kw["img_size"] = img
    kw.update(spec.get("extra", {}))
    kw.update(spec.get("switches", {}))
    m = timm.create_model(spec["arch"], pretrained=False, num_classes=spec["classes"],
                          pretrained_cfg_overlay=dict(input_size=(3, img, img)), **kw)
    return m.eval()


def hub_config(spec, model, img, model_args=None):
    cfg = model.pretrained_cfg
    pc = {"input_size": [3, img, img], "interpolation": cfg["interpolation"], "crop_pct": cfg["crop_pct"],
          "crop_mode": cfg.get("crop_mode", "center"), "mean": list(cfg["mean"]), "std": list(cfg["std"]),
          "num_classes": spec["classes"]}
    j = {"architecture": spec["arch"], "num_classes": spec["classes"], "num_features": model.num_features,
         "global_pool": model.global_pool}
    if model_args is not None:
        j["model_args"] = model_args
    j["pretrained_cfg"] = pc
    return json.dumps(j, indent=2) + "\n"


_INPUTS = {}


def timm_input(model):
    """timm's own eval transform of the two photos, shared by every model with the same preprocessing."""
    dc = resolve_data_config({}, model=model)
    key = "{}px_{}_crop{}_{}_mean{}_std{}".format(
        dc["input_size"][1], dc["interpolation"], dc["crop_pct"], dc.get("crop_mode", "center"),
        "-".join(f"{v:.4f}" for v in dc["mean"]), "-".join(f"{v:.4f}" for v in dc["std"]))
    if key not in _INPUTS:
        tf = create_transform(**dc)
        x = torch.stack([tf(Image.open(ROOT / p).convert("RGB")) for p in PHOTOS])
        path = OUT / "inputs" / (key + ".f32")
        write_f32(path, x)
        _INPUTS[key] = (x, rel(path), dc)
    return _INPUTS[key]


def run_timm(model, x):
    """Logits (or the embedding), pre-logits features, per-block attention probabilities."""
    attn, hooks = [], []
    for blk in model.blocks:
        assert not blk.attn.fused_attn
        hooks.append(blk.attn.attn_drop.register_forward_hook(lambda m, i, o: attn.append(o.detach().clone())))
    with torch.no_grad():
        out = model(x)
        feats = model.forward_head(model.forward_features(x), pre_logits=True)
    for h in hooks:
        h.remove()
    probs = torch.stack(attn[:len(model.blocks)])  # [depth, B, heads, T, T]
    # vitvk's explain layout (ForwardResult::attention): [depth, B, 3, T, T] = mean, max, min over the heads.
    return out, feats, torch.stack([probs.mean(2), probs.amax(2), probs.amin(2)], dim=2)


def resized(spec, sd, model, img, ckpt_img):
    """(model at img, its input): timm's route for another size, the checkpoint through eva's filter."""
    if img != ckpt_img:
        model = create(spec, img)
        model.load_state_dict(checkpoint_filter_fn(dict(sd), model))
    return model, timm_input(model)[0]


def top_gap(model_and_input):
    model, x = model_and_input
    with torch.no_grad():
        s = model(x).sort(-1).values
    return float((s[:, -1] - s[:, -2]).min())


def write_golden(gdir, model, x, input_rel, dc, spec, case_name, img_override, config_file, tests):
    out, feats, probs = run_timm(model, x)
    exp = {}
    if spec["classes"] > 0:
        write_f32(gdir / "logits.f32", out)
        exp["logits"] = rel(gdir / "logits.f32")
        exp["logits_shape"] = list(out.shape)
        exp["top1"] = out.argmax(-1).tolist()
    else:
        assert torch.equal(out, feats)
    write_f32(gdir / "features.f32", feats)
    exp["features"] = rel(gdir / "features.f32")
    exp["features_shape"] = list(feats.shape)
    write_f32(gdir / "attn.f32", probs)
    exp["attn"] = rel(gdir / "attn.f32")
    exp["attn_shape"] = list(probs.shape)
    return {
        "name": case_name, "model_dir": spec["name"], "seed": spec["seed"], "config": config_file,
        "arch": spec["arch"], "pretrained_tag": spec["tag"], "tests": tests, "status": "supported",
        "img_size": img_override, "num_classes": spec["classes"],
        "prefix_tokens": int(model.num_prefix_tokens), "global_pool": model.global_pool,
        "input": input_rel, "input_shape": list(x.shape), "photos": PHOTOS,
        "preprocess": {"input_size": list(dc["input_size"]), "interpolation": dc["interpolation"],
                       "crop_pct": dc["crop_pct"], "crop_mode": dc.get("crop_mode", "center"),
                       "mean": list(dc["mean"]), "std": list(dc["std"])},
        "expected": exp,
        "tolerance": {"fp32_rel": 1e-4, "fp16_abs": 5e-2, "attn_abs": 1e-4, "preprocess_abs": 1e-6},
        "inferred": spec["inferred"],
    }


def make_case(spec, cases):
    d = OUT / spec["name"]
    sizes = spec.get("sizes", [spec["size"]["img_size"]])
    ckpt_img = spec["size"]["img_size"]
    # The first seed (from the name) whose top-1 logit leads the second by >= MIN_GAP on both photos at every
    # size: fp16 is checked for the same top-1, which a near tie would make a coin toss.
    for attempt in range(200):
        seed = seed_of(spec["name"]) + attempt
        torch.manual_seed(seed)
        model = create(spec, ckpt_img)
        randomize(model, seed)
        sd = {k: v.clone() for k, v in model.state_dict().items()}
        if spec["classes"] == 0 or all(top_gap(resized(spec, sd, model, img, ckpt_img)) >= MIN_GAP for img in sizes):
            break
    else:
        raise RuntimeError(spec["name"] + ": no seed with a clear top-1")
    spec["seed"] = seed
    saved = dict(sd)
    if spec.get("with_rope_table"):
        assert not any(k.startswith("rope.") for k in sd)  # a non-persistent buffer: not in timm's state_dict
        saved["rope.pos_embed"] = model.rope.pos_embed.clone()
    save_safetensors(d / "model.safetensors", saved)

    model_args = None
    if not spec["hub"]:
        model_args = dict(spec["size"], **spec.get("switches", {}), **spec.get("extra", {}))
        model_args.pop("img_size")  # pretrained_cfg.input_size says it
        # timm itself rebuilds the same model from exactly these model_args: the list of switches is complete.
        twin = timm.create_model(spec["arch"], pretrained=False, num_classes=spec["classes"], img_size=ckpt_img,
                                 **model_args).eval()
        twin.load_state_dict(sd)
        x0 = torch.randn(1, 3, ckpt_img, ckpt_img, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            assert torch.equal(twin(x0), model(x0)), spec["name"]
    (d / "config.json").write_text(hub_config(spec, model, ckpt_img, model_args))

    for img in sizes:
        m, _ = resized(spec, sd, model, img, ckpt_img)
        x, input_rel, dc = timm_input(m)
        tests = spec["tests"]
        if img != ckpt_img:
            tests = (f"img-size override: checkpoint at {ckpt_img} px run at {img} px: pos_embed resampled by eva's "
                     f"checkpoint_filter_fn, rotary tables built for the {img // 14}x{img // 14} grid; " + tests)
        suffix = "" if img == ckpt_img else f"_at{img}"
        cases.append(write_golden(d / f"golden_{img}", m, x, input_rel, dc, spec, spec["name"] + suffix,
                                  None if img == ckpt_img else img, "config.json", tests))


# ---------------------------------------------------------------------------------------------------------------
# Malformed variants: a small good model (12 wide, one block; F16 to keep them small: they never run) with one
# thing broken; vitvk must refuse each at load with an Error whose message names the problem (error_contains:
# every string must appear; error_any: at least one of them).
# ---------------------------------------------------------------------------------------------------------------
def make_malformed(cases):
    def base(name, arch, img=42, **extra):
        spec = dict(name=name, arch=arch, tag="mim_in22k", size=dims(12, 1, img), classes=4, extra=extra)
        torch.manual_seed(seed_of(name))
        m = create(spec, img)
        randomize(m, seed_of(name))
        return spec, m, {k: v.clone() for k, v in m.state_dict().items()}

    def write(name, spec, model, sd, what, contains, any_of, model_args=None):
        d = OUT / "malformed" / name
        save_safetensors(d / "model.safetensors", sd, "F16")
        (d / "config.json").write_text(hub_config(spec, model, spec["size"]["img_size"], model_args))
        cases.append({"name": "malformed_" + name, "model_dir": rel(d), "config": "config.json", "arch": spec["arch"],
                      "tests": what, "status": "supported", "malformed": True, "error_code": "ModelFormat",
                      "error_contains": contains, "error_any": any_of})

    # 1. A fused qkv whose q bias is missing (v_bias present): timm's biases come as a pair.
    spec, m, sd = base("missing_q_bias", "eva02_tiny_patch14_224")
    del sd["blocks.0.attn.q_bias"]
    write("missing_q_bias", spec, m, sd, "blocks.0.attn.v_bias without blocks.0.attn.q_bias",
          ["blocks.0.attn.q_bias"], ["missing"])
    # 2. A rope table of another grid: the 4x4 grid's rope.pos_embed (16 rows) in a 3x3 checkpoint (9 patches).
    spec, m, sd = base("rope_grid", "eva02_tiny_patch14_224")
    other = create(dict(spec, size=dims(12, 1, 56)), 56)
    sd["rope.pos_embed"] = other.rope.pos_embed.clone()
    write("rope_grid", spec, m, sd, "rope.pos_embed holds the 4x4 grid's tables (16 rows) but the patch grid is 3x3",
          ["rope.pos_embed", "3x3"], ["grid", "rows"])
    # 3. A pos_embed that fits no grid: 1 + 11 rows (neither 12 nor 11 is square, 9 patches).
    spec, m, sd = base("pos_embed_grid", "eva02_tiny_patch14_224")
    sd["pos_embed"] = torch.cat([sd["pos_embed"], sd["pos_embed"][:, 1:3]], dim=1).clone()
    write("pos_embed_grid", spec, m, sd, "pos_embed has 12 rows: 1 + 11 patches, no grid", ["pos_embed"], ["grid"])
    # 4. A packed SwiGLU fc1 that is not twice fc2's input: its value half cut short.
    spec, m, sd = base("glu_width", "eva02_tiny_patch14_224")
    h = sd["blocks.0.mlp.fc2.weight"].shape[1]
    sd["blocks.0.mlp.fc1.weight"] = sd["blocks.0.mlp.fc1.weight"][: 2 * h - 4].clone()
    sd["blocks.0.mlp.fc1.bias"] = sd["blocks.0.mlp.fc1.bias"][: 2 * h - 4].clone()
    write("glu_width", spec, m, sd, "mlp.fc1 has 2h - 4 rows for fc2's h inputs", ["blocks.0.mlp.fc1.weight"],
          ["twice", "gate"])
    # 5. Separate projections with a k bias, which EVA never has (timm: k_proj bias=False).
    spec, m, sd = base("k_proj_bias", "eva02_base_patch14_224", qkv_fused=False, scale_mlp=True, num_heads=3)
    sd["blocks.0.attn.k_proj.bias"] = torch.zeros(12)
    write("k_proj_bias", spec, m, sd, "blocks.0.attn.k_proj.bias present", ["blocks.0.attn.k_proj.bias"], [],
          model_args=dict(num_heads=3))
    # 6. scale_mlp's norm on some blocks only: the SwiGLU layout with two blocks, block 1's mlp.norm removed.
    spec = dict(name="mlp_norm_partial", arch="eva02_base_patch14_224", tag="mim_in22k", size=dims(12, 2, 42),
                classes=4, extra=dict(qkv_fused=False, scale_mlp=True, num_heads=3))
    torch.manual_seed(seed_of(spec["name"]))
    m = create(spec, 42)
    randomize(m, seed_of(spec["name"]))
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    del sd["blocks.1.mlp.norm.weight"], sd["blocks.1.mlp.norm.bias"]
    write("mlp_norm_partial", spec, m, sd, "blocks.0 has mlp.norm (scale_mlp), blocks.1 has none",
          ["mlp.norm", "block 1"], [], model_args=dict(num_heads=3))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for spec in CASES:
        make_case(spec, cases)
    make_malformed(cases)
    manifest = {
        "generator": "tools/goldens/make_eva_goldens.py",
        "timm": timm.__version__, "torch": torch.__version__,
        "layout": "float32 little-endian row-major; attn [depth, batch, 3, tokens, tokens]: mean, max, min over "
                  "the heads of the softmax probabilities (vitvk's explain layout); paths relative to "
                  "tests/data/eva; photos relative to the repository root",
        "status": "supported: vitvk runs the case (tests/model/test_eva.cpp)",
        "cases": cases,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for c in cases:
        print(f"{c['name']:30s} {c.get('tests', '')[:90]}")


if __name__ == "__main__":
    main()
