#!/usr/bin/python3
"""Attention-rollout goldens for tests/explain: a plain-PyTorch timm forward (torch_vit.py) on the shared
preprocessed inputs, its attention probabilities, and rollout computed here independently of the C++ code.

Rollout definition (the one src/explain/rollout.cpp implements; Abnar & Zuidema 2020, as popularised by
jacobgil/vit-explain):
  per layer l: F = mean|max|min over heads of the attention probabilities (float32, [N, N]);
    discard ratio r > 0: among all N*N entries of F take the k = floor(N*N*r) smallest, and set those to 0
      except flat entry 0 (class token -> class token), which is always kept;
    A' = (F + I) / 2, then every row divided by its own sum;
  R = A'_L ... A'_1 (later layers multiply on the left);
  map = R[0, prefix:] (class-token row over the patch tokens; a distillation token is not a patch),
        reshaped to grid_h x grid_w and divided by its maximum.
(jacobgil divides by `a.sum(dim=-1)` without keepdim, which broadcasts the row sums over columns; that only
differs from row normalisation when the discard ratio is > 0. We normalise rows, as the paper intends.)

Usage: /usr/bin/python3 tools/goldens/rollout_reference.py [--shared ../shared] [--out tests/data/rollout]
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_vit import TorchViT  # noqa: E402

MODELS = [("vit_tiny_augreg", "vit_tiny_patch16_224.augreg_in21k_ft_in1k"),
          ("deit_tiny_pipevit", "deit_tiny_patch16_224.pipevit")]
IMAGES = ["n01443537_goldfish", "n02123045_tabby"]
FUSIONS = ["mean", "max", "min"]
DISCARDS = [0.0, 0.9]


def fuse(attn, mode):
    """attn: [heads, N, N] float32 -> [N, N] float32."""
    if mode == "mean":
        return attn.mean(dim=0)
    if mode == "max":
        return attn.max(dim=0).values
    return attn.min(dim=0).values


def rollout(attentions, mode, discard, prefix, grid):
    """attentions: per layer [heads, N, N] of one image. Returns (map [gh, gw] float64, smallest relative gap
    between the k-th and (k+1)-th smallest fused values over the layers: how close the discard cut was)."""
    n = attentions[0].shape[-1]
    eye = torch.eye(n, dtype=torch.float64)
    result = eye.clone()
    min_gap = float("inf")
    for attn in attentions:
        f = fuse(attn, mode).clone()
        if discard > 0:
            flat = f.view(-1)
            k = int(flat.numel() * discard)
            sorted_vals = torch.sort(flat).values.double()
            if k < flat.numel():
                lo, hi = sorted_vals[k - 1].item(), sorted_vals[k].item()
                min_gap = min(min_gap, (hi - lo) / max(hi, 1e-30))
            idx = torch.topk(flat, k, largest=False).indices
            flat[idx[idx != 0]] = 0.0
        a = (f.double() + eye) / 2.0
        a = a / a.sum(dim=-1, keepdim=True)
        result = a @ result
    m = result[0, prefix:].reshape(grid)
    return (m / m.max()).numpy(), min_gap


def main():
    here = pathlib.Path(__file__).resolve()
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=pathlib.Path, default=here.parents[3] / "shared")
    ap.add_argument("--out", type=pathlib.Path, default=here.parents[2] / "tests" / "data" / "rollout")
    args = ap.parse_args()
    torch.set_num_threads(2)

    cases, sanity = [], []
    for short, model_name in MODELS:
        vit = TorchViT(args.shared / "models" / model_name)
        for img in IMAGES:
            base = args.shared / "reference" / f"{short}__{img}"
            x = np.fromfile(str(base) + ".input_f32_3x224x224.bin", dtype="<f4").reshape(1, 3, 224, 224)
            ref_logits = np.fromfile(str(base) + ".logits_f32_1000.bin", dtype="<f4")
            logits, attentions = vit.forward(torch.from_numpy(x.copy()))
            logit_diff = float(np.abs(logits[0].numpy() - ref_logits).max())
            same_top1 = int(logits[0].argmax()) == int(ref_logits.argmax())
            sanity.append({"model": model_name, "input": f"{short}__{img}", "logits_max_abs_diff": logit_diff,
                           "top1_agrees": same_top1})
            print(f"{model_name} {img}: torch vs shared reference logits max|diff| = {logit_diff:.3g}, "
                  f"top-1 agrees: {same_top1}")
            per_image = [a[0] for a in attentions]
            n_patches = per_image[0].shape[-1] - vit.prefix
            side = int(round(n_patches ** 0.5))
            for mode in FUSIONS:
                for discard in DISCARDS:
                    m, gap = rollout(per_image, mode, discard, vit.prefix, (side, side))
                    cases.append({"model": model_name, "input": f"{short}__{img}", "head_fusion": mode,
                                  "discard_ratio": discard, "grid_h": side, "grid_w": side,
                                  "min_relative_gap_at_discard_cut": None if gap == float("inf") else gap,
                                  "map": [float(f"{v:.9g}") for v in m.reshape(-1)]})
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "rollout_goldens.json"
    doc = {"generator": "tools/goldens/rollout_reference.py", "torch": torch.__version__,
           "definition": __doc__.split("Usage:")[0].strip(), "sanity": sanity, "cases": cases}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cases)} maps to {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
