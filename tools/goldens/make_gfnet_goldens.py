#!/usr/bin/python3
"""GFNet goldens for tests/engine/test_gfnet.cpp and tests/ops/test_spectral_filter.cpp (run with /usr/bin/python3:
Debian's torch 1.13).

Writes tests/data/gfnet/:
  <model>/config.json, <model>/model.safetensors   tiny random-weight GFNets (seeded), official tensor names
  <model>/inputs_f32_<B>x3x<H>x<W>.bin                random input images
  <model>/logits_f32_<B>x<classes>.bin                 the PyTorch forward pass's logits
  filter_goldens.json                                  the global filter alone (torch.fft.rfft2/irfft2) on a few grids

The model below follows the official GFNet repository's non-hierarchical network (raoyongming/GFNet, gfnet.py:
GlobalFilter, Block, GFNet) module by module, written here from that structure; tensor names match its state_dict.
Nothing here reads the C++ code.
"""
import json
import math
import pathlib
import struct

import numpy as np
import torch
import torch.nn as nn

OUT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "gfnet"


class GlobalFilter(nn.Module):
    def __init__(self, dim, h, w):
        super().__init__()
        self.complex_weight = nn.Parameter(torch.randn(h, w, dim, 2, dtype=torch.float32) * 0.02)

    def forward(self, x, spatial_size):
        b, n, c = x.shape
        a, bb = spatial_size
        x = x.view(b, a, bb, c).to(torch.float32)
        x = torch.fft.rfft2(x, dim=(1, 2), norm="ortho")
        x = x * torch.view_as_complex(self.complex_weight)
        x = torch.fft.irfft2(x, s=(a, bb), dim=(1, 2), norm="ortho")
        return x.reshape(b, n, c)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact erf form
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, mlp_ratio, h, w):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.filter = GlobalFilter(dim, h=h, w=w)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, spatial_size):
        return x + self.mlp(self.norm2(self.filter(self.norm1(x), spatial_size)))  # one residual


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class GFNet(nn.Module):
    def __init__(self, img_size, patch_size, embed_dim, depth, mlp_ratio, num_classes):
        super().__init__()
        self.grid = (img_size // patch_size, img_size // patch_size)
        h, w = self.grid[0], self.grid[1] // 2 + 1
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1], embed_dim))
        self.blocks = nn.ModuleList([Block(embed_dim, mlp_ratio, h, w) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x) + self.pos_embed
        for blk in self.blocks:
            x = blk(x, self.grid)
        return self.head(self.norm(x).mean(1))


def randomize(model, seed):
    """O(1) random weights (the official init makes the filter ~0.02 and pos_embed 0): every part matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("complex_weight"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "norm" in name:  # LayerNorm gains
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name == "pos_embed":
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def make_model(name, arch, img, patch, dim, depth, mlp_ratio, classes, batch, seed):
    torch.manual_seed(seed)
    model = GFNet(img, patch, dim, depth, mlp_ratio, classes).eval()
    randomize(model, seed)
    d = OUT / name
    d.mkdir(parents=True, exist_ok=True)
    config = {
        "architecture": arch,
        "num_classes": classes,
        "model_args": {"img_size": img, "patch_size": patch, "embed_dim": dim, "depth": depth, "mlp_ratio": mlp_ratio},
        "pretrained_cfg": {"input_size": [3, img, img], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                           "crop_pct": 0.875, "interpolation": "bicubic"},
    }
    (d / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    save_safetensors(d / "model.safetensors", model.state_dict())
    x = torch.randn(batch, 3, img, img, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        logits = model(x)
        ref64 = model.double()(x.double())  # float64 check of float32's own noise (GlobalFilter casts to fp32)
    (d / f"inputs_f32_{batch}x3x{img}x{img}.bin").write_bytes(x.numpy().astype("<f4").tobytes())
    (d / f"logits_f32_{batch}x{classes}.bin").write_bytes(logits.numpy().astype("<f4").tobytes())
    print(f"{name}: grid {model.grid}, logits[0,:4] {logits[0, :4].tolist()}, "
          f"|fp32 - fp64-ish| {float((logits.double() - ref64).abs().max()):.2e}")


def filter_goldens():
    """The global filter alone, torch.fft on odd and even grids: x [B, h*w, C], complex_weight [h, w//2+1, C, 2]."""
    cases = []
    g = torch.Generator().manual_seed(7)
    for batch, h, w, c in [(2, 5, 6, 3), (1, 7, 7, 2), (2, 4, 5, 3), (1, 6, 4, 2)]:
        x = torch.randn(batch, h * w, c, generator=g)
        weight = torch.randn(h, w // 2 + 1, c, 2, generator=g)
        f = GlobalFilter(c, h, w // 2 + 1)
        with torch.no_grad():
            f.complex_weight.copy_(weight)
            y = f(x, (h, w))
        cases.append({"batch": batch, "h": h, "w": w, "channels": c, "x": x.flatten().tolist(),
                      "complex_weight": weight.flatten().tolist(), "y": y.flatten().tolist()})
    doc = {"generator": "tools/goldens/make_gfnet_goldens.py", "torch": torch.__version__,
           "definition": "y = irfft2(rfft2(x over the h x w grid, norm='ortho') * complex_weight, s=(h, w), "
                         "norm='ortho'), per channel; x, y row-major [B, h*w, C]; complex_weight [h, w//2+1, C, 2]",
           "cases": cases}
    (OUT / "filter_goldens.json").write_text(json.dumps(doc) + "\n")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    # GFNet-Ti-shaped (patch embedding, pos_embed, blocks, mean-pooled head), small: an even grid (8x8: the
    # Nyquist column) and an odd one (7x7).
    make_model("gfnet_tiny_even", "gfnet_test", 32, 4, 32, 2, 4.0, 10, 2, 1)
    make_model("gfnet_tiny_odd", "gfnet_test", 28, 4, 16, 2, 2.0, 5, 2, 2)
    filter_goldens()
