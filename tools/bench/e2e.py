#!/usr/bin/python3
"""End to end against pure inference (issue 8, item 6): `vitvk classify` over a folder of photos, then `vitvk
bench` on the same model, backend and batch size, alternating for --pairs rounds so that a shared machine's slow
spells fall on both alike. Reports each pair's ratio (classify images/s over bench images/s) and the median, with
the machine's load, as a table and as JSON (--json). A tool that prints figures, not a test.

    /usr/bin/python3 tools/bench/e2e.py DIR --model MODEL_DIR [--backend cpu] [--batch 16] [--pairs 5]

classify's rate excludes model loading (its own summary line); bench times as many passes as classify ran
batches. On a 2-core CPU-only machine the forward pass already keeps both cores busy, so decoding can only share
them: the ceiling is F / (F + D) with F and D the CPU time per photo of inference and of decoding.
"""
import argparse
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
SUMMARY = re.compile(r"(\d+) classified, (\d+) failed, (\d+) inputs in ([\d.]+) s: ([\d.]+) images/s"
                     r"(?: \(inference alone ([\d.]+) images/s\))?")


def classify(exe, folder, model, backend, batch, out):
    p = subprocess.run([exe, "classify", folder, "--model", model, "-b", backend, "--batch", str(batch), "-f", "csv",
                        "-o", out], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"classify failed: {p.stderr.strip()[-500:]}")
    m = SUMMARY.search(p.stderr)
    if not m:
        sys.exit(f"no summary line in classify's output: {p.stderr.strip()[-500:]}")
    return {"classified": int(m[1]), "failed": int(m[2]), "seconds": float(m[4]), "images_per_s": float(m[5]),
            "inference_alone_images_per_s": float(m[6]) if m[6] else None}


def bench(exe, model, backend, batch, passes):
    p = subprocess.run([exe, "bench", "--model", model, "-b", backend, "--batch", str(batch), "-n", str(passes),
                        "--warmup", "2", "-f", "json"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench failed: {p.stderr.strip()[-500:]}")
    j = json.loads(p.stdout.strip().splitlines()[-1])
    return {"images_per_s": j["images_per_s"], "ms_per_batch": j["ms_per_batch"],
            "cpu_ms_per_batch": j["cpu_ms_per_batch"], "device": j["device"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--model", required=True)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--vitvk", default=str(REPO / "build" / "vitvk"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    pairs = []
    with tempfile.TemporaryDirectory(prefix="vitvk-e2e-") as tmp:
        for i in range(a.pairs):
            load0 = os.getloadavg()[0]
            c = classify(a.vitvk, a.folder, a.model, a.backend, a.batch, str(pathlib.Path(tmp) / "out.csv"))
            b = bench(a.vitvk, a.model, a.backend, a.batch, max(1, -(-c["classified"] // a.batch)))
            pair = {"classify": c, "bench": b, "ratio": c["images_per_s"] / b["images_per_s"],
                    "load": [load0, os.getloadavg()[0]]}
            pairs.append(pair)
            print(f"  pair {i + 1}: classify {c['images_per_s']:.1f} img/s, bench {b['images_per_s']:.1f} img/s, "
                  f"{100 * pair['ratio']:.1f} %", file=sys.stderr, flush=True)
    ratios = [p["ratio"] for p in pairs]
    print(f"{a.folder}, {pathlib.Path(a.model).name}, backend {a.backend} [{pairs[0]['bench']['device']}], "
          f"batch {a.batch}, {os.cpu_count()} CPUs")
    print("| pair | classify img/s (inference alone) | bench img/s | ratio | load |")
    print("| ---: | --- | ---: | ---: | --- |")
    for i, p in enumerate(pairs, 1):
        c = p["classify"]
        alone = f" ({c['inference_alone_images_per_s']:.1f})" if c["inference_alone_images_per_s"] else ""
        print(f"| {i} | {c['images_per_s']:.1f}{alone} | {p['bench']['images_per_s']:.1f} | "
              f"{100 * p['ratio']:.1f} % | {p['load'][0]:.1f}→{p['load'][1]:.1f} |")
    print(f"median ratio {100 * statistics.median(ratios):.1f} % (min {100 * min(ratios):.1f}, "
          f"max {100 * max(ratios):.1f})")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"folder": a.folder, "model": a.model, "backend": a.backend,
                                                    "batch": a.batch, "pairs": pairs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
