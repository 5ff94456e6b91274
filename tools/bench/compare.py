#!/usr/bin/python3
"""Side-by-side throughput of vitvk (CPU and Vulkan backends), PyTorch (CPU, and CUDA where there is a GPU) and
ONNX Runtime (CPU).

One command, back to back, same architectures and batch sizes, random weights of the real shapes:

    /usr/bin/python3 tools/bench/compare.py --models tiny,small,base --batches 1,16 --reps 7 --rounds 3

Frameworks: vitvk-cpu, vitvk-cpu-int8 (--precision int8), vitvk-vulkan (fp32), vitvk-vulkan-fp16, torch (CPU, fp32), torch-cuda (fp32, TF32 off),
torch-cuda-fp16 (autocast, scaled_dot_product_attention), ort. The torch-cuda ones use timm's own model where
timm is installed (what people run), else tools/goldens/torch_vit.py. Every vitvk Vulkan cell is also checked
against the CPU backend (`vitvk bench --verify`) and records the result. On a GPU machine, see
tools/bench/gpu/run.sh.

Needs: build/vitvk; /usr/bin/python3 with Debian's python3-torch (the PyTorch side, and the ONNX export);
for ONNX Runtime, node plus `cd tools/bench && ONNXRUNTIME_NODE_INSTALL=skip npm install` (onnxruntime-node
ships its native library in the package). Frameworks that are missing are reported as skipped.

Each cell is `--reps` timed forward passes after `--warmup` untimed ones: median ms/batch, spread (min..max),
images/s from the median, and the ratio of images/s to vitvk's CPU backend; with `--rounds R` the frameworks
take turns R times per (model, batch) and a cell reports the median of its R medians (a shared machine's slow
spells, which last seconds to minutes, then fall on every framework alike). The machine's load average is
recorded before and after each cell, since on a small shared machine other processes skew every figure.
Prints a table (markdown) and writes the whole record as JSON (--json). A tool that prints figures, not a test.
"""
import argparse
import contextlib
import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
ARCHS = {  # name: (timm architecture, embed dim, heads, depth, patch, image size)
    "tiny": ("vit_tiny_patch16_224", 192, 3, 12, 16, 224),
    "small": ("vit_small_patch16_224", 384, 6, 12, 16, 224),
    "base": ("vit_base_patch16_224", 768, 12, 12, 16, 224),
    "base32_384": ("vit_base_patch32_384", 768, 12, 12, 32, 384),
}
# Other families (issue 19): the PyTorch and ONNX Runtime sides run timm's own model (random init, eval mode),
# exported by torch.onnx as it stands; vitvk runs `bench --arch` with random weights of the same shapes.
TIMM_ARCHS = {  # name: (timm architecture, image size)
    "swin_t": ("swin_tiny_patch4_window7_224", 224),
    "eva02_ti": ("eva02_tiny_patch14_224", 224),
}


def timm_module(arch):
    """timm's model for a TIMM_ARCHS entry; needs timm's source (VITVK_TEST_DATA/timm, default ../shared/timm)."""
    timm_src = pathlib.Path(os.environ.get("VITVK_TEST_DATA", REPO.parent / "shared")) / "timm"
    if str(timm_src) not in sys.path:
        sys.path.insert(0, str(timm_src))
    import timm
    return timm.create_model(arch, pretrained=False).eval()


def loadavg():
    return list(os.getloadavg())


def summarize(ms, batch):
    med = statistics.median(ms)
    return {"ms_median": med, "ms_min": min(ms), "ms_max": max(ms), "runs": len(ms),
            "images_per_s": batch * 1000.0 / med}


VERIFY_IMAGES = 2  # images of each Vulkan cell's batch checked against the CPU backend


def run_vitvk(exe, arch, batch, backend, precision, reps, warmup, timeout):
    cmd = [str(exe), "bench", "--arch", arch, "--backend", backend, "--batch", str(batch), "-n", str(reps),
           "--warmup", str(warmup), "--format", "json"]
    if backend == "vulkan":
        cmd += ["--precision", precision, "--verify", str(VERIFY_IMAGES)]
    elif precision != "fp32":
        cmd += ["--precision", precision]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}")
    j = json.loads(p.stdout.strip().splitlines()[-1])
    r = {"ms_median": j["ms_per_batch"], "ms_min": j["ms_min"], "ms_max": j["ms_max"], "runs": reps,
         "images_per_s": j["images_per_s"], "device": j["device"], "precision": j["precision"]}
    if "verify" in j:
        r["verify"] = j["verify"]
    if backend == "cpu" and "cpu_ms_per_batch" in j:
        # Process CPU time (all threads) over the timed passes, as `vitvk bench` measures it: the same
        # quantity as the ORT and PyTorch columns, which time their passes in-process too.
        r["cpu_ms_per_run"] = j["cpu_ms_per_batch"]
    return r


def random_vit(dim, heads, depth, patch, img, seed=0):
    """A TorchViT (tools/goldens/torch_vit.py) with random weights of the timm shapes."""
    import torch
    sys.path.insert(0, str(REPO / "tools" / "goldens"))
    from torch_vit import TorchViT
    g = torch.Generator().manual_seed(seed)
    t = (img // patch) ** 2 + 1

    def rn(*shape):
        return torch.randn(*shape, generator=g) * 0.02

    w = {"patch_embed.proj.weight": rn(dim, 3, patch, patch), "patch_embed.proj.bias": rn(dim),
         "cls_token": rn(1, 1, dim), "pos_embed": rn(1, t, dim), "norm.weight": torch.ones(dim),
         "norm.bias": torch.zeros(dim), "head.weight": rn(1000, dim), "head.bias": rn(1000)}
    for i in range(depth):
        p = f"blocks.{i}."
        for n in ("norm1", "norm2"):
            w[p + n + ".weight"], w[p + n + ".bias"] = torch.ones(dim), torch.zeros(dim)
        for n, (o, k) in {"attn.qkv": (3 * dim, dim), "attn.proj": (dim, dim), "mlp.fc1": (4 * dim, dim),
                          "mlp.fc2": (dim, 4 * dim)}.items():
            w[p + n + ".weight"], w[p + n + ".bias"] = rn(o, k), rn(o)
    vit = TorchViT.__new__(TorchViT)
    vit.config, vit.w, vit.heads, vit.patch, vit.depth, vit.prefix, vit.eps = {}, w, heads, patch, depth, 1, 1e-6
    # The same LayerNorm with a constant normalized shape: the ONNX exporter cannot trace x.shape[-1:].
    vit._ln = lambda x, n: torch.nn.functional.layer_norm(x, (dim,), w[n + ".weight"], w[n + ".bias"], vit.eps)
    return vit


def torch_module(vit):
    import torch

    class Logits(torch.nn.Module):
        def forward(self, images):
            return vit.forward(images)[0]

    return Logits().eval()


def run_torch(module, img, batch, reps, warmup):
    import torch
    x = torch.randn(batch, 3, img, img, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        for _ in range(warmup):
            module(x)
        ms = []
        c0 = time.process_time()
        for _ in range(reps):
            t0 = time.perf_counter()
            module(x)
            ms.append((time.perf_counter() - t0) * 1e3)
        cpu = (time.process_time() - c0) * 1e3 / reps
    r = summarize(ms, batch)
    r["cpu_ms_per_run"] = cpu
    return r


def cuda_model(arch, dim, heads, depth, patch, img):
    """(module, description) for torch-cuda: timm's own VisionTransformer where timm is installed (random init,
    eval mode; its attention goes through F.scaled_dot_product_attention where timm's fused_attn is on), else the
    TorchViT of tools/goldens with random weights. Raises where PyTorch sees no CUDA device."""
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device")
    try:
        import timm
        m = timm.create_model(arch, pretrained=False, num_classes=1000).eval().cuda()
        fused = getattr(m.blocks[0].attn, "fused_attn", None)
        return m, f"timm {timm.__version__} {arch}, fused_attn={fused}"
    except ImportError:
        vit = random_vit(dim, heads, depth, patch, img)
        for k in vit.w:  # in place: the LayerNorm closure holds the same dict
            vit.w[k] = vit.w[k].cuda()
        return torch_module(vit), "tools/goldens/torch_vit.py (timm not installed; attention without SDPA)"


def run_torch_cuda(module, img, batch, reps, warmup, fp16):
    """Wall time of whole passes, synchronised after each (as vitvk bench times its passes)."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32: no TF32 tensor cores
    torch.backends.cudnn.allow_tf32 = False
    x = torch.randn(batch, 3, img, img, generator=torch.Generator().manual_seed(3)).cuda()
    ctx = torch.autocast("cuda", dtype=torch.float16) if fp16 else contextlib.nullcontext()
    with torch.inference_mode(), ctx:
        for _ in range(max(1, warmup)):
            module(x)
        torch.cuda.synchronize()
        ms = []
        for _ in range(reps):
            t0 = time.perf_counter()
            module(x)
            torch.cuda.synchronize()
            ms.append((time.perf_counter() - t0) * 1e3)
    r = summarize(ms, batch)
    r["device"] = torch.cuda.get_device_name()
    r["precision"] = "fp16 autocast" if fp16 else "fp32"
    return r


def export_onnx(module, img, path):
    import torch
    x = torch.randn(1, 3, img, img)
    torch.onnx.export(module, (x,), str(path), input_names=["images"], output_names=["logits"],
                      dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                      do_constant_folding=True)


def run_ort(model_path, batch, reps, warmup, threads, timeout):
    p = subprocess.run(["node", str(HERE / "ort_bench.mjs"), str(model_path), str(batch), str(warmup), str(reps),
                        str(threads)], capture_output=True, text=True, timeout=timeout, cwd=HERE)
    if p.returncode != 0:
        raise RuntimeError((p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1])
    j = json.loads(p.stdout.strip().splitlines()[-1])
    r = summarize(j["ms"], batch)
    r["cpu_ms_per_run"] = j["cpu_ms_per_run"]
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="tiny,small,base",
                    help="comma list of " + ",".join(list(ARCHS) + list(TIMM_ARCHS)))
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--frameworks", default="vitvk-cpu,vitvk-vulkan,torch,ort")
    ap.add_argument("--reps", type=int, default=5, help="timed runs per cell")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat each (model, batch) this many times, the frameworks interleaved; report the median "
                         "of the rounds' medians (a shared machine's slow spells then hit every framework alike)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for ORT (vitvk uses all cores)")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="threads for PyTorch (default 1: Debian's torch runs its OpenMP threads on top of "
                         "OpenBLAS's pthreads, and on a loaded 2-core machine the two pools spin against each "
                         "other: 30x more CPU time per image measured at 2 threads)")
    ap.add_argument("--vitvk", default=str(REPO / "build" / "vitvk"),
                    help="the vitvk binary (or build/tools/vitvk_bench_lean, which has the same bench command)")
    ap.add_argument("--baseline", default="vitvk-cpu", help="the framework the ratio column divides by")
    ap.add_argument("--json", default=None, help="write the full record here")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    a = ap.parse_args()
    frameworks = a.frameworks.split(",")
    record = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "host": platform.node(), "cpu_count": os.cpu_count(), "threads": a.threads,
              "torch_threads": a.torch_threads, "reps": a.reps, "rounds": a.rounds,
              "warmup": a.warmup, "weights": "random (timm shapes)", "loadavg_start": loadavg(), "cells": [],
              "env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP", "VITVK"))}}
    if "OPENBLAS_CORETYPE" in os.environ:
        print(f"note: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} forces OpenBLAS's kernel choice "
              "(vitvk's CPU GEMMs); unset it to let OpenBLAS detect the CPU", file=sys.stderr)
    try:
        import torch
        torch.set_num_threads(a.torch_threads)
        record["torch"] = torch.__version__
    except ImportError:
        torch = None
    tmp = tempfile.TemporaryDirectory(prefix="vitvk-bench-")
    for name in a.models.split(","):
        module = onnx_path = cuda = None
        if name in TIMM_ARCHS:
            arch, img = TIMM_ARCHS[name]
            if torch is not None and ("torch" in frameworks or "ort" in frameworks):
                try:
                    module = timm_module(arch)
                except Exception as e:  # noqa: BLE001 - no timm source: the torch and ORT cells are skipped
                    print(f"timm model {arch} unavailable: {e}", file=sys.stderr)
        else:
            arch, dim, heads, depth, patch, img = ARCHS[name]
            if torch is not None and ("torch" in frameworks or "ort" in frameworks):
                module = torch_module(random_vit(dim, heads, depth, patch, img))
        if any(fw.startswith("torch-cuda") for fw in frameworks) and name in ARCHS:
            try:
                cuda = cuda_model(arch, dim, heads, depth, patch, img)
                record.setdefault("torch_cuda_model", {})[arch] = cuda[1]
            except Exception as e:  # noqa: BLE001 - no torch, no GPU: those cells are skipped
                cuda = str(e)
        if "ort" in frameworks and module is not None:
            onnx_path = pathlib.Path(tmp.name) / f"{arch}.onnx"
            try:
                export_onnx(module, img, onnx_path)
            except Exception as e:  # noqa: BLE001 - reported in the record
                print(f"ONNX export failed for {arch}: {e}", file=sys.stderr)
                onnx_path = None
        for batch in [int(b) for b in a.batches.split(",")]:
            # Rounds interleave the frameworks, so that a slow spell of a shared machine falls on all of them.
            rounds = {fw: [] for fw in frameworks}
            cells = {fw: {"model": arch, "batch": batch, "framework": fw, "loadavg_before": loadavg()}
                     for fw in frameworks}
            for _ in range(a.rounds):
                for fw in frameworks:
                    if "skipped" in cells[fw]:
                        continue
                    try:
                        if fw in ("vitvk-cpu", "vitvk-cpu-int8", "vitvk-vulkan", "vitvk-vulkan-fp16"):
                            backend = fw.split("-")[1]
                            precision = fw.split("-")[2] if fw.count("-") == 2 else "fp32"
                            r = run_vitvk(a.vitvk, arch, batch, backend, precision, a.reps, a.warmup, a.timeout)
                        elif fw in ("torch-cuda", "torch-cuda-fp16"):
                            if not isinstance(cuda, tuple):
                                raise RuntimeError(cuda or "python3-torch not available (or not a ViT)")
                            r = run_torch_cuda(cuda[0], img, batch, a.reps, a.warmup, fw.endswith("fp16"))
                        elif fw == "torch":
                            if module is None:
                                raise RuntimeError("python3-torch not available")
                            r = run_torch(module, img, batch, a.reps, a.warmup)
                        elif fw == "ort":
                            if onnx_path is None:
                                raise RuntimeError("no ONNX model (torch missing or export failed)")
                            r = run_ort(onnx_path, batch, a.reps, a.warmup, a.threads, a.timeout)
                        else:
                            raise RuntimeError("unknown framework")
                        rounds[fw].append(r)
                    except Exception as e:  # noqa: BLE001 - a missing framework is a skipped cell, not a failure
                        cells[fw]["skipped"] = str(e)
            for fw in frameworks:
                cell = cells[fw]
                if "skipped" not in cell and rounds[fw]:
                    rs = rounds[fw]
                    cell.update(rs[0])
                    if len(rs) > 1:  # median of the rounds' medians; spread over every run
                        cell["round_medians"] = [r["ms_median"] for r in rs]
                        cell["ms_median"] = statistics.median(cell["round_medians"])
                        cell["ms_min"] = min(r["ms_min"] for r in rs)
                        cell["ms_max"] = max(r["ms_max"] for r in rs)
                        cell["runs"] = sum(r["runs"] for r in rs)
                        cell["images_per_s"] = batch * 1000.0 / cell["ms_median"]
                        if all("cpu_ms_per_run" in r for r in rs):
                            cell["cpu_ms_per_run"] = statistics.mean(r["cpu_ms_per_run"] for r in rs)
                        if all("verify" in r for r in rs):  # the worst round's check
                            cell["verify"] = max((r["verify"] for r in rs), key=lambda v: v["max_abs_diff"])
                cell["loadavg_after"] = loadavg()
                record["cells"].append(cell)
                print(f"  {arch} b{batch} {fw}: " + (f"{cell['ms_median']:.1f} ms" if "ms_median" in cell
                                                     else "skipped: " + cell["skipped"]), file=sys.stderr, flush=True)
    record["loadavg_end"] = loadavg()
    # Ratios: images/s relative to the baseline framework in the same (model, batch).
    record["baseline"] = a.baseline
    base = {(c["model"], c["batch"]): c["images_per_s"] for c in record["cells"]
            if c["framework"] == a.baseline and "images_per_s" in c}
    for c in record["cells"]:
        if "images_per_s" in c and (c["model"], c["batch"]) in base:
            c["vs_baseline"] = c["images_per_s"] / base[(c["model"], c["batch"])]
    print(f"date {record['date']}, {record['cpu_count']} CPUs, ORT threads {a.threads}, torch threads {a.torch_threads}, {a.reps} runs x {a.rounds} rounds/cell, "
          f"loadavg start {record['loadavg_start']} end {record['loadavg_end']}")
    devices = sorted({c["device"] for c in record["cells"] if "device" in c})
    if devices:
        print("devices: " + "; ".join(devices))
    print(f"| model | batch | framework | ms/batch median | spread (min..max) | images/s | × {a.baseline} "
          "| CPU ms/image | vs CPU backend (max |Δlogit|) | load before→after |")
    print("| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | --- | --- |")
    for c in record["cells"]:
        la = f"{c['loadavg_before'][0]:.1f}→{c['loadavg_after'][0]:.1f}"
        v = c.get("verify")
        check = "–" if v is None else f"{v['max_abs_diff']:.2g}" + ("" if v["ok"] else " FAILED")
        if "ms_median" in c:
            print(f"| {c['model']} | {c['batch']} | {c['framework']} | {c['ms_median']:.2f} | "
                  f"{c['ms_min']:.2f}..{c['ms_max']:.2f} | {c['images_per_s']:.1f} | "
                  f"{c.get('vs_baseline', float('nan')):.2f} | "
                  + (f"{c['cpu_ms_per_run'] / c['batch']:.1f}" if "cpu_ms_per_run" in c else "–")
                  + f" | {check} | {la} |")
        else:
            print(f"| {c['model']} | {c['batch']} | {c['framework']} | skipped: {c['skipped']} | | | | | | {la} |")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
