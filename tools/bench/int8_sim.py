#!/usr/bin/python3
"""What an int8 scheme would do to the answers, before any kernel is written (issue 18, item 2): timm's model with
the model's real weights, its linear layers replaced by fake-quantized ones (quantize, dequantize, fp32 matmul),
over a folder of ImageNet photos, against the same model in fp32. Prints, per variant: the relative error of the
log-probabilities (RMS over all photos and classes of int8 - fp32, each row centred, over the RMS of the centred
fp32 ones: the figure tools/bench/int8_accuracy.py's runs and tests/engine/test_cpu_int8.cpp bound), top-1
agreement with fp32 and the change of top-1 accuracy. A tool that prints figures, not a test.

It follows vitvk's CPU int8 numerics (src/ops/cpu_gemm_int8.hpp): weights symmetric per output channel (scale =
max|w| / 127, round half even, [-127, 127]); activations asymmetric u8 per token (range [min(x, 0), max(x, 0)],
scale = range / 255, zero point rounded). The default variant gave the engine's figures within 0.0002 (DeiT-Ti
0.0394 here, 0.0396 through `vitvk classify`; with 64-channel groups 0.0319 both); photos are preprocessed here by
torchvision (bicubic resize, centre crop), not by vitvk.

    /usr/bin/python3 tools/bench/int8_sim.py ../shared/data/imagenet-sample-images \\
        --model ../shared/models/deit_tiny_patch16_224.pipevit \\
        --variant default --variant g64:a=group64 --variant weights-only:a=fp32 --variant no-fc2:layers=qkv/proj/fc1

A variant is NAME[:KEY=VALUE,...]:
  w=channel|groupN|fp32      weights: per output channel (vitvk), per N channels along K as well, or not quantized
  a=token|groupN|int16|fp32  activations: one u8 scale per token (vitvk's default), per N channels of a token
                             (VITVK_INT8_GROUP=N), symmetric int16 with the largest step count an int32 sum of K
                             products with int8 weights holds, or not quantized
  layers=qkv/proj/fc1/fc2    which of each block's linear layers are quantized (default all four, as vitvk)
  blocks=0/1/...             which blocks (default all)
  smooth=ALPHA[/ln|/data]    first move the LayerNorm-fed inputs' (qkv, fc1) ranges into the weights (SmoothQuant's
                             exact rescaling), ranges estimated from the LayerNorm's gamma and beta (no data) or
                             measured on every 20th photo (an oracle)
Needs /usr/bin/python3 with Debian's python3-torch and python3-torchvision, and timm's source
(VITVK_TEST_DATA/timm, default ../shared/timm).
"""
import argparse
import json
import os
import pathlib
import struct
import sys

import numpy as np

from int8_accuracy import sample_photos

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
KINDS = ("qkv", "proj", "fc1", "fc2")


def load_safetensors(path):
    """F32 tensors of a safetensors file, by name (the shared models are F32)."""
    import torch
    data = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {t['dtype']}, this tool reads F32 models")
        a, b = t["data_offsets"]
        values = np.frombuffer(data, np.float32, (b - a) // 4, 8 + n + a)
        out[name] = torch.from_numpy(values.reshape(t["shape"]).copy())
    return out


def load_model(folder):
    """timm's model for a vitvk model folder (config.json + model.safetensors) and its preprocessing."""
    import timm
    import torchvision.transforms as T
    cfg = json.loads((pathlib.Path(folder) / "config.json").read_text())
    model = timm.create_model(cfg["architecture"], pretrained=False,
                              **{**cfg.get("model_args", {}), "num_classes": cfg["num_classes"]})
    model.load_state_dict(load_safetensors(pathlib.Path(folder) / "model.safetensors"))
    pc = cfg["pretrained_cfg"]
    size = pc["input_size"][-1]
    tf = T.Compose([T.Resize(int(size / pc["crop_pct"]), interpolation=T.InterpolationMode.BICUBIC),
                    T.CenterCrop(size), T.ToTensor(), T.Normalize(pc["mean"], pc["std"])])
    return model.eval(), tf


def fake_weights(w, mode):
    import torch
    if mode == "fp32":
        return w
    group = int(mode[5:]) if mode.startswith("group") else w.shape[1]
    if mode != "channel" and not mode.startswith("group"):
        sys.exit(f"unknown weight mode {mode}")
    if w.shape[1] % group:
        sys.exit(f"weight groups of {group} do not divide K = {w.shape[1]}")
    wg = w.reshape(w.shape[0], -1, group)
    s = wg.abs().amax(-1, keepdim=True) / 127
    s = torch.where(s > 0, s, torch.ones_like(s))
    return (torch.clamp(torch.round(wg / s), -127, 127) * s).reshape(w.shape)


def fake_activations(x, mode):
    import torch
    K = x.shape[-1]
    if mode == "fp32":
        return x
    if mode == "int16":
        q = min(32767, (2**31 - 1) // (K * 127))
        s = x.abs().amax(-1, keepdim=True) / q
        s = torch.where(s > 0, s, torch.ones_like(s))
        return torch.clamp(torch.round(x / s), -q, q) * s
    group = int(mode[5:]) if mode.startswith("group") else K
    if mode != "token" and not mode.startswith("group"):
        sys.exit(f"unknown activation mode {mode}")
    if K % group:  # vitvk lets the last group be shorter; this tool keeps to whole groups
        sys.exit(f"activation groups of {group} do not divide K = {K}")
    xg = x.reshape(*x.shape[:-1], -1, group)
    lo, hi = xg.amin(-1, keepdim=True).clamp(max=0), xg.amax(-1, keepdim=True).clamp(min=0)
    s = (hi - lo) / 255
    s = torch.where(s > 0, s, torch.ones_like(s))
    z = torch.clamp(torch.round(-lo / s), 0, 255)
    return ((torch.clamp(torch.round(xg / s) + z, 0, 255) - z) * s).reshape(x.shape)


def fake_linear(linear, wmode, amode):
    import torch.nn as nn
    import torch.nn.functional as F

    class FakeInt8Linear(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("weight", fake_weights(linear.weight.data, wmode))
            self.register_buffer("bias", None if linear.bias is None else linear.bias.data)

        def forward(self, x):
            return F.linear(fake_activations(x, amode), self.weight, self.bias)

    return FakeInt8Linear()


def parse_variant(text):
    name, _, opts = text.partition(":")
    v = {"name": name, "w": "channel", "a": "token", "layers": list(KINDS), "blocks": None, "smooth": None}
    for kv in filter(None, opts.split(",")):
        key, _, value = kv.partition("=")
        if key in ("w", "a"):
            v[key] = value
        elif key == "layers":
            v["layers"] = value.split("/")
        elif key == "blocks":
            v["blocks"] = [int(b) for b in value.split("/")]
        elif key == "smooth":
            alpha, _, est = value.partition("/")
            v["smooth"] = (float(alpha), est or "ln")
        else:
            sys.exit(f"unknown variant key {key!r} in {text!r}")
    return v


def smooth(model, alpha, est, calib):
    """Moves the LayerNorm-fed layers' (qkv, fc1) input ranges into their weights, exactly in fp32: channel c of the
    LayerNorm's output is divided by s_c and column c of the weight multiplied by it, s_c = a_c^alpha / w_c^(1-alpha)
    (SmoothQuant), where w_c = max|W[:, c]| and a_c estimates max|x_c|: est "ln" from the LayerNorm alone
    (|gamma_c| * 4 + |beta_c|, no data), "data" measured on the photos `calib` (an oracle, for comparison)."""
    import torch
    seen = {}
    if est == "data":
        hooks = []
        for i, blk in enumerate(model.blocks):
            for key, norm in (("qkv", blk.norm1), ("fc1", blk.norm2)):
                def hook(_m, _inp, out, k=(i, key)):
                    m = out.detach().abs().flatten(0, -2).amax(0)
                    seen[k] = torch.maximum(seen[k], m) if k in seen else m
                hooks.append(norm.register_forward_hook(hook))
        with torch.no_grad():
            model(calib)
        for h in hooks:
            h.remove()
    with torch.no_grad():
        for i, blk in enumerate(model.blocks):
            for key, norm, lin in (("qkv", blk.norm1, blk.attn.qkv), ("fc1", blk.norm2, blk.mlp.fc1)):
                a = seen[(i, key)] if est == "data" else norm.weight.abs() * 4 + norm.bias.abs()
                w = lin.weight.abs().amax(0)
                s = (a.clamp(min=1e-5) ** alpha) / (w.clamp(min=1e-5) ** (1 - alpha))
                norm.weight /= s
                norm.bias /= s
                lin.weight *= s


def quantized_copy(folder, v, calib=None):
    model, _ = load_model(folder)
    if v["smooth"]:
        smooth(model, *v["smooth"], calib)
    for i, blk in enumerate(model.blocks):
        if v["blocks"] is not None and i not in v["blocks"]:
            continue
        for kind, parent in (("qkv", blk.attn), ("proj", blk.attn), ("fc1", blk.mlp), ("fc2", blk.mlp)):
            if kind in v["layers"]:
                setattr(parent, kind, fake_linear(getattr(parent, kind), v["w"], v["a"]))
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--variant", action="append", default=[], help="NAME[:KEY=VALUE,...] (above)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N photos")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    timm_src = pathlib.Path(os.environ.get("VITVK_TEST_DATA", REPO.parent / "shared")) / "timm"
    sys.path.insert(0, str(timm_src))
    import torch
    import torch.nn.functional as F
    from PIL import Image
    torch.set_num_threads(a.threads)
    names, label = sample_photos(a.folder)
    if a.limit:
        names = names[:a.limit]
    labels = torch.tensor([label[n] for n in names]) if label else None
    variants = [parse_variant(t) for t in (a.variant or ["default"])]

    def logits(model, x):
        with torch.no_grad():
            return torch.cat([model(x[i:i + 50]) for i in range(0, len(x), 50)])

    def centred(z):
        lp = F.log_softmax(z, -1)
        return lp - lp.mean(-1, keepdim=True)

    print("| model | variant | photos | relative error | top-1 agreement | accuracy change (points) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for folder in a.model:
        model, tf = load_model(folder)
        x = torch.stack([tf(Image.open(pathlib.Path(a.folder) / n).convert("RGB")) for n in names])
        ref = logits(model, x)
        cref = centred(ref)
        for v in variants:
            out = logits(quantized_copy(folder, v, x[::20]), x)
            rel = float(((centred(out) - cref) ** 2).sum().sqrt() / (cref ** 2).sum().sqrt())
            agree = 100 * float((out.argmax(-1) == ref.argmax(-1)).float().mean())
            dacc = "–"
            if labels is not None:
                right = [float((z.argmax(-1) == labels).float().mean()) for z in (out, ref)]
                dacc = f"{100 * (right[0] - right[1]):+.1f}"
            print(f"| {pathlib.Path(folder).name} | {v['name']} | {len(names)} | {rel:.4f} | {agree:.1f} % | {dacc} |",
                  flush=True)


if __name__ == "__main__":
    main()
