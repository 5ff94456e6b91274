#!/usr/bin/python3
"""Before / after: two vitvk binaries timed in turns on the same cells, so that a shared machine's slow spells fall
on both alike. A tool that prints figures, not a test.

    /usr/bin/python3 tools/bench/ab.py --a OLD/build/vitvk --b build/vitvk \\
        --cells cpu:vit_tiny_patch16_224:1,cpu:vit_tiny_patch16_224:16,vulkan:vit_tiny_patch16_224:8 --rounds 3
    /usr/bin/python3 tools/bench/ab.py --a OLD/build/vitvk --b build/vitvk --rss-folder PHOTOS --model MODEL_DIR

A cell is backend:arch:batch[:precision] (random weights of the architecture; `vitvk bench -f json`; precision
fp32 unless given, e.g. cpu:vit_base_patch16_224:16:int8). Each round runs every
cell once with A, then once with B (the order alternates from round to round); a cell's figure is the median over
rounds of each run's median ms/batch. With --rss-folder, both binaries classify the folder (CPU backend,
`-f csv -o`) in turns under /usr/bin/time, and the peak RSS of each run is printed.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile


def bench(binary, backend, arch, batch, iters, warmup, precision="fp32"):
    out = subprocess.run([binary, "bench", "--arch", arch, "-b", backend, "--batch", str(batch), "-n", str(iters),
                          "--warmup", str(warmup), "--precision", precision, "-f", "json"],
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["ms_per_batch"], j["cpu_ms_per_batch"]


def peak_rss_kb(binary, folder, model):
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "out.csv")
        r = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "classify", folder, "-m", model, "-b", "cpu",
                            "-f", "csv", "-o", csv], check=True, capture_output=True, text=True)
        return int(r.stderr.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="the 'before' vitvk binary")
    ap.add_argument("--b", required=True, help="the 'after' vitvk binary")
    ap.add_argument("--cells", default="", help="comma list of backend:arch:batch[:precision]")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=5, help="timed passes per run")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rss-folder", default=None)
    ap.add_argument("--model", default=None, help="model directory for --rss-folder")
    args = ap.parse_args()

    cells = [c.split(":") for c in args.cells.split(",") if c]
    times = {(tuple(c), side): [] for c in cells for side in "ab"}
    rss = {"a": [], "b": []}
    for r in range(args.rounds):
        order = "ab" if r % 2 == 0 else "ba"
        for c in cells:
            for side in order:
                ms, cpu = bench(getattr(args, side), c[0], c[1], int(c[2]), args.iters, args.warmup, *c[3:4])
                times[(tuple(c), side)].append(ms)
                print(f"round {r + 1} {side} {':'.join(c)}: {ms:.1f} ms/batch (CPU {cpu:.0f} ms), "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
        if args.rss_folder:
            for side in order:
                rss[side].append(peak_rss_kb(getattr(args, side), args.rss_folder, args.model))
                print(f"round {r + 1} {side} classify peak RSS {rss[side][-1]} KB", flush=True)

    if cells:
        print("\n| backend | arch | batch | precision | before ms/batch | after ms/batch | after / before |")
        print("| --- | --- | ---: | --- | ---: | ---: | ---: |")
        for c in cells:
            a = statistics.median(times[(tuple(c), "a")])
            b = statistics.median(times[(tuple(c), "b")])
            print(f"| {c[0]} | {c[1]} | {c[2]} | {(c[3:4] or ['fp32'])[0]} | {a:.1f} | {b:.1f} | {b / a:.3f} |")
    if args.rss_folder:
        a, b = statistics.median(rss["a"]), statistics.median(rss["b"])
        print(f"\nclassify peak RSS, median of {args.rounds}: before {a:.0f} KB, after {b:.0f} KB ({b / a:.3f})")


if __name__ == "__main__":
    main()
