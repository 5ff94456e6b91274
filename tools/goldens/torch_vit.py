"""A timm ViT/DeiT forward pass in plain PyTorch, built from a model directory (config.json + model.safetensors).

Independent of the C++ code: it reads the safetensors file with its own parser (8-byte little-endian header
length, JSON header, raw tensor bytes) and follows timm's VisionTransformer module by module. Used by the
golden generators in this folder (run with /usr/bin/python3: Debian's torch 1.13, numpy).
"""
import json
import pathlib
import struct

import numpy as np
import torch
import torch.nn.functional as F

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64}


def load_safetensors(path):
    """Returns {name: float32 torch tensor} for every tensor in the file."""
    data = pathlib.Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    body = memoryview(data)[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = body[begin:end]
        if info["dtype"] == "BF16":  # bf16 is the upper half of an fp32
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")).astype(np.float32)
        tensors[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return tensors


class TorchViT:
    """timm VisionTransformer (class token, optional distillation token, pre-norm blocks, exact GELU)."""

    def __init__(self, model_dir):
        model_dir = pathlib.Path(model_dir)
        self.config = json.loads((model_dir / "config.json").read_text())
        self.w = load_safetensors(model_dir / "model.safetensors")
        args = self.config.get("model_args", {})
        self.heads = int(args["num_heads"])
        self.patch = self.w["patch_embed.proj.weight"].shape[-1]
        self.depth = 1 + max(int(k.split(".")[1]) for k in self.w if k.startswith("blocks."))
        self.prefix = 2 if "dist_token" in self.w else 1
        self.eps = 1e-6

    def _ln(self, x, name):
        return F.layer_norm(x, x.shape[-1:], self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def _linear(self, x, name):
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    @torch.no_grad()
    def forward(self, images):
        """images: [B, 3, H, W] float32. Returns (logits [B, classes], list of per-layer attention
        probabilities [B, heads, N, N])."""
        w = self.w
        x = F.conv2d(images, w["patch_embed.proj.weight"], w["patch_embed.proj.bias"], stride=self.patch)
        x = x.flatten(2).transpose(1, 2)  # [B, patches, D]
        b, _, dim = x.shape
        prefix = [w["cls_token"].expand(b, -1, -1)]
        if self.prefix > 1:
            prefix.append(w["dist_token"].expand(b, -1, -1))
        x = torch.cat(prefix + [x], dim=1) + w["pos_embed"]
        n = x.shape[1]
        hd = dim // self.heads
        attentions = []
        for i in range(self.depth):
            p = f"blocks.{i}."
            h = self._ln(x, p + "norm1")
            qkv = self._linear(h, p + "attn.qkv").reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = ((q * hd ** -0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
            attentions.append(attn)  # the "hook": what timm's attn_drop sees at eval
            h = (attn @ v).transpose(1, 2).reshape(b, n, dim)
            x = x + self._linear(h, p + "attn.proj")
            h = self._ln(x, p + "norm2")
            x = x + self._linear(F.gelu(self._linear(h, p + "mlp.fc1")), p + "mlp.fc2")
        x = self._ln(x, "norm")
        logits = self._linear(x[:, 0], "head")
        if self.prefix > 1:  # DeiT distilled inference: mean of both heads
            logits = 0.5 * (logits + self._linear(x[:, 1], "head_dist"))
        return logits, attentions
