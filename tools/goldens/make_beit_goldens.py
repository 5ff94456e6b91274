#!/usr/bin/python3
"""timm BEiT goldens for tests/model/test_beit.cpp (run with /usr/bin/python3: Debian's torch 1.13; timm itself from
../shared/timm). The layout is tests/data/zoo's (tools/goldens/make_vit_zoo_goldens.py, tests/support/zoo_golden.hpp).

For each case: timm.create_model(<real architecture name>, pretrained=False, <small widths>), EVERY parameter
randomised with a fixed seed (relative position bias tables and layer scales included: a wrong switch must not
hide), saved under timm's state_dict names as F32 safetensors with a hub-style config.json; timm's eval transform
of two photos from samples/images; timm's logits, pre-logits features and per-block attention probabilities
(mean / max / min over the heads). A checkpoint run at another input size goes through timm's own route:
create_model(img_size=N) + beit.checkpoint_filter_fn (resize_rel_pos_bias_table, resample_abs_pos_embed).
Also malformed variants vitvk must refuse. Writes tests/data/beit/ and its manifest.json.

Deterministic: running it twice gives identical bytes (one torch thread, seeds from the case names).
"""
import torch

# golden_common first: it puts ../shared/timm on sys.path.
from golden_common import (ROOT, TimmInputs, at_size, case_entry, clear_top1_model, create_model, golden_configs,
                           hub_config, malformed_entry, random_model, run_timm, save_safetensors, seed_of,
                           setup_torch, write_arrays, write_configs, write_f32, write_manifest)
from timm.models.beit import checkpoint_filter_fn

OUT = ROOT / "tests" / "data" / "beit"

setup_torch()
timm_input = TimmInputs(OUT)


def dims(dim=24, heads=4, img=32, depth=2, patch=8):
    return dict(embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=2.0, img_size=img, patch_size=patch)


# hub: config.json without model_args (every switch from the tensors and the name; heads from the bias tables);
# also_model_args: config_model_args.json with the switches spelt out too; extra: kwargs the name does not imply
# (then config.json carries model_args). sizes: input sizes to make goldens at (the first is the checkpoint's).
MODELS = [
    dict(name="beit_base", arch="beit_base_patch16_224", tag="in22k_ft_in22k_in1k", size=dims(), classes=10, hub=True,
         also_model_args=True,
         switches=dict(use_abs_pos_emb=False, use_rel_pos_bias=True, init_values=0.1), sizes=[32, 48],
         tests="BEiT (beit_base_patch16_224's switches): relative position bias table per block, q/v biases without a "
               "k bias, layer scale gamma_1/gamma_2, no abs pos_embed, mean of the patch tokens + fc_norm, mean/std 0.5; "
               "also at 48 px: every table resized 7x7 -> 11x11 offsets as timm's checkpoint_filter_fn does",
         inferred=["relative position bias per block from blocks.*.attn.relative_position_bias_table",
                   "heads 4 from the tables (the name's 'base' would say 12)", "q/v bias from attn.q_bias / v_bias",
                   "layer scale from gamma_1", "avg pool from fc_norm.weight", "no pos_embed from its absence"]),
    dict(name="beitv2_base", arch="beitv2_base_patch16_224", tag="in1k_ft_in22k_in1k", size=dims(dim=32), classes=10,
         hub=True, switches=dict(use_abs_pos_emb=False, use_rel_pos_bias=True, init_values=1e-5),
         tests="BEiT v2 (beitv2_base_patch16_224's switches, ImageNet mean/std): as BEiT",
         inferred=["as beit_base", "heads 4 from the tables"]),
    # init_values 0, not None: timm's create_model drops None kwargs (the name's 0.1 would stay).
    dict(name="beit_shared_abs", arch="beit_base_patch16_224", tag="in22k_ft_in22k_in1k", size=dims(img=48), classes=10,
         hub=False, switches={},
         extra=dict(use_abs_pos_emb=True, use_rel_pos_bias=True, use_shared_rel_pos_bias=True, init_values=0.0,
                    qkv_bias=False, global_pool="token"),
         sizes=[48, 32],
         tests="BEiT with every other switch: abs pos_embed, a shared relative position bias table added to each "
               "block's own, no layer scale, no q/v bias, class-token pooling after the final norm; also at 32 px: "
               "tables resized 11x11 -> 7x7 offsets (downsampling) and pos_embed resampled 6x6 -> 4x4",
         inferred=["switches from model_args, checked against the tensors"]),
]


# randomize's scales of BEiT's own parameters: q/v biases ~0.5, layer scales ~1 +- 0.3, bias tables and the class
# token ~N(0, 1), pos_embed ~N(0, 0.25).
SCALES = {"q_bias": (0.0, 0.5), "v_bias": (0.0, 0.5), "gamma_1": (1.0, 0.3), "gamma_2": (1.0, 0.3),
          "relative_position_bias_table": (0.0, 1.0), "cls_token": (0.0, 1.0), "pos_embed": (0.0, 0.5)}


def rel(path):
    return str(path.relative_to(OUT))


def create(spec, img):
    """The case's model at img px: its small widths and the kwargs its name does not imply."""
    return create_model(spec["arch"], img, spec["classes"], **{**spec["size"], **spec.get("extra", {})})


def resized(spec, sd, model, img, ckpt_img):
    """(model at img, its input): timm's route for another size, the checkpoint through checkpoint_filter_fn."""
    model = at_size(model, sd, img, ckpt_img, lambda size: create(spec, size), checkpoint_filter_fn)
    return model, timm_input(model)[0]


def write_golden(gdir, model, inputs, spec, case_name, img_override, inferred, config_file, given, tests):
    out, feats, probs = run_timm(model, inputs[0])
    exp = write_arrays(gdir, OUT, {"logits": out, "features": feats, "attn": probs})
    exp["top1"] = out.argmax(-1).tolist()
    case = case_entry(case_name, spec["dir"], config_file, spec, tests, "main", img_override, model, inputs, exp)
    return dict(case, inferred=inferred, model_args_given=given)


def make_model(spec, cases):
    spec["dir"] = spec["name"]
    d = OUT / spec["dir"]
    d.mkdir(parents=True, exist_ok=True)
    ckpt_img = spec["size"]["img_size"]
    sizes = spec.get("sizes", [ckpt_img])
    seed, model, sd = clear_top1_model(spec["name"], lambda: create(spec, ckpt_img), SCALES,
                                       lambda model, sd: (resized(spec, sd, model, img, ckpt_img) for img in sizes))
    spec["seed"] = seed
    save_safetensors(d / "model.safetensors", sd)
    configs = write_configs(d, spec, model, sd, ckpt_img)

    for img in sizes:
        m, _ = resized(spec, sd, model, img, ckpt_img)
        inputs = timm_input(m)
        for cfg_file, given, suffix in golden_configs(configs, img, ckpt_img):
            tests = spec["tests"]
            if img != ckpt_img:
                tests = (f"img-size override: checkpoint at {ckpt_img} px run at {img} px through timm's "
                         f"checkpoint_filter_fn; " + tests)
            inferred = spec["inferred"] if given is None else ["switches from model_args"]
            cases.append(write_golden(d / f"golden_{img}", m, inputs, spec, spec["name"] + suffix,
                                      None if img == ckpt_img else img, inferred, cfg_file, given, tests))


# Malformed variants: a good small model with one thing broken; vitvk must refuse each at load with an Error whose
# message names the problem (error_contains: every string must appear; error_any: at least one of them).
def make_malformed(cases):
    def base(name):
        spec = dict(name=name, arch="beit_base_patch16_224", tag="in22k_ft_in22k_in1k", size=dims(dim=16, heads=2),
                    classes=10)
        return (spec, *random_model(lambda: create(spec, 32), seed_of(name), SCALES))

    def write(name, spec, model, sd, model_args, what, contains, any_of):
        d = OUT / "malformed" / name
        save_safetensors(d / "model.safetensors", sd)
        (d / "config.json").write_text(hub_config(model, spec["arch"], spec["classes"], 32, model_args))
        cases.append(malformed_entry(name, rel(d), spec["arch"], what, "main", contains, any_of))

    # 1. A bias table of the wrong size: block 1's table loses 2 of its 7 * 7 + 3 = 52 rows (50: no grid's).
    spec, m, sd = base("table_size")
    t = "blocks.1.attn.relative_position_bias_table"
    sd[t] = sd[t][2:].clone()
    write("table_size", spec, m, sd, None, "blocks.1's relative_position_bias_table has 50 rows, block 0's 52",
          ["blocks.1.attn.relative_position_bias_table"], ["rows", "grid"])
    # 2. Layer scale on some blocks only: block 1 without gamma_1 / gamma_2.
    spec, m, sd = base("gamma_partial")
    del sd["blocks.1.gamma_1"], sd["blocks.1.gamma_2"]
    write("gamma_partial", spec, m, sd, None, "blocks.0 has gamma_1/gamma_2, blocks.1 has none",
          ["block 1"], ["gamma", "layer scale"])
    # 3. model_args.num_heads disagreeing with the tables' heads (2).
    spec, m, sd = base("heads_args")
    write("heads_args", spec, m, sd, dict(num_heads=4), "model_args.num_heads 4 but the tables have 2 columns",
          ["heads"], ["num_heads", "relative_position_bias_table"])


def make_table_resize():
    """timm's resize_rel_pos_bias_table alone (no scipy: its default), tables of 3 heads: for a unit test."""
    from timm.layers import resize_rel_pos_bias_table
    g = torch.Generator().manual_seed(17)
    out = []
    for name, src, dst in (("up_4_6", 4, (6, 6)), ("down_6_4", 6, (4, 4)), ("up_14_24", 14, (24, 24)),
                           ("nonsquare_4_6x5", 4, (6, 5))):
        table = torch.randn((2 * src - 1) ** 2 + 3, 3, generator=g)
        shape = ((2 * dst[0] - 1) * (2 * dst[1] - 1) + 3, 3)
        res = resize_rel_pos_bias_table(table, new_window_size=dst, new_bias_shape=shape)
        d = OUT / "table_resize"
        write_f32(d / f"{name}.in.f32", table)
        write_f32(d / f"{name}.out.f32", res)
        out.append({"name": name, "heads": 3, "src_side": 2 * src - 1, "dst_h": 2 * dst[0] - 1, "dst_w": 2 * dst[1] - 1,
                    "input": rel(d / f"{name}.in.f32"), "expected": rel(d / f"{name}.out.f32"),
                    "call": "resize_rel_pos_bias_table(table, new_window_size=dst, new_bias_shape=shape)"})
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for spec in MODELS:
        make_model(spec, cases)
    make_malformed(cases)
    write_manifest(OUT, __file__, {
        "layout": "as tests/data/zoo: float32 little-endian row-major; attn [depth, batch, 3, tokens, tokens]: mean, "
                  "max, min over the heads of the softmax probabilities; paths relative to tests/data/beit; photos "
                  "relative to the repository root",
        "cases": cases,
        "table_resize": make_table_resize(),
    })
    for c in cases:
        print(f"{c['name']:36s} {c.get('tests', '')[:80]}")


if __name__ == "__main__":
    main()
