#!/usr/bin/python3
"""int8 against fp32 on a folder of ImageNet photos (issue 18, item 2): `vitvk classify --precision fp32` and
`--precision int8` (CPU backend) over the same photos, then top-1 agreement between the two and, where the file
names start with WordNet ids (the shared sample: one photo per class), top-1 accuracy of each, the label being
the id's position in sorted order (= ImageNet class index order). Prints a table and writes JSON (--json).
A tool that prints figures, not a test; tests/engine/test_cpu_int8.cpp checks every 5th photo.

    /usr/bin/python3 tools/bench/int8_accuracy.py ../shared/data/imagenet-sample-images \\
        --model ../shared/models/vit_tiny_patch16_224.augreg_in21k_ft_in1k --model ../shared/models/deit_tiny_patch16_224.pipevit

Extra `--variant NAME=ENV=VALUE` runs int8 again with an environment setting (e.g. a layer kept in fp32).
"""
import argparse
import csv
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent.parent
WNID = re.compile(r"^(n\d{8})")


def sample_photos(folder):
    """The photos whose names start with a WordNet id, sorted, and their ImageNet class index (the id's position in
    the sorted ids) where the folder holds all 1000 classes, else {}. int8_sim.py reads photos the same way."""
    names = sorted(n for n in os.listdir(folder) if WNID.match(n))
    wnids = sorted({WNID.match(n)[1] for n in names})
    index = {w: i for i, w in enumerate(wnids)}
    return names, ({n: index[WNID.match(n)[1]] for n in names} if len(wnids) == 1000 else {})


def classify(exe, folder, model, precision, env_extra, out):
    env = dict(os.environ, **env_extra)
    p = subprocess.run([exe, "classify", folder, "--model", model, "-b", "cpu", "--precision", precision,
                        "--batch", "16", "-k", "1", "-f", "csv", "-o", out], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"classify failed: {p.stderr.strip()[-500:]}")
    top1 = {}
    with open(out, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0] == "path" or row[1]:
                continue
            top1[pathlib.Path(row[0]).name] = int(row[2])
    return top1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--variant", action="append", default=[], help="NAME=ENV=VALUE: another int8 run")
    ap.add_argument("--vitvk", default=str(REPO / "build" / "vitvk"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    names, label = sample_photos(a.folder)
    record = {"folder": a.folder, "photos": len(names), "loadavg": list(os.getloadavg()), "models": []}
    tmp = tempfile.TemporaryDirectory()
    print("| model | run | photos | top-1 agreement with fp32 | top-1 accuracy | vs fp32 (points) |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for model in a.model:
        runs = {"fp32": ("fp32", {}), "int8": ("int8", {})}
        for v in a.variant:
            name, env, value = v.split("=", 2)
            runs[name] = ("int8", {env: value})
        res = {k: classify(a.vitvk, a.folder, model, prec, env, os.path.join(tmp.name, k + ".csv"))
               for k, (prec, env) in runs.items()}
        ref = res["fp32"]
        acc_ref = sum(ref[n] == label[n] for n in ref) / len(ref) if label else None
        entry = {"model": model, "runs": {}}
        for k, top in res.items():
            common = [n for n in top if n in ref]
            agree = sum(top[n] == ref[n] for n in common) / len(common)
            acc = sum(top[n] == label[n] for n in top) / len(top) if label else None
            entry["runs"][k] = {"photos": len(top), "agreement": agree, "accuracy": acc,
                                "env": runs[k][1]}
            print(f"| {pathlib.Path(model).name} | {k} {runs[k][1] or ''} | {len(top)} | {100 * agree:.1f} % | "
                  + (f"{100 * acc:.1f} % | {100 * (acc - acc_ref):+.1f} |" if label else "- | - |"))
        record["models"].append(entry)
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
