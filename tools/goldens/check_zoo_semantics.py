#!/usr/bin/python3
"""Checks tests/data/zoo/README.md's description of timm's VisionTransformer against the goldens: an independent
float64 numpy forward pass, written from the README alone (no timm, no torch), of every good manifest case.

It reads model.safetensors + the case's config and the manifest's switches the way the README says vitvk must
(tokens decide what they can, the architecture name the rest), runs the stored input, and compares with timm's
logits / features / attention. Prints the worst relative difference per case; exits 1 if any exceeds 1e-4.
"""
import json
import math
import pathlib
import struct
import sys

import numpy as np

ZOO = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "zoo"


def load_safetensors(path):
    b = path.read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for name, h in header.items():
        lo, hi = h["data_offsets"]
        raw = b[8 + n + lo:8 + n + hi]
        if h["dtype"] == "F32":
            a = np.frombuffer(raw, "<f4")
        elif h["dtype"] == "F16":
            a = np.frombuffer(raw, "<f2")
        else:  # BF16: the high half of a float32
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        out[name] = a.astype(np.float64).reshape(h["shape"])
    return out


def layernorm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def act(x, kind):
    if kind == "quick_gelu":
        return x / (1 + np.exp(-1.702 * x))
    if kind == "gelu_tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    from math import erf
    return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))


def linear(x, t, name):
    y = x @ t[name + ".weight"].T
    return y + t[name + ".bias"] if name + ".bias" in t else y


def softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def cubic(x, a=-0.5):
    x = abs(x)
    if x < 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    if x < 2:
        return (((x - 5) * x + 8) * x - 4) * a
    return 0.0


def aa_bicubic_matrix(n_in, n_out):
    """torch's F.interpolate(mode='bicubic', antialias=True) along one axis, as the README describes it."""
    scale = n_in / n_out
    fs = max(scale, 1.0)
    support = 2.0 * fs
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        c = (i + 0.5) * scale
        lo, hi = max(int(c - support + 0.5), 0), min(int(c + support + 0.5), n_in)
        k = np.array([cubic((j - c + 0.5) / fs) for j in range(lo, hi)])
        w[i, lo:hi] = k / k.sum()
    return w


def heads_from_name(arch):
    for key, h in (("_tiny", 3), ("_small", 6), ("_base", 12), ("_medium", 8), ("_betwixt", 10), ("_large", 16)):
        if key in arch:
            return h
    raise ValueError(arch)


def forward(t, cfg, arch, img):
    args = cfg.get("model_args") or {}
    D = t["patch_embed.proj.weight"].shape[0]
    p = t["patch_embed.proj.weight"].shape[2]
    heads = args.get("num_heads") or heads_from_name(arch)
    eps = 1e-5 if "_clip_" in arch else 1e-6
    kind = args.get("act_layer") or ("quick_gelu" if "_quickgelu_" in arch else "gelu")
    pool = cfg.get("global_pool", "token")
    depth = len({k.split(".")[1] for k in t if k.startswith("blocks.")})

    def run(x):
        B = x.shape[0]
        g = img // p
        patches = x.reshape(B, 3, g, p, g, p).transpose(0, 2, 4, 1, 3, 5).reshape(B, g * g, 3 * p * p)
        tok = patches @ t["patch_embed.proj.weight"].reshape(D, -1).T
        if "patch_embed.proj.bias" in t:
            tok = tok + t["patch_embed.proj.bias"]
        prefix = [t[k] for k in ("cls_token", "dist_token") if k in t]
        if "reg_token" in t:
            prefix.append(t["reg_token"])
        if "dist_token" in t:  # timm's order: cls, dist
            prefix = [t["cls_token"], t["dist_token"]]
        pre = np.concatenate([np.broadcast_to(q, (B,) + q.shape[1:]) for q in prefix], 1) if prefix else None
        P = sum(q.shape[1] for q in prefix)
        pos = t["pos_embed"]
        L = pos.shape[1]
        def square(n):
            return n > 0 and math.isqrt(n) ** 2 == n
        # README: L == prefix + grid (embed class) or L == grid (no_embed_class); both square = ambiguous.
        if P == 0 or square(L) == square(L - P):
            assert P == 0, f"pos_embed length {L} with {P} prefix tokens: ambiguous or no grid"
            no_embed_class = False
        else:
            no_embed_class = square(L)
        n_pos_prefix = 0 if no_embed_class else P
        old = int(round(math.sqrt(L - n_pos_prefix)))
        assert old * old == L - n_pos_prefix
        if old != g:
            m = aa_bicubic_matrix(old, g)
            grid = pos[0, n_pos_prefix:].reshape(old, old, D)
            grid = np.einsum("oi,ijd,pj->opd", m, grid, m).reshape(1, g * g, D)
            pos = np.concatenate([pos[:, :n_pos_prefix], grid], 1)
        if no_embed_class:
            h = tok + pos
            h = np.concatenate([pre, h], 1) if pre is not None else h
        else:
            h = np.concatenate([pre, tok], 1) if pre is not None else tok
            h = h + pos
        if "norm_pre.weight" in t:
            h = layernorm(h, t["norm_pre.weight"], t["norm_pre.bias"], eps)
        attn_out = []
        hd = D // heads
        for i in range(depth):
            b = f"blocks.{i}."
            y = layernorm(h, t[b + "norm1.weight"], t[b + "norm1.bias"], eps)
            qkv = linear(y, t, b + "attn.qkv").reshape(B, -1, 3, heads, hd).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv
            if b + "attn.q_norm.weight" in t:
                q = layernorm(q, t[b + "attn.q_norm.weight"], t[b + "attn.q_norm.bias"], eps)
                k = layernorm(k, t[b + "attn.k_norm.weight"], t[b + "attn.k_norm.bias"], eps)
            a = softmax(q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd))
            attn_out.append(np.stack([a.mean(1), a.max(1), a.min(1)], 1))
            y = (a @ v).transpose(0, 2, 1, 3).reshape(B, -1, D)
            y = linear(y, t, b + "attn.proj")
            if b + "ls1.gamma" in t:
                y = y * t[b + "ls1.gamma"]
            h = h + y
            y = layernorm(h, t[b + "norm2.weight"], t[b + "norm2.bias"], eps)
            y = linear(act(linear(y, t, b + "mlp.fc1"), kind), t, b + "mlp.fc2")
            if b + "ls2.gamma" in t:
                y = y * t[b + "ls2.gamma"]
            h = h + y
        if "norm.weight" in t:
            h = layernorm(h, t["norm.weight"], t["norm.bias"], eps)
        pool_attn = None
        if "attn_pool.latent" in t:
            xs = h[:, P:]
            ql = linear(t["attn_pool.latent"], t, "attn_pool.q").reshape(1, heads, hd)
            kv = linear(xs, t, "attn_pool.kv").reshape(B, -1, 2, heads, hd).transpose(2, 0, 3, 1, 4)
            pa = softmax(np.einsum("hd,bhnd->bhn", ql[0], kv[0]) / math.sqrt(hd))[:, :, None, :]
            pool_attn = pa
            y = (pa @ kv[1]).transpose(0, 2, 1, 3).reshape(B, 1, D)
            y = linear(y, t, "attn_pool.proj")
            z = layernorm(y, t["attn_pool.norm.weight"], t["attn_pool.norm.bias"], eps)
            y = y + linear(act(linear(z, t, "attn_pool.mlp.fc1"), kind), t, "attn_pool.mlp.fc2")
            f = y[:, 0]
        elif "dist_token" in t:
            f = (h[:, 0] + h[:, 1]) / 2
        elif pool == "avg":
            f = h[:, P:].mean(1)
        else:
            f = h[:, 0]
        if "fc_norm.weight" in t:
            f = layernorm(f, t["fc_norm.weight"], t["fc_norm.bias"], eps)
        if "head.weight" not in t:
            return None, f, np.stack(attn_out), pool_attn
        if "dist_token" in t:
            logits = (linear(h[:, 0], t, "head") + linear(h[:, 1], t, "head_dist")) / 2
        else:
            logits = linear(f, t, "head")
        return logits, f, np.stack(attn_out), pool_attn

    return run


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def main():
    manifest = json.loads((ZOO / "manifest.json").read_text())
    worst = 0.0
    for c in manifest["cases"]:
        if c.get("malformed"):
            continue
        d = ZOO / c["model_dir"]
        cfg = json.loads((d / c["config"]).read_text())
        t = load_safetensors(d / "model.safetensors")
        img = c["img_size"] or cfg["pretrained_cfg"]["input_size"][1]
        x = np.fromfile(ZOO / c["input"], "<f4").astype(np.float64).reshape(c["input_shape"])
        logits, feats, attn, pool_attn = forward(t, cfg, c["arch"], img)(x)
        e = c["expected"]
        ld = fd = ad = pd = 0.0
        if logits is not None:
            ld = rel(logits, np.fromfile(ZOO / e["logits"], "<f4").reshape(e["logits_shape"]))
        fd = rel(feats, np.fromfile(ZOO / e["features"], "<f4").reshape(e["features_shape"]))
        ad = float(np.abs(attn - np.fromfile(ZOO / e["attn"], "<f4").reshape(e["attn_shape"])).max())
        if pool_attn is not None:
            pd = float(np.abs(pool_attn - np.fromfile(ZOO / e["attn_pool"], "<f4").reshape(e["attn_pool_shape"])).max())
        worst = max(worst, ld, fd, ad, pd)
        print(f"{c['name']:28s} logits {ld:.1e}  features {fd:.1e}  attn {ad:.1e}  attn_pool {pd:.1e}")
    for r in manifest["pos_embed_resample"]:
        src = np.fromfile(ZOO / r["input"], "<f4").astype(np.float64).reshape(r["input_shape"])
        want = np.fromfile(ZOO / r["expected"], "<f4").reshape(r["expected_shape"])
        n, o, k = r["num_prefix_tokens"], r["old_grid"], r["new_grid"]
        m = aa_bicubic_matrix(o, k)
        grid = np.einsum("oi,ijd,pj->opd", m, src[0, n:].reshape(o, o, -1), m).reshape(1, k * k, -1)
        d = float(np.abs(np.concatenate([src[:, :n], grid], 1) - want).max())
        worst = max(worst, d)
        print(f"pos_embed {r['name']:22s} max |diff| {d:.1e}")
    print(f"worst {worst:.2e}")
    sys.exit(0 if worst <= 1e-4 else 1)


if __name__ == "__main__":
    main()
