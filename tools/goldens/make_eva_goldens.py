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
import torch

# golden_common first: it puts ../shared/timm on sys.path.
from golden_common import (ROOT, TimmInputs, at_size, case_entry, check_rebuilds, clear_top1_model, create_model,
                           hub_config, malformed_entry, random_model, run_timm, save_safetensors, seed_of, setup_torch,
                           write_arrays, write_manifest)
from timm.models.eva import checkpoint_filter_fn

OUT = ROOT / "tests" / "data" / "eva"

setup_torch()
timm_input = TimmInputs(OUT)


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

# randomize's scales of EVA's own parameters: q_bias / v_bias ~0.1 as the other biases, layer scales ~1 +- 0.3,
# tokens ~N(0, 1), pos_embed ~N(0, 0.25).
SCALES = {"q_bias": (0.0, 0.1), "v_bias": (0.0, 0.1), "gamma_1": (1.0, 0.3), "gamma_2": (1.0, 0.3),
          "cls_token": (0.0, 1.0), "reg_token": (0.0, 1.0), "pos_embed": (0.0, 0.5)}


# ---------------------------------------------------------------------------------------------------------------
def rel(path):
    return str(path.relative_to(OUT))


def create(spec, img):
    """The case's model at img px: its small widths, the kwargs its name does not imply and its switches."""
    return create_model(spec["arch"], img, spec["classes"],
                        **{**spec["size"], **spec.get("extra", {}), **spec.get("switches", {})})


def resized(spec, sd, model, img, ckpt_img):
    """(model at img, its input): timm's route for another size, the checkpoint through eva's filter."""
    model = at_size(model, sd, img, ckpt_img, lambda size: create(spec, size), checkpoint_filter_fn)
    return model, timm_input(model)[0]


def write_golden(gdir, model, inputs, spec, case_name, img_override, tests):
    out, feats, probs = run_timm(model, inputs[0])
    exp = {}
    if spec["classes"] > 0:
        exp = write_arrays(gdir, OUT, {"logits": out})
        exp["top1"] = out.argmax(-1).tolist()
    else:
        assert torch.equal(out, feats)
    exp.update(write_arrays(gdir, OUT, {"features": feats, "attn": probs}))
    case = case_entry(case_name, spec["name"], "config.json", spec, tests, "supported", img_override, model, inputs,
                      exp)
    return dict(case, inferred=spec["inferred"])


def make_case(spec, cases):
    d = OUT / spec["name"]
    sizes = spec.get("sizes", [spec["size"]["img_size"]])
    ckpt_img = spec["size"]["img_size"]
    seed, model, sd = clear_top1_model(
        spec["name"], lambda: create(spec, ckpt_img), SCALES,
        lambda model, sd: () if spec["classes"] == 0 else (resized(spec, sd, model, img, ckpt_img) for img in sizes))
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
        check_rebuilds(model, sd, spec["arch"], spec["classes"], ckpt_img, dict(model_args, img_size=ckpt_img))
    (d / "config.json").write_text(hub_config(model, spec["arch"], spec["classes"], ckpt_img, model_args))

    for img in sizes:
        m, _ = resized(spec, sd, model, img, ckpt_img)
        tests = spec["tests"]
        if img != ckpt_img:
            tests = (f"img-size override: checkpoint at {ckpt_img} px run at {img} px: pos_embed resampled by eva's "
                     f"checkpoint_filter_fn, rotary tables built for the {img // 14}x{img // 14} grid; " + tests)
        suffix = "" if img == ckpt_img else f"_at{img}"
        cases.append(write_golden(d / f"golden_{img}", m, timm_input(m), spec, spec["name"] + suffix,
                                  None if img == ckpt_img else img, tests))


# ---------------------------------------------------------------------------------------------------------------
# Malformed variants: a small good model (12 wide, one block; F16 to keep them small: they never run) with one
# thing broken; vitvk must refuse each at load with an Error whose message names the problem (error_contains:
# every string must appear; error_any: at least one of them).
# ---------------------------------------------------------------------------------------------------------------
def make_malformed(cases):
    def base(name, arch, img=42, depth=1, **extra):
        spec = dict(name=name, arch=arch, tag="mim_in22k", size=dims(12, depth, img), classes=4, extra=extra)
        return (spec, *random_model(lambda: create(spec, img), seed_of(name), SCALES))

    def write(name, spec, model, sd, what, contains, any_of, model_args=None):
        d = OUT / "malformed" / name
        save_safetensors(d / "model.safetensors", sd, "F16")
        (d / "config.json").write_text(hub_config(model, spec["arch"], spec["classes"], spec["size"]["img_size"],
                                                  model_args))
        cases.append(malformed_entry(name, rel(d), spec["arch"], what, "supported", contains, any_of))

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
    spec, m, sd = base("mlp_norm_partial", "eva02_base_patch14_224", depth=2, qkv_fused=False, scale_mlp=True,
                       num_heads=3)
    del sd["blocks.1.mlp.norm.weight"], sd["blocks.1.mlp.norm.bias"]
    write("mlp_norm_partial", spec, m, sd, "blocks.0 has mlp.norm (scale_mlp), blocks.1 has none",
          ["mlp.norm", "block 1"], [], model_args=dict(num_heads=3))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for spec in CASES:
        make_case(spec, cases)
    make_malformed(cases)
    write_manifest(OUT, __file__, {
        "layout": "float32 little-endian row-major; attn [depth, batch, 3, tokens, tokens]: mean, max, min over "
                  "the heads of the softmax probabilities (vitvk's explain layout); paths relative to "
                  "tests/data/eva; photos relative to the repository root",
        "status": "supported: vitvk runs the case (tests/model/test_eva.cpp)",
        "cases": cases,
    })
    for c in cases:
        print(f"{c['name']:30s} {c.get('tests', '')[:90]}")


if __name__ == "__main__":
    main()
