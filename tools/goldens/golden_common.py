"""What the timm golden scripts share (make_vit_zoo_goldens.py, make_beit_goldens.py, make_eva_goldens.py,
make_swin_goldens.py; run with /usr/bin/python3: Debian's torch 1.13 and torchvision 0.14).

Importing it puts timm from ../shared/timm on sys.path, so a script imports this module before timm. The pieces:
random-weight timm models (seeds from the case names, every parameter O(1)), F32/F16/BF16 safetensors under
timm's state_dict names, hub-style config.json, timm's eval transform of the photos, timm's outputs and attention
probabilities, and the manifest entries in the layout of tests/data/zoo (tests/support/zoo_golden.hpp).
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

PHOTOS = ["samples/images/chelsea.jpg", "samples/images/astronaut.jpg"]
# A seed is kept only if its top-1 logit leads the second by this much on every photo: fp16 is checked within
# 5e-2 and for the same top-1, which a near tie would make a coin toss.
MIN_GAP = 0.1
TOLERANCE = {"fp32_rel": 1e-4, "fp16_abs": 5e-2, "attn_abs": 1e-4, "preprocess_abs": 1e-6}


def setup_torch(attention_hooks=True):
    """One torch thread (identical bytes run after run); with attention_hooks, timm's unfused attention, so that
    the probabilities pass attn_drop where the hooks read them (torch 1.13 has no SDPA anyway)."""
    torch.set_num_threads(1)
    if attention_hooks:
        timm.layers.set_fused_attn(False)


def seed_of(name):
    """The seed of a case: a hash of its name."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def randomize(model, seed, scales):
    """Every parameter O(1) random, so that a wrong switch changes the outputs by O(1): r ~ N(0, 1) per parameter
    from one generator seeded with seed, in named_parameters() order. LayerNorm gains 1 + 0.2 r, biases 0.1 r, the
    family's own parameters mean + std * r by scales ({name, or its last dotted parts: (mean, std)}, the first
    match), everything else (the weights) r / sqrt(fan_in)."""
    g = torch.Generator().manual_seed(seed)
    norms = {n for n, m in model.named_modules() if isinstance(m, nn.LayerNorm)}
    scales = dict({"bias": (0.0, 0.1)}, **scales)
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner, _, leaf = name.rpartition(".")
            r = torch.randn(p.shape, generator=g)
            scale = next((s for k, s in scales.items() if name == k or name.endswith("." + k)), None)
            if owner in norms and leaf == "weight":
                p.copy_(1.0 + 0.2 * r)
            elif scale is not None:
                p.copy_(scale[0] + scale[1] * r)
            else:
                p.copy_(r / math.sqrt(p[0].numel()))


def random_model(make, seed, scales):
    """make()'s model (built after torch.manual_seed(seed)) randomised with seed, and a copy of its state_dict."""
    torch.manual_seed(seed)
    model = make()
    randomize(model, seed, scales)
    return model, {k: v.clone() for k, v in model.state_dict().items()}


def top_gap(model, x):
    """The smallest lead of the top-1 logit over the second, across the batch."""
    with torch.no_grad():
        s = model(x).sort(-1).values
    return float((s[:, -1] - s[:, -2]).min())


def clear_top1_model(name, make, scales, runs):
    """(seed, model, state_dict): the first seed from seed_of(name) up whose model leads by >= MIN_GAP in every
    run; runs(model, state_dict) gives the (model, input) pairs to check (none: the first seed is kept)."""
    for attempt in range(200):
        seed = seed_of(name) + attempt
        model, sd = random_model(make, seed, scales)
        if all(top_gap(m, x) >= MIN_GAP for m, x in runs(model, sd)):
            return seed, model, sd
    raise RuntimeError(name + ": no seed with a clear top-1")


def create_model(arch, img, classes, **kwargs):
    """timm.create_model(arch, pretrained=False) in eval mode at img px: img_size and the pretrained_cfg's
    input_size (so that timm's data config resolves to img too)."""
    kwargs["img_size"] = img
    m = timm.create_model(arch, pretrained=False, num_classes=classes,
                          pretrained_cfg_overlay=dict(input_size=(3, img, img)), **kwargs)
    return m.eval()


def at_size(model, sd, img, ckpt_img, make, filter_fn):
    """The checkpoint sd at img px by timm's own route: make(img) loading filter_fn(sd) (the family's
    checkpoint_filter_fn); model itself at the checkpoint's size."""
    if img == ckpt_img:
        return model
    resized = make(img)
    resized.load_state_dict(filter_fn(dict(sd), resized))
    return resized


def check_rebuilds(model, sd, arch, classes, img, model_args):
    """timm itself rebuilds the same model from exactly these model_args: the list of switches is complete."""
    twin = timm.create_model(arch, pretrained=False, num_classes=classes, **model_args).eval()
    twin.load_state_dict(sd)
    x0 = torch.randn(1, 3, img, img, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(twin(x0), model(x0)), arch


def save_safetensors(path, tensors, dtype="F32"):
    """tensors as a safetensors file (written here: Debian has no safetensors module), names sorted; dtype F32,
    F16 or BF16 (rounded to nearest even, as torch's own conversion)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        if dtype == "F32":
            data = t.numpy().astype("<f4").tobytes()
        elif dtype == "F16":
            data = t.numpy().astype("<f2").tobytes()
        elif dtype == "BF16":
            data = t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_f32(path, t):
    """t as raw float32 little-endian, row-major."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def hub_config(model, arch, classes, img, model_args=None):
    """config.json's text in the hub layout: the family's real pretrained_cfg with only input_size made small;
    model_args only where given."""
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


def write_configs(d, spec, model, sd, img):
    """d/config.json (spec['hub']: no model_args; else only the kwargs the name does not imply) and, where
    spec['also_model_args'], d/config_model_args.json with every switch spelt out (checked: timm rebuilds the same
    model from it). Returns [(file name, its model_args)]."""
    hub_args = None if spec["hub"] else dict(spec["size"], **spec.get("extra", {}))
    if hub_args is not None:
        hub_args.pop("img_size")  # pretrained_cfg.input_size says it
        hub_args = dict(hub_args, **spec["switches"])
    (d / "config.json").write_text(hub_config(model, spec["arch"], spec["classes"], img, hub_args))
    configs = [("config.json", hub_args)]
    if spec.get("also_model_args"):
        full = dict(spec["size"], **spec["switches"], **spec.get("extra", {}))
        (d / "config_model_args.json").write_text(hub_config(model, spec["arch"], spec["classes"], img, full))
        check_rebuilds(model, sd, spec["arch"], spec["classes"], img, full)
        configs.append(("config_model_args.json", full))
    return configs


def golden_configs(configs, img, ckpt_img):
    """(config file, its model_args, case-name suffix) of each golden at img px: every config at the checkpoint's
    size, the hub config.json alone at another (model_args.img_size names the checkpoint's)."""
    for cfg_file, given in (configs if img == ckpt_img else configs[:1]):
        suffix = "" if cfg_file == "config.json" else "_model_args"
        suffix += "" if img == ckpt_img else f"_at{img}"
        yield cfg_file, given, suffix


class TimmInputs:
    """timm's own eval transform (resolve_data_config + create_transform) of the photos, written once per
    preprocessing to <out>/inputs/<key>.f32 and shared by every model with the same preprocessing."""

    def __init__(self, out):
        self.out = out
        self.made = {}

    def __call__(self, model, photos=PHOTOS):
        """(input [photos, 3, H, W], its path relative to out, timm's data config) for model."""
        dc = resolve_data_config({}, model=model)
        key = ("" if photos == PHOTOS else f"{len(photos)}photo_") + "{}px_{}_crop{}_{}_mean{}_std{}".format(
            dc["input_size"][1], dc["interpolation"], dc["crop_pct"], dc.get("crop_mode", "center"),
            "-".join(f"{v:.4f}" for v in dc["mean"]), "-".join(f"{v:.4f}" for v in dc["std"]))
        if key not in self.made:
            tf = create_transform(**dc)
            x = torch.stack([tf(Image.open(ROOT / p).convert("RGB")) for p in photos])
            path = self.out / "inputs" / (key + ".f32")
            write_f32(path, x)
            self.made[key] = (x, str(path.relative_to(self.out)), dc)
        return self.made[key]


def run_timm(model, x):
    """timm's logits (or the embedding), pre-logits features and per-block attention probabilities in vitvk's
    explain layout (ForwardResult::attention): [depth, B, 3, T, T] = mean, max, min over the heads."""
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
    return out, feats, torch.stack([probs.mean(2), probs.amax(2), probs.amin(2)], dim=2)


def write_arrays(gdir, out, arrays):
    """Each tensor of arrays ({name: tensor}; None: skipped) as gdir/<name>.f32. Returns the manifest's expected
    entries: name (the path relative to out) and name_shape."""
    exp = {}
    for name, t in arrays.items():
        if t is not None:
            write_f32(gdir / f"{name}.f32", t)
            exp[name] = str((gdir / f"{name}.f32").relative_to(out))
            exp[name + "_shape"] = list(t.shape)
    return exp


def preprocess(dc):
    """The manifest's preprocess entry: timm's data config."""
    return {"input_size": list(dc["input_size"]), "interpolation": dc["interpolation"], "crop_pct": dc["crop_pct"],
            "crop_mode": dc.get("crop_mode", "center"), "mean": list(dc["mean"]), "std": list(dc["std"])}


def case_entry(name, model_dir, config, spec, tests, status, img_size, model, inputs, expected):
    """A manifest case of the zoo layout up to its tolerances (the family appends its own keys): inputs is
    TimmInputs' (input, its path, data config)."""
    x, input_rel, dc = inputs
    return {
        "name": name, "model_dir": model_dir, "seed": spec.get("seed"), "config": config, "arch": spec["arch"],
        "pretrained_tag": spec["tag"], "tests": tests, "status": status,
        "img_size": img_size, "num_classes": spec["classes"],
        "prefix_tokens": int(getattr(model, "num_prefix_tokens", 1)), "global_pool": model.global_pool,
        "input": input_rel, "input_shape": list(x.shape), "photos": PHOTOS,
        "preprocess": preprocess(dc), "expected": expected, "tolerance": dict(TOLERANCE),
    }


def malformed_entry(name, model_dir, arch, what, status, contains, any_of):
    """A manifest case for a malformed checkpoint vitvk must refuse at load with a ModelFormat Error whose message
    holds every string of contains and at least one of any_of."""
    return {"name": "malformed_" + name, "model_dir": model_dir, "config": "config.json", "arch": arch,
            "tests": what, "status": status, "malformed": True, "error_code": "ModelFormat",
            "error_contains": contains, "error_any": any_of}


def write_manifest(out, script, fields):
    """out/manifest.json: the generator (script, a file of tools/goldens), timm's and torch's versions, fields."""
    manifest = {"generator": "tools/goldens/" + pathlib.Path(script).name, "timm": timm.__version__,
                "torch": torch.__version__, **fields}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
