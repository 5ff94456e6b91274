#!/usr/bin/python3
"""vitvk.dask and the Python binding against the CLI and the C++ API (a tool that prints figures, not a test).

  /usr/bin/python3 tools/bench/dask_bench.py [--folder ../shared/data/imagenet-sample-images]
      [--model ../shared/models/vit_tiny_patch16_224.augreg_in21k_ft_in1k] [--rounds 3] [--workers 2]

Part 1, photos/s over a folder: `vitvk classify FOLDER --format jsonl` (wall clock of the process, model load
included) against vitvk.dask.classify_paths(...).compute() on a LocalCluster of --workers processes with one thread
each (wall clock of the compute; the cluster is started once; the first round includes each worker's model load,
reported separately). Rounds alternate CLI / Dask so that load from other users of the machine hits both alike.

Part 2, the binding's cost: Classifier.classify on a batch of 16 uint8 arrays (already decoded) against the C++
API's Classifier::classify on the same 16 images (tests/python's vitvk_pytest_helper `time`), interleaved rounds of
--calls calls each, medians compared. CPU backend throughout.

Needs the build tree's module (PYTHONPATH=build/python, set here from --build) and the helper built with the tests.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The environment as the user's shell gave it. Starting a LocalCluster changes this process's os.environ
# (distributed's nanny.pre-spawn-environ: MALLOC_TRIM_THRESHOLD_=65536, OMP/MKL/OPENBLAS_NUM_THREADS=1), and the
# CLI and the C++ helper started after that would inherit it: MALLOC_TRIM_THRESHOLD_ alone made the CLI 1.43x
# slower on the 1000 photos (426,824 minor page faults instead of 37,528). They run with this copy instead.
CLEAN_ENV = dict(os.environ)


def uptime():
    return Path("/proc/loadavg").read_text().split()[:3]


def cli_run(cli, folder, model, batch):
    t0 = time.perf_counter()
    r = subprocess.run([cli, "classify", str(folder), "--model", model, "--backend", "cpu", "--format", "jsonl",
                        "--batch", str(batch), "-q"], capture_output=True, text=True, env=CLEAN_ENV)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 2):
        sys.exit(f"CLI failed: {r.stderr}")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    return dt, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", default=str(ROOT.parent / "shared/data/imagenet-sample-images"))
    ap.add_argument("--model", default=str(ROOT.parent / "shared/models/vit_tiny_patch16_224.augreg_in21k_ft_in1k"))
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--calls", type=int, default=10, help="classify calls per round in part 2")
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--skip-binding", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    a = ap.parse_args()

    build = Path(a.build)
    sys.path.insert(0, str(build / "python"))
    os.environ["PYTHONPATH"] = str(build / "python") + os.pathsep + os.environ.get("PYTHONPATH", "")
    import vitvk
    import vitvk.dask

    cli = str(build / "vitvk")
    helper = str(build / "tests/python/vitvk_pytest_helper")
    print(f"vitvk {vitvk.__version__}, model {a.model}, {os.cpu_count()} cores, load {uptime()}")

    if not a.skip_dask:
        from distributed import Client, LocalCluster
        n = len(vitvk.dask.list_images(a.folder))
        print(f"\n## classify {n} photos in {a.folder}: CLI vs vitvk.dask ({a.workers} workers x 1 thread)")
        with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=40) as cluster, Client(cluster) as client:
            client.wait_for_workers(a.workers)
            cli_times, dask_times, ratios = [], [], []
            for r in range(a.rounds):
                dt, cli_rows = cli_run(cli, a.folder, a.model, a.batch)
                cli_times.append(dt)
                load_cli = uptime()
                t0 = time.perf_counter()
                frame = vitvk.dask.classify_paths(a.folder, model=a.model, client=client, batch=a.batch,
                                                  backend="cpu").compute()
                dd_t = time.perf_counter() - t0
                dask_times.append(dd_t)
                ratios.append(dt / dd_t)
                same = (list(frame.path) == [c["path"] for c in cli_rows] and
                        all((c.get("top") or [{}])[0].get("index", -1) == i
                            for c, i in zip(cli_rows, frame.top1_index)))
                print(f"round {r}: CLI {n / dt:6.1f} photos/s ({dt:.2f} s, load {load_cli}), "
                      f"dask {n / dd_t:6.1f} photos/s ({dd_t:.2f} s{', incl. model load' if r == 0 else ''}, "
                      f"load {uptime()}), top-1 equal: {same}, ratio {dt / dd_t:.3f}")
            warm = ratios[1:] or ratios
            print(f"median CLI {n / statistics.median(cli_times):.1f} photos/s, median dask "
                  f"{n / statistics.median(dask_times):.1f} photos/s; dask / CLI photos/s, median of the per-round "
                  f"ratios: {statistics.median(ratios):.3f} (rounds after the first, no model load: "
                  f"{statistics.median(warm):.3f})")

    if not a.skip_binding:
        files = vitvk.dask.list_images(a.folder)[:16]
        arrays = [vitvk.load_image(f) for f in files]
        clf = vitvk.Classifier(a.model, backend="cpu", max_batch=16)
        print(f"\n## classify a batch of 16 arrays: Python binding vs C++ API, {a.calls} calls per round "
              f"(VITVK_CPU_THREADS={os.environ.get('VITVK_CPU_THREADS', 'default')})")
        clf.classify(arrays)  # warm-up
        py_t, cc_t = [], []
        for r in range(a.rounds):
            out = subprocess.run([helper, "time", a.model, str(a.calls + 1), *files], capture_output=True, text=True,
                                 check=True, env=CLEAN_ENV).stdout.split("\n")
            c = [float(line.split()[0]) for line in out if line.strip()][1:]  # the first call warms up
            t = []
            for _ in range(a.calls):
                t0 = time.perf_counter()
                clf.classify(arrays)
                t.append(time.perf_counter() - t0)
            cc_t += c
            py_t += t
            print(f"round {r}: C++ median {statistics.median(c) * 1e3:.1f} ms, Python median "
                  f"{statistics.median(t) * 1e3:.1f} ms, ratio {statistics.median(t) / statistics.median(c):.4f}, "
                  f"load {uptime()}")
        print(f"overall: C++ {statistics.median(cc_t) * 1e3:.2f} ms, Python {statistics.median(py_t) * 1e3:.2f} ms "
              f"per call of 16: Python / C++ = {statistics.median(py_t) / statistics.median(cc_t):.4f}")

    if not a.skip_overhead:
        # Part 3: the binding's fixed cost per call, where the forward pass is too small to hide it: a random-weight
        # 32x32 model (tests/support/tiny_model.hpp), 16 arrays of 32x32, one CPU thread on both sides.
        import tempfile
        import numpy as np
        with tempfile.TemporaryDirectory() as tmp:
            tiny = os.path.join(tmp, "tiny")
            subprocess.run([helper, "model", tiny], check=True, env=CLEAN_ENV)
            rng = np.random.default_rng(1)
            arrays = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(16)]
            files = []
            from PIL import Image
            for i, arr in enumerate(arrays):
                files.append(os.path.join(tmp, f"{i}.png"))
                Image.fromarray(arr).save(files[-1])
            env = dict(CLEAN_ENV, VITVK_CPU_THREADS="1")
            os.environ["VITVK_CPU_THREADS"] = "1"
            clf = vitvk.Classifier(tiny, backend="cpu", max_batch=16)
            calls = 2000
            print(f"\n## fixed cost per call: 16 arrays of 32x32 on a random 32x32 model, 1 thread, {calls} calls per side")
            # A fresh C++ process pays page faults for the per-call buffers (glibc mmaps blocks over 128 KiB until its
            # dynamic threshold rises); the Python process, with its malloc history, mostly does not. So the C++ side
            # also runs with the threshold raised (MALLOC_MMAP_THRESHOLD_), which is the like-for-like figure.
            env_mm = dict(env, MALLOC_MMAP_THRESHOLD_="16777216", MALLOC_TRIM_THRESHOLD_="67108864")
            py_t, cc_t, mm_t = [], [], []
            for r in range(a.rounds):
                res = []
                for e in (env, env_mm):
                    out = subprocess.run([helper, "time", tiny, str(calls), *files], capture_output=True, text=True,
                                         check=True, env=e).stdout.split("\n")
                    res.append([float(line.split()[0]) for line in out if line.strip()][calls // 10:])
                c, m = res
                t = []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    clf.classify(arrays)
                    t.append(time.perf_counter() - t0)
                t = t[calls // 10:]
                cc_t += c
                mm_t += m
                py_t += t
                print(f"round {r}: C++ median {statistics.median(c) * 1e6:.0f} us (mmap threshold raised: "
                      f"{statistics.median(m) * 1e6:.0f} us), Python median {statistics.median(t) * 1e6:.0f} us per "
                      f"call, load {uptime()}")
            d = statistics.median(py_t) - statistics.median(mm_t)
            print(f"overall: C++ {statistics.median(cc_t) * 1e6:.0f} us ({statistics.median(mm_t) * 1e6:.0f} us with "
                  f"the threshold raised), Python {statistics.median(py_t) * 1e6:.0f} us: the binding adds "
                  f"{d * 1e6:.0f} us per call of 16 images against the like-for-like C++ figure")


if __name__ == "__main__":
    main()
