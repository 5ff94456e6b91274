"""vitvk.dask on a real 2-process LocalCluster: rows equal the CLI's, bad files are error rows, and a worker
killed with SIGKILL mid-job loses nothing."""
import json
import inspect
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
import vitvk  # noqa: E402
import vitvk.dask  # noqa: E402
from conftest import CLI, SAMPLES, reference, shared_dir, write_model  # noqa: E402

TIMEOUT = 120  # seconds any one wait on the cluster may take before the test fails
N_PHOTOS = 40


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Random weights, 64x64 input, patch 8 (8x8 grid), dim 48, 3 blocks, 3 heads, 20 classes: a few ms per image."""
    return write_model(tmp_path_factory.mktemp("models") / "mid", 64, 8, 48, 3, 3, 20, 11)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """N_PHOTOS photos in nested folders: the shared ImageNet samples when present, else variants of samples/."""
    root = tmp_path_factory.mktemp("photos")
    shared = shared_dir()
    src = shared / "data/imagenet-sample-images" if shared else None
    if src and src.is_dir():
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))[:N_PHOTOS]
        for i, f in enumerate(files):
            d = root / f"part{i % 3}"
            d.mkdir(exist_ok=True)
            shutil.copy(f, d / f.name)
    else:
        from PIL import Image
        base = sorted(SAMPLES.glob("*.jpg"))
        for i in range(N_PHOTOS):
            im = Image.open(base[i % len(base)]).convert("RGB")
            w, h = im.size
            s = 0.3 + 0.1 * (i // len(base))
            im = im.crop((i % 7, i % 5, w - i % 11, h - i % 3)).resize((max(8, int(w * s)), max(8, int(h * s))))
            d = root / f"part{i % 3}"
            d.mkdir(exist_ok=True)
            im.save(d / f"gen_{i:03d}.{'png' if i % 4 == 0 else 'jpg'}")
    return root


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=40) as cluster, Client(cluster, timeout=TIMEOUT) as c:
        c.wait_for_workers(2, timeout=TIMEOUT)
        yield c


def cli_rows(model, folder, top_k=5):
    r = subprocess.run([CLI, "classify", str(folder), "--model", model, "--backend", "cpu", "--format", "jsonl",
                        "-k", str(top_k), "-q"], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode in (0, 2), r.stderr  # 2: some inputs failed (still one row each)
    return [json.loads(line) for line in r.stdout.splitlines()]


def assert_rows_equal_cli(frame, cli, top_k=5):
    assert list(frame.index) == list(range(len(cli))), "every input exactly once, in order"
    assert list(frame.path) == [c["path"] for c in cli]
    for (_, row), c in zip(frame.iterrows(), cli):
        if "error" in c:
            assert row.error == c["error"], row.path
            assert row.top1_index == -1 and np.isnan(row.top1_prob)
            continue
        assert row.error is None, f"{row.path}: {row.error}"
        top = c["top"]
        assert [row[f"top{k + 1}_index"] for k in range(top_k)] == [t["index"] for t in top]
        assert [row[f"top{k + 1}_label"] for k in range(top_k)] == [t["label"] for t in top]
        np.testing.assert_allclose([row[f"top{k + 1}_prob"] for k in range(top_k)], [t["prob"] for t in top],
                                   rtol=0, atol=1e-6)


def _churn_faults():
    """Page faults of 40 buffers of 4 MiB, each filled and freed, as batches are (run on a worker, or in CHURN)."""
    import resource
    f = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        np.ones(1 << 20, dtype=np.float32).sum()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f


def test_listing_matches_cli(model, photos):
    cli = cli_rows(model, photos)
    assert vitvk.dask.list_images(photos) == [c["path"] for c in cli]
    assert len(cli) == N_PHOTOS


def test_classify_equals_cli(client, model, photos):
    df = vitvk.dask.classify_paths(photos, model=model, client=client, batch=4, top_k=5, backend="cpu")
    assert df.npartitions >= 8  # four per worker thread: both workers stay busy
    assert df.known_divisions
    frame = df.compute(timeout=TIMEOUT)
    assert_rows_equal_cli(frame, cli_rows(model, photos))
    # both workers loaded the model once and did part of the work
    loaded = client.run(lambda: len(__import__("vitvk.dask").dask._cache))
    assert sorted(loaded.values()) == [1, 1]
    # and, loading it, set glibc's thresholds back from the nanny's MALLOC_TRIM_THRESHOLD_: large buffers are
    # reused, not mapped anew (about 20,000 page faults for this churn under the nanny's setting)
    assert all(f < 5000 for f in client.run(_churn_faults).values())


def test_scheduler_address_jsonl_and_embed(client, model, photos, tmp_path):
    from distributed import Client
    with Client(client.scheduler.address, timeout=TIMEOUT, set_as_default=False) as other:
        df = vitvk.dask.classify_paths(photos, model=model, client=other, backend="cpu", top_k=3)
        out = tmp_path / "out.jsonl"
        assert vitvk.dask.to_jsonl(df, out, client=other) == N_PHOTOS
        got = [json.loads(line) for line in out.read_text().splitlines()]
        cli = cli_rows(model, photos, top_k=3)
        assert [g["path"] for g in got] == [c["path"] for c in cli]
        for g, c in zip(got, cli):
            assert [t["index"] for t in g["top"]] == [t["index"] for t in c["top"]]
            np.testing.assert_allclose([t["prob"] for t in g["top"]], [t["prob"] for t in c["top"]], rtol=0, atol=1e-6)
        emb = vitvk.dask.embed_paths(photos, model=model, client=other, backend="cpu", batch=5).compute(timeout=TIMEOUT)
    paths = list(emb.path)
    ref = reference(model, paths, 1)
    for p, e in zip(paths, emb.embedding):
        assert e.dtype == np.float32 and e.shape == (48,)
        np.testing.assert_allclose(e, ref[p]["embedding"], rtol=0, atol=1e-6)
    assert np.stack(emb.embedding).shape == (N_PHOTOS, 48)


def test_bad_files_are_rows(client, model, photos, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(photos / "part0", folder / "good")
    good = sorted((folder / "good").iterdir())
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("this is not an image\n")
    data = good[0].read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "notes.txt").write_text("not an image extension: not listed\n")
    os.symlink(folder / "gone.jpg", folder / "dangling.jpg")
    (folder / "unreadable.jpg").write_bytes(data)
    os.chmod(folder / "unreadable.jpg", 0)
    df = vitvk.dask.classify_paths([folder, tmp_path / "missing.jpg"], model=model, client=client, backend="cpu",
                                   batch=3)
    frame = df.compute(timeout=TIMEOUT)
    cli = cli_rows(model, folder)  # the CLI on the folder ...
    cli += cli_rows(model, tmp_path / "missing.jpg")              # ... and on the missing path
    assert_rows_equal_cli(frame, cli)
    errors = dict(zip(frame.path, frame.error))
    assert errors[str(tmp_path / "missing.jpg")] == "no such file or folder"
    for name in ("empty.jpg", "text.png", "dangling.jpg"):
        assert errors[str(folder / name)], name
    if os.geteuid() != 0:  # root reads anything
        assert errors[str(folder / "unreadable.jpg")]
    assert sum(e is None for e in frame.error) >= len(good)


# In a fresh interpreter: the churn's faults under the environment given, the thresholds undone, the churn again.
CHURN = "import resource\nimport numpy as np\nimport vitvk.dask\n\n" + inspect.getsource(_churn_faults) + """
before = _churn_faults()
undone = vitvk.dask._undo_dask_malloc_trim()
print(before, undone, _churn_faults())
"""


@pytest.mark.parametrize("environ, expect_undone", [({"MALLOC_TRIM_THRESHOLD_": "65536"}, True),
                                                    ({"MALLOC_TRIM_THRESHOLD_": "65536", "VITVK_DASK_MALLOC": "keep"}, False),
                                                    ({}, False)])
def test_dask_malloc_trim_undone(environ, expect_undone):
    """Dask's nannies give workers MALLOC_TRIM_THRESHOLD_=65536, under which every large buffer is a fresh mmap
    (page faults on each batch); a vitvk worker sets glibc's thresholds back, unless told to keep them."""
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_TRIM_THRESHOLD_", "VITVK_DASK_MALLOC")}
    env.update(environ)
    r = subprocess.run([sys.executable, "-c", CHURN], capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    before, undone, after = r.stdout.split()
    assert undone == str(expect_undone)
    if "MALLOC_TRIM_THRESHOLD_" in environ:
        assert int(before) > 10000, "under the trim threshold each 4 MiB buffer is faulted in anew"
        if expect_undone:
            assert int(after) < int(before) // 10, (before, after)


def test_worker_killed_mid_job(client, model, photos):
    """SIGKILL one worker process while it holds tasks: Dask reruns them; every input once, equal to the CLI."""
    from distributed import wait
    df = vitvk.dask.classify_paths(photos, model=model, client=client, backend="cpu", batch=2, partition_size=2)
    parts = df.to_delayed()
    futures = client.compute(parts)
    pids = client.run(os.getpid)
    deadline = time.monotonic() + TIMEOUT
    victim = None
    while victim is None:
        assert time.monotonic() < deadline, "no partition finished in time"
        done = sum(f.done() for f in futures)
        if done >= 1:
            busy = {w: ks for w, ks in client.processing().items() if ks}
            if busy and done < len(futures):
                victim = next(iter(busy))
                remaining = len(futures) - done
                break
        time.sleep(0.005)
    os.kill(pids[victim], signal.SIGKILL)
    wait(futures, timeout=TIMEOUT)
    frames = client.gather(futures)
    import pandas as pd
    frame = pd.concat(frames)
    assert remaining > 0
    assert_rows_equal_cli(frame, cli_rows(model, photos))
    # the nanny restarted the killed worker: the cluster is whole again
    client.wait_for_workers(2, timeout=TIMEOUT)
    assert pids[victim] not in client.run(os.getpid).values()
