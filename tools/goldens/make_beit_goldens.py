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
from timm.models.beit import checkpoint_filter_fn  # noqa: E402

OUT = ROOT / "tests" / "data" / "beit"
PHOTOS = ["samples/images/chelsea.jpg", "samples/images/astronaut.jpg"]

torch.set_num_threads(1)
timm.layers.set_fused_attn(False)  # the probabilities must pass attn_drop (where the hook reads them)


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


def seed_of(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def randomize(model, seed):
    """Every parameter O(1) random: LayerNorm gains ~1 +- 0.2, biases ~0.1 (q/v biases ~0.5), layer scales
    ~1 +- 0.3, bias tables ~N(0, 1), tokens ~N(0, 1), pos_embed ~N(0, 0.25), weights ~N(0, 1/fan_in)."""
    g = torch.Generator().manual_seed(seed)
    norms = {n for n, m in model.named_modules() if isinstance(m, nn.LayerNorm)}
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner = name.rsplit(".", 1)[0] if "." in name else ""
            r = torch.randn(p.shape, generator=g)
            if owner in norms and name.endswith(".weight"):
                p.copy_(1.0 + 0.2 * r)
            elif name.endswith(("q_bias", "v_bias")):
                p.copy_(0.5 * r)
            elif name.endswith(".bias"):
                p.copy_(0.1 * r)
            elif name.endswith(("gamma_1", "gamma_2")):
                p.copy_(1.0 + 0.3 * r)
            elif name.endswith("relative_position_bias_table") or name == "cls_token":
                p.copy_(r)
            elif name == "pos_embed":
                p.copy_(0.5 * r)
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
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_f32(path, t):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def rel(path):
    return str(path.relative_to(OUT))


def create(spec, img, extra_kwargs=None):
    kw = dict(spec["size"])
    kw["img_size"] = img
    kw.update(spec.get("extra", {}))
    kw.update(extra_kwargs or {})
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
    """Logits, pre-logits features, per-block attention probabilities as [depth, B, 3, T, T] (mean/max/min)."""
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
    probs = torch.stack([probs.mean(2), probs.amax(2), probs.amin(2)], dim=2)
    return out, feats, probs


def write_golden(gdir, model, x, input_rel, dc, spec, case_name, img_override, inferred, config_file, given, tests):
    out, feats, probs = run_timm(model, x)
    write_f32(gdir / "logits.f32", out)
    write_f32(gdir / "features.f32", feats)
    write_f32(gdir / "attn.f32", probs)
    exp = {"logits": rel(gdir / "logits.f32"), "logits_shape": list(out.shape),
           "features": rel(gdir / "features.f32"), "features_shape": list(feats.shape),
           "attn": rel(gdir / "attn.f32"), "attn_shape": list(probs.shape), "top1": out.argmax(-1).tolist()}
    return {
        "name": case_name, "model_dir": spec["dir"], "seed": spec.get("seed"), "config": config_file,
        "arch": spec["arch"], "pretrained_tag": spec["tag"], "tests": tests, "status": "main",
        "img_size": img_override, "num_classes": spec["classes"], "prefix_tokens": 1, "global_pool": model.global_pool,
        "input": input_rel, "input_shape": list(x.shape), "photos": PHOTOS,
        "preprocess": {"input_size": list(dc["input_size"]), "interpolation": dc["interpolation"],
                       "crop_pct": dc["crop_pct"], "crop_mode": dc.get("crop_mode", "center"),
                       "mean": list(dc["mean"]), "std": list(dc["std"])},
        "expected": exp,
        "tolerance": {"fp32_rel": 1e-4, "fp16_abs": 5e-2, "attn_abs": 1e-4, "preprocess_abs": 1e-6},
        "inferred": inferred, "model_args_given": given,
    }


MIN_GAP = 0.1


def resized(spec, sd, model, img, ckpt_img):
    """(model at img, its input): timm's route for another size, the checkpoint through checkpoint_filter_fn."""
    if img != ckpt_img:
        model = create(spec, img)
        model.load_state_dict(checkpoint_filter_fn(dict(sd), model))
    return model, timm_input(model)[0]


def top_gap(model_and_input):
    model, x = model_and_input
    with torch.no_grad():
        s = model(x).sort(-1).values
    return float((s[:, -1] - s[:, -2]).min())


def make_model(spec, cases):
    spec["dir"] = spec["name"]
    d = OUT / spec["dir"]
    d.mkdir(parents=True, exist_ok=True)
    ckpt_img = spec["size"]["img_size"]
    sizes = spec.get("sizes", [ckpt_img])
    # The first seed (from the name) whose top-1 logit leads the second by >= MIN_GAP on both photos at every
    # size: fp16 is checked within 5e-2 and for the same top-1, which a near tie would make a coin toss.
    for attempt in range(200):
        seed = seed_of(spec["name"]) + attempt
        torch.manual_seed(seed)
        model = create(spec, ckpt_img)
        randomize(model, seed)
        sd = {k: v.clone() for k, v in model.state_dict().items()}
        if all(top_gap(resized(spec, sd, model, img, ckpt_img)) >= MIN_GAP for img in sizes):
            break
    else:
        raise RuntimeError(spec["name"] + ": no seed with a clear top-1")
    spec["seed"] = seed
    save_safetensors(d / "model.safetensors", sd)

    hub_args = None if spec["hub"] else dict(spec["size"], **spec.get("extra", {}))
    if hub_args is not None:
        hub_args.pop("img_size")  # pretrained_cfg.input_size says it
        hub_args = dict(hub_args, **spec["switches"])
    (d / "config.json").write_text(hub_config(spec, model, ckpt_img, hub_args))
    configs = [("config.json", hub_args)]
    if spec.get("also_model_args"):
        full = dict(spec["size"], **spec["switches"], **spec.get("extra", {}))
        (d / "config_model_args.json").write_text(hub_config(spec, model, ckpt_img, full))
        # timm itself rebuilds the same model from exactly these model_args: the list of switches is complete.
        twin = timm.create_model(spec["arch"], pretrained=False, num_classes=spec["classes"], **full).eval()
        twin.load_state_dict(sd)
        x0 = torch.randn(1, 3, ckpt_img, ckpt_img, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            assert torch.equal(twin(x0), model(x0)), spec["name"]
        configs.append(("config_model_args.json", full))

    for img in sizes:
        m, _ = resized(spec, sd, model, img, ckpt_img)
        x, input_rel, dc = timm_input(m)
        gdir = d / f"golden_{img}"
        for cfg_file, given in (configs if img == ckpt_img else configs[:1]):
            suffix = "" if cfg_file == "config.json" else "_model_args"
            suffix += "" if img == ckpt_img else f"_at{img}"
            tests = spec["tests"]
            if img != ckpt_img:
                tests = (f"img-size override: checkpoint at {ckpt_img} px run at {img} px through timm's "
                         f"checkpoint_filter_fn; " + tests)
            inferred = spec["inferred"] if given is None else ["switches from model_args"]
            cases.append(write_golden(gdir, m, x, input_rel, dc, spec, spec["name"] + suffix,
                                      None if img == ckpt_img else img, inferred, cfg_file, given, tests))


# Malformed variants: a good small model with one thing broken; vitvk must refuse each at load with an Error whose
# message names the problem (error_contains: every string must appear; error_any: at least one of them).
def make_malformed(cases):
    def base(name):
        spec = dict(name=name, arch="beit_base_patch16_224", tag="in22k_ft_in22k_in1k", size=dims(dim=16, heads=2),
                    classes=10)
        torch.manual_seed(seed_of(name))
        m = create(spec, 32)
        randomize(m, seed_of(name))
        return spec, m, {k: v.clone() for k, v in m.state_dict().items()}

    def write(name, spec, model, sd, model_args, what, contains, any_of):
        d = OUT / "malformed" / name
        d.mkdir(parents=True, exist_ok=True)
        save_safetensors(d / "model.safetensors", sd)
        (d / "config.json").write_text(hub_config(spec, model, 32, model_args))
        cases.append({"name": "malformed_" + name, "model_dir": rel(d), "config": "config.json", "arch": spec["arch"],
                      "tests": what, "status": "main", "malformed": True, "error_code": "ModelFormat",
                      "error_contains": contains, "error_any": any_of})

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
    manifest = {
        "generator": "tools/goldens/make_beit_goldens.py",
        "timm": timm.__version__, "torch": torch.__version__,
        "layout": "as tests/data/zoo: float32 little-endian row-major; attn [depth, batch, 3, tokens, tokens]: mean, "
                  "max, min over the heads of the softmax probabilities; paths relative to tests/data/beit; photos "
                  "relative to the repository root",
        "cases": cases,
        "table_resize": make_table_resize(),
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    for c in cases:
        print(f"{c['name']:36s} {c.get('tests', '')[:80]}")


if __name__ == "__main__":
    main()
