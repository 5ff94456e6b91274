#!/usr/bin/python3
"""timm ViT zoo goldens for tests/model/test_vit_zoo.cpp (run with /usr/bin/python3: Debian's torch 1.13 and
torchvision 0.14; timm itself from ../shared/timm).

For each family: timm.create_model(<real architecture name>, pretrained=False, <small widths>), every parameter
randomised with a fixed seed, saved under timm's state_dict names (hub layout) as F32 safetensors with a hub-style
config.json; timm's eval transform of two photos from samples/images; timm's logits, pre-logits features and
per-layer attention probabilities. Also F16/BF16 copies of one model, and malformed variants vitvk must refuse.
Writes tests/data/zoo/ (see its README.md for the layout and the timm semantics) and tests/data/zoo/manifest.json.

Deterministic: running it twice gives identical bytes (one torch thread, seeds from the case names).
"""
import json

import torch

# golden_common first: it puts ../shared/timm on sys.path.
from golden_common import (ROOT, TimmInputs, at_size, case_entry, clear_top1_model, create_model, golden_configs,
                           hub_config, malformed_entry, random_model, run_timm, save_safetensors, seed_of,
                           setup_torch, write_arrays, write_configs, write_f32, write_manifest)
from timm.models.vision_transformer import checkpoint_filter_fn

OUT = ROOT / "tests" / "data" / "zoo"

setup_torch()
timm_input = TimmInputs(OUT)


# ---------------------------------------------------------------------------------------------------------------
# The families. size: timm kwargs for the small widths (the tensors tell all of them but num_heads);
# switches: the family's own switches, spelt out as timm kwargs for config_model_args.json (timm's registration
# sets them from the name already; the script checks that create_model(arch, **model_args) is the same model);
# extra: kwargs that are NOT implied by the name (then config.json itself carries them in model_args).
# hub: config.json has no model_args (heads then come from the name); also_model_args: write
# config_model_args.json too. sizes: the input sizes to make goldens at (the first is the checkpoint's).
# ---------------------------------------------------------------------------------------------------------------
def dims(dim, heads, img, depth=2, mlp_ratio=2.0):
    return dict(embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=mlp_ratio, img_size=img)


MODELS = [
    dict(name="vit_augreg", arch="vit_tiny_patch16_224", tag="augreg_in21k_ft_in1k", size=dims(12, 3, 48),
         classes=10, hub=True, switches={}, main=True,
         tests="plain ViT (AugReg): class token, pos_embed over cls + patches, exact GELU, eps 1e-6, token pool",
         inferred=["embed_dim, patch, depth, mlp hidden, classes from the tensors", "heads 3 from 'tiny'"]),
    dict(name="deit", arch="deit_tiny_patch16_224", tag="fb_in1k", size=dims(12, 3, 48), classes=10, hub=True,
         switches={}, main=True, tests="DeiT: as plain ViT, ImageNet mean/std, crop 0.875",
         inferred=["heads 3 from 'tiny'"]),
    dict(name="deit_distilled", arch="deit_tiny_distilled_patch16_224", tag="fb_in1k", size=dims(12, 3, 48),
         classes=10, hub=True, switches={}, main=True,
         tests="distilled DeiT: [cls, dist, patches], logits = (head(cls) + head_dist(dist)) / 2, "
               "pre-logits = (cls + dist) / 2",
         inferred=["distillation token from dist_token / the name", "heads 3 from 'tiny'"]),
    dict(name="deit3", arch="deit3_small_patch16_224", tag="fb_in1k", size=dims(12, 6, 48), classes=10, hub=True,
         also_model_args=True, switches=dict(no_embed_class=True, init_values=1e-6),
         tests="DeiT-III: layer scale (ls1/ls2.gamma), no_embed_class (pos_embed over patches only, cls concatenated "
               "after the add)",
         inferred=["layer scale from blocks.*.ls1.gamma", "no_embed_class from pos_embed length == patches",
                   "heads 6 from 'small'"]),
    dict(name="dinov2", arch="vit_small_patch14_dinov2", tag="lvd142m", size=dims(12, 6, 518), classes=0,
         hub=True, switches=dict(init_values=1e-5), sizes=[70],
         tests="DINOv2 without registers, embedding only (num_classes 0): checkpoint at 518 px (37x37 grid), run at "
               "70 px: pos_embed resampled 37 -> 5 (downsampling, antialiased bicubic) with the class token's row kept",
         inferred=["layer scale from ls1.gamma", "class token inside pos_embed (length 1 + 37*37)",
                   "num_classes 0 from the absent head", "heads 6 from 'small'", "checkpoint grid from pos_embed"]),
    dict(name="dinov2_reg4", arch="vit_small_patch14_reg4_dinov2", tag="lvd142m", size=dims(12, 6, 56), classes=10,
         hub=True, also_model_args=True, switches=dict(init_values=1e-5, reg_tokens=4, no_embed_class=True),
         sizes=[56, 70],
         tests="DINOv2 with 4 registers: [cls, reg x4, patches], no_embed_class, layer scale; also run at 70 px: "
               "pos_embed (patches only) resampled 4x4 -> 5x5 (upsampling)",
         inferred=["4 registers from reg_token [1, 4, D]", "no_embed_class from pos_embed length == patches",
                   "layer scale from ls1.gamma", "heads 6 from 'small'"]),
    dict(name="clip_laion", arch="vit_base_patch16_clip_224", tag="laion2b_ft_in1k", size=dims(24, 12, 48),
         classes=10, hub=True, switches=dict(pre_norm=True),
         tests="CLIP (laion, fine-tuned): norm_pre after the position embedding, patch embedding without bias, "
               "LayerNorm eps 1e-5, exact GELU, OpenAI CLIP mean/std, crop 1.0",
         inferred=["norm_pre from norm_pre.weight", "no patch-embed bias from its absence",
                   "eps 1e-5 from '_clip_'", "heads 12 from 'base'"]),
    dict(name="clip_tower", arch="vit_base_patch16_clip_224", tag="laion2b", size=dims(24, 12, 48), classes=0,
         hub=True, switches=dict(pre_norm=True),
         tests="CLIP image tower without classifier (num_classes 0): embeddings only",
         inferred=["num_classes 0 from the absent head", "eps 1e-5 from '_clip_'", "heads 12 from 'base'"]),
    dict(name="clip_openai", arch="vit_base_patch16_clip_quickgelu_224", tag="openai", size=dims(24, 12, 48),
         classes=16, hub=True, also_model_args=True, switches=dict(pre_norm=True, act_layer="quick_gelu"),
         tests="OpenAI CLIP: quick_gelu (x * sigmoid(1.702 x)), norm_pre, eps 1e-5, 16-way projection head",
         inferred=["quick_gelu from '_quickgelu_'", "eps 1e-5 from '_clip_'", "norm_pre from norm_pre.weight",
                   "heads 12 from 'base'"]),
    dict(name="siglip", arch="vit_base_patch16_siglip_224", tag="webli", size=dims(24, 12, 48), classes=10,
         hub=True, also_model_args=True, switches=dict(class_token=False, global_pool="map"),
         tests="SigLIP: no class token, map head (attn_pool latent query, multi-head attention over the normed "
               "tokens, proj, + mlp(norm(.)) residual), exact GELU, mean/std 0.5",
         inferred=["no class token from the absent cls_token", "map pool from attn_pool.* (and global_pool)",
                   "heads 12 from 'base' (the pool's too)"]),
    dict(name="siglip_gap", arch="vit_base_patch16_siglip_gap_224", tag="webli", size=dims(24, 12, 48), classes=10,
         hub=True, switches=dict(class_token=False, global_pool="avg", fc_norm=False),
         tests="SigLIP gap: no class token, final norm on all tokens then the mean (fc_norm=False)",
         inferred=["avg pool from global_pool / no cls_token", "norm before the pool from norm.weight (no fc_norm)",
                   "heads 12 from 'base'"]),
    dict(name="siglip_gap_tanh", arch="vit_base_patch16_siglip_gap_224", tag="webli", size=dims(12, 2, 48),
         classes=10, hub=False, switches=dict(class_token=False, global_pool="avg", fc_norm=False),
         extra=dict(act_layer="gelu_tanh"),
         tests="tanh-approximated GELU given by model_args.act_layer (as the siglip_256/so400m names set it)",
         inferred=["heads from model_args"]),
    dict(name="medium_gap", arch="vit_medium_patch16_gap_256", tag="sw_in12k_ft_in1k", size=dims(16, 8, 48),
         classes=10, hub=True,
         switches=dict(class_token=False, global_pool="avg", qkv_bias=False, init_values=1e-6, fc_norm=False),
         tests="ViT-Medium gap: no class token, qkv without bias, layer scale, final norm then mean over patches, "
               "crop 0.95",
         inferred=["no qkv bias from its absence", "layer scale", "norm before pool (norm.weight, no fc_norm)",
                   "heads 8 from 'medium' (NOT in heads_from_architecture today)"]),
    dict(name="betwixt_reg4_gap", arch="vit_betwixt_patch16_reg4_gap_256", tag="sbb_in1k", size=dims(20, 10, 48),
         classes=10, hub=True,
         switches=dict(init_values=1e-5, class_token=False, no_embed_class=True, reg_tokens=4, global_pool="avg"),
         tests="ViT-Betwixt reg4 gap: 4 registers and no class token, no_embed_class, layer scale, mean over the "
               "patch tokens only (registers excluded), fc_norm after the pool (no final norm)",
         inferred=["4 registers from reg_token", "fc_norm after the pool from fc_norm.weight (no norm.weight)",
                   "heads 10 from 'betwixt' (NOT in heads_from_architecture today)"]),
    dict(name="qknorm", arch="vit_small_patch16_224", tag="augreg_in21k_ft_in1k", size=dims(16, 2, 48), classes=10,
         hub=False, switches={}, extra=dict(qk_norm=True, qkv_bias=False),
         tests="qk_norm=True (LayerNorm over head_dim on q and k before scaling), qkv_bias=False",
         inferred=["q_norm / k_norm from attn.q_norm.weight [head_dim]", "no qkv bias from its absence"]),
]

# randomize's scales of the ViT's own parameters: layer scales ~1 +- 0.3, tokens and the map pool's latent ~N(0, 1),
# pos_embed ~N(0, 0.25).
SCALES = {"gamma": (1.0, 0.3), "cls_token": (0.0, 1.0), "reg_token": (0.0, 1.0), "dist_token": (0.0, 1.0),
          "attn_pool.latent": (0.0, 1.0), "pos_embed": (0.0, 0.5)}


# ---------------------------------------------------------------------------------------------------------------
def rel(path):
    return str(path.relative_to(OUT))


def create(spec, img):
    """The case's model at img px: its small widths and the kwargs its name does not imply."""
    return create_model(spec["arch"], img, spec["classes"], **{**spec["size"], **spec.get("extra", {})})


def run_timm_with_pool(model, x):
    """run_timm's outputs and the map pool's attention (None without one): its latent query's probabilities over the
    tokens it sees, [B, heads, 1, N]."""
    pool_in = []
    hook = None
    if model.attn_pool is not None:
        hook = model.attn_pool.register_forward_pre_hook(lambda m, i: pool_in.append(i[0].detach().clone()))
    out, feats, probs = run_timm(model, x)
    if hook is not None:
        hook.remove()
    pool_attn = None
    if pool_in:
        ap, t = model.attn_pool, pool_in[0]
        B, N, C = t.shape
        with torch.no_grad():
            q = ap.q(ap.latent.expand(B, -1, -1)).reshape(B, ap.latent_len, ap.num_heads, ap.head_dim).transpose(1, 2)
            k = ap.kv(t).reshape(B, N, 2, ap.num_heads, ap.head_dim).permute(2, 0, 3, 1, 4)[0]
            q, k = ap.q_norm(q), ap.k_norm(k)
            pool_attn = ((q * ap.scale) @ k.transpose(-2, -1)).softmax(-1)  # [B, heads, 1, N]
    return out, feats, probs, pool_attn


def write_golden(gdir, model, inputs, spec, case_name, img_override, inferred, config_file, given, heads_from_name,
                 status, tests):
    out, feats, probs, pool_attn = run_timm_with_pool(model, inputs[0])
    if spec["classes"] == 0:
        assert torch.equal(out, feats)
    exp = write_arrays(gdir, OUT, {"logits": out if spec["classes"] > 0 else None, "features": feats, "attn": probs,
                                   "attn_pool": pool_attn})
    if spec["classes"] > 0:
        exp["top1"] = out.argmax(-1).tolist()
    case = case_entry(case_name, spec["dir"], config_file, spec, tests, status, img_override, model, inputs, exp)
    return dict(case, inferred=inferred, model_args_given=given, heads_from_name=heads_from_name)


SUPPORTED = "supported"  # every case's status: vitvk runs them all (tests/model/test_vit_zoo.cpp)


def resized(spec, sd, model, img, ckpt_img):
    """(model at img, its input): timm's route for another size, the checkpoint through checkpoint_filter_fn."""
    model = at_size(model, sd, img, ckpt_img, lambda size: create(spec, size), checkpoint_filter_fn)
    return model, timm_input(model)[0]


def make_model(spec, cases):
    spec["dir"] = spec["name"]
    d = OUT / spec["dir"]
    d.mkdir(parents=True, exist_ok=True)
    sizes = spec.get("sizes", [spec["size"]["img_size"]])
    ckpt_img = spec["size"]["img_size"]
    seed, model, sd = clear_top1_model(
        spec["name"], lambda: create(spec, ckpt_img), SCALES,
        lambda model, sd: () if spec["classes"] == 0 else (resized(spec, sd, model, img, ckpt_img) for img in sizes))
    spec["seed"] = seed
    save_safetensors(d / "model.safetensors", sd)
    # config.json: hub layout (no model_args) or with only the kwargs the name does not imply.
    configs = write_configs(d, spec, model, sd, ckpt_img)

    heads_from_name = None if not spec["hub"] else spec["size"]["num_heads"]
    status = SUPPORTED
    for img in sizes:
        m, _ = resized(spec, sd, model, img, ckpt_img)
        inputs = timm_input(m)
        # The img-size override is tested with the hub config only (model_args.img_size names the checkpoint's).
        for cfg_file, given, suffix in golden_configs(configs, img, ckpt_img):
            tests = spec["tests"]
            if img != ckpt_img:
                tests = (f"img-size override: checkpoint at {ckpt_img} px run at {img} px, pos_embed resampled by "
                         f"timm's checkpoint_filter_fn; " + tests)
            inferred = spec["inferred"] if given is None else ["switches from model_args"] + [
                s for s in spec["inferred"] if "from the tensors" in s]
            cases.append(write_golden(d / f"golden_{img}", m, inputs, spec, spec["name"] + suffix,
                                      None if img == ckpt_img else img, inferred, cfg_file, given,
                                      heads_from_name if given is None or "num_heads" not in given else None,
                                      status, tests))
    return model, sd


def make_low_precision(spec, sd, cases, dtype):
    """The same model with F16 / BF16 tensors; timm's goldens are recomputed with the rounded weights."""
    name = f"{spec['name']}_{dtype.lower()}"
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    save_safetensors(d / "model.safetensors", sd, dtype)
    tdt = torch.float16 if dtype == "F16" else torch.bfloat16
    rounded = {k: v.to(tdt).to(torch.float32) for k, v in sd.items()}
    model = create(spec, spec["size"]["img_size"])
    model.load_state_dict(rounded)
    (d / "config.json").write_text(hub_config(model, spec["arch"], spec["classes"], spec["size"]["img_size"]))
    s = dict(spec, dir=name, name=name)
    cases.append(write_golden(d / f"golden_{spec['size']['img_size']}", model, timm_input(model), s, name, None,
                              spec["inferred"], "config.json", None, spec["size"]["num_heads"], SUPPORTED,
                              f"{dtype} safetensors of the plain ViT (timm's reference with the rounded weights)"))


# ---------------------------------------------------------------------------------------------------------------
# Malformed variants: a good small model with one thing broken; vitvk must refuse each at load with an Error whose
# message names the problem (error_contains: every string must appear; error_any: at least one of them).
# ---------------------------------------------------------------------------------------------------------------
def make_malformed(cases):
    def base(name, arch, tag, extra, classes=10, img=48, heads=3):
        spec = dict(name=name, arch=arch, tag=tag, size=dims(12, heads, img), classes=classes, extra=extra)
        return (spec, *random_model(lambda: create(spec, img), seed_of(name), SCALES))

    def write(name, spec, model, sd, model_args, what, contains, any_of, status, global_pool=None):
        d = OUT / "malformed" / name
        save_safetensors(d / "model.safetensors", sd)
        cfg = json.loads(hub_config(model, spec["arch"], spec["classes"], spec["size"]["img_size"], model_args))
        if global_pool:
            cfg["global_pool"] = global_pool
        (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        cases.append(malformed_entry(name, rel(d), spec["arch"], what, status, contains, any_of))

    # 1. Register count not matching pos_embed: built with 4 registers (pos_embed covers cls + 4 reg + 9 patches =
    #    14 rows), reg_token then cut to 2: 1 + 2 + 9 = 12 != 14, and 14 is no patch grid either.
    spec, m, sd = base("reg_count", "vit_small_patch16_224", "augreg_in21k_ft_in1k", dict(reg_tokens=4), heads=6)
    sd["reg_token"] = sd["reg_token"][:, :2].clone()
    write("reg_count", spec, m, sd, None,
          "reg_token has 2 registers but pos_embed has rows for cls + 4 registers + 9 patches",
          ["pos_embed"], ["reg", "register", "prefix"], SUPPORTED)
    # 2. attn_pool tensors with a token pool: a class-token model with a map head, config says global_pool token.
    spec, m, sd = base("attn_pool_token", "vit_small_patch16_224", "augreg_in21k_ft_in1k", dict(global_pool="map"),
                       heads=6)
    write("attn_pool_token", spec, m, sd, None, "attn_pool.* tensors present but global_pool is 'token'",
          ["attn_pool"], [], SUPPORTED, global_pool="token")
    # 3. Layer scale on some blocks only: DeiT-III with block 1's ls1/ls2 removed.
    spec, m, sd = base("layer_scale_partial", "deit3_small_patch16_224", "fb_in1k", {}, heads=6)
    del sd["blocks.1.ls1.gamma"], sd["blocks.1.ls2.gamma"]
    write("layer_scale_partial", spec, m, sd, None, "blocks.0 has ls1/ls2.gamma, blocks.1 has none",
          [], ["blocks.1", "layer scale", "ls1"], SUPPORTED)
    # 4. A pos_embed that fits no grid: a plain ViT whose pos_embed has 12 rows (1 + 11; neither 12 nor 11 square).
    spec, m, sd = base("pos_embed_grid", "vit_tiny_patch16_224", "augreg_in21k_ft_in1k", {}, heads=3)
    sd["pos_embed"] = torch.cat([sd["pos_embed"], sd["pos_embed"][:, 1:3]], dim=1).clone()
    write("pos_embed_grid", spec, m, sd, None, "pos_embed has 12 rows: 1 + 11 patches, no square grid",
          ["pos_embed"], [], SUPPORTED)


def make_pos_resample():
    """timm's resample_abs_pos_embed alone at the real DINOv2 sizes, 518 <-> 224 px at patch 14 (37x37 <-> 16x16),
    D = 4: for a unit test of the resampling op (the end-to-end cases run small grids to keep the inputs small)."""
    from timm.layers import resample_abs_pos_embed
    g = torch.Generator().manual_seed(14)
    out = []
    for name, old, new, prefix in (("down_37_16_prefix1", 37, 16, 1), ("up_16_37_prefix0", 16, 37, 0),
                                    ("down_37_5_prefix1", 37, 5, 1), ("up_4_5_prefix0", 4, 5, 0)):
        src = torch.randn(1, prefix + old * old, 4, generator=g)
        dst = resample_abs_pos_embed(src, new_size=[new, new], num_prefix_tokens=prefix, interpolation="bicubic",
                                     antialias=True)
        d = OUT / "pos_resample"
        write_f32(d / f"{name}.in.f32", src)
        write_f32(d / f"{name}.out.f32", dst)
        out.append({"name": name, "old_grid": old, "new_grid": new, "num_prefix_tokens": prefix, "dim": 4,
                    "input": rel(d / f"{name}.in.f32"), "input_shape": list(src.shape),
                    "expected": rel(d / f"{name}.out.f32"), "expected_shape": list(dst.shape), "tolerance_abs": 1e-4,
                    "call": "resample_abs_pos_embed(v, new_size=[new, new], num_prefix_tokens=prefix, "
                            "interpolation='bicubic', antialias=True)"})
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    main_spec = main_sd = None
    for spec in MODELS:
        _, sd = make_model(spec, cases)
        if spec.get("main"):
            if main_spec is None:
                main_spec, main_sd = spec, sd
    for dtype in ("F16", "BF16"):
        make_low_precision(main_spec, main_sd, cases, dtype)
    make_malformed(cases)
    write_manifest(OUT, __file__, {
        "layout": "float32 little-endian row-major; attn [depth, batch, 3, tokens, tokens]: mean, max, min over "
                  "the heads of the softmax probabilities (vitvk's explain layout); attn_pool [batch, heads, 1, tokens after the prefix drop]; paths "
                  "relative to tests/data/zoo; photos relative to the repository root",
        "status": "supported: vitvk runs the case (tests/model/test_vit_zoo.cpp)",
        "cases": cases,
        "pos_embed_resample": make_pos_resample(),
    })
    for c in cases:
        print(f"{c['name']:36s} {c['status']:12s} {c.get('tests', '')[:70]}")


if __name__ == "__main__":
    main()
