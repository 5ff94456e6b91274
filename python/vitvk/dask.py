"""vitvk.dask: classify or embed a photo collection on a Dask cluster.

    from distributed import Client, LocalCluster
    import vitvk.dask
    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))   # or Client("tcp://scheduler:8786")
    df = vitvk.dask.classify_paths("photos/", model="vit_tiny_patch16_224.augreg_in21k_ft_in1k", top_k=5)
    df.compute()                                   # pandas: input, path, error, top1_index, top1_label, top1_prob, ...
    vitvk.dask.to_jsonl(df, "out.jsonl")           # one file, the CLI's `--format jsonl` rows, in input order

The result is a lazy Dask DataFrame, one row per input in input order (the index, "input", is the position in the
list), with known divisions. An image that cannot be read or decoded is a row whose `error` column holds the reason
(the CLI's wording) and whose class columns are empty; it never fails the job. Each worker process loads the model
once (a per-process cache keyed by the model options) and runs its partition in batches. Lost workers are Dask's
business: their partitions are recomputed elsewhere, so every input appears exactly once.
"""
from __future__ import annotations

import json
import math
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd

import vitvk

__all__ = ["classify_paths", "embed_paths", "list_images", "to_jsonl", "IMAGE_EXTENSIONS"]

#: File extensions a folder walk picks up (compared case-insensitively): the same list as the CLI's.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".tif", ".tiff", ".webp",
                              ".ppm", ".pgm", ".pbm", ".pnm", ".pxm", ".pfm", ".sr", ".ras", ".jp2",
                              ".heic", ".heif", ".hif", ".avif", ".gif"})

#: Most images in one partition when the partitioning is automatic: bounds what a lost worker costs to redo.
MAX_PARTITION = 1024


# ---------------------------------------------------------------------------------------------------------------
# Inputs: the CLI's expansion of files and folders, so that a Dask run and a CLI run list the same images.

def _walk(root: str, out: List[Tuple[str, Optional[str]]]) -> None:
    visited = set()
    stack = [root]
    found: List[Tuple[str, Optional[str]]] = []
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
        except OSError as e:
            found.append((d, "cannot read folder: " + (e.strerror or str(e))))
            continue
        if (st.st_dev, st.st_ino) in visited:  # a symlink back to an ancestor: a loop
            continue
        visited.add((st.st_dev, st.st_ino))
        try:
            entries = list(os.scandir(d))
        except OSError as e:
            found.append((d, "cannot read folder: " + (e.strerror or str(e))))
            continue
        for e in entries:
            if not e.name or e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(e.path)
            elif os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS:
                regular = False
                try:
                    regular = e.is_file() or (e.is_symlink() and not os.path.exists(e.path))
                except OSError:
                    pass
                found.append((e.path, None if regular else "not a regular file"))
    found.sort(key=lambda t: os.fsencode(t[0]))  # byte order of the path, as the CLI
    out.extend(found)


def _expand(paths_or_folder: Union[str, "os.PathLike[str]", Iterable[Any]]) -> List[Tuple[str, Optional[str]]]:
    """[(path, error or None)] in the CLI's order: files as named, folders walked (recursive, sorted, hidden skipped)."""
    if isinstance(paths_or_folder, (str, bytes, os.PathLike)):
        args = [paths_or_folder]
    else:
        args = list(paths_or_folder)
    out: List[Tuple[str, Optional[str]]] = []
    for a in args:
        p = os.fsdecode(os.fspath(a))
        if not p:
            out.append((p, "empty path"))
            continue
        try:
            st = os.stat(p)
        except FileNotFoundError:
            out.append((p, "no such file or folder"))
            continue
        except OSError as e:
            out.append((p, e.strerror or str(e)))
            continue
        if stat.S_ISDIR(st.st_mode):
            _walk(p, out)
        elif stat.S_ISREG(st.st_mode):
            out.append((p, None))
        else:
            out.append((p, "not a regular file or folder"))
    return out


def list_images(paths_or_folder: Union[str, "os.PathLike[str]", Iterable[Any]]) -> List[str]:
    """The inputs classify_paths would process, in its order (folders expanded as the CLI expands them)."""
    return [p for p, _ in _expand(paths_or_folder)]


# ---------------------------------------------------------------------------------------------------------------
# Worker side.

_cache: Dict[Tuple[Any, ...], vitvk.Classifier] = {}
_cache_lock = threading.Lock()

# glibc's steady state for a long-running process: what its dynamic thresholds grow to (mmap threshold up to
# DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit; trim threshold twice that).
_MMAP_THRESHOLD = 32 << 20
_TRIM_THRESHOLD = 64 << 20


def _undo_dask_malloc_trim() -> bool:
    """Dask's nannies start every worker with MALLOC_TRIM_THRESHOLD_=65536 (distributed's
    `nanny.pre-spawn-environ`), which also pins glibc's mmap threshold at 128 KiB: each decoded photo, preprocessed
    batch and forward-pass buffer is then a fresh mmap, page-faulted in and unmapped again. Measured on the 1000
    shared photos (ViT-Ti, CPU backend): the CLI 11.4x the page faults and 0.70x the photos/s; this module's
    partition function in 2 processes x 1 thread 4.2x the page faults and 0.71x the photos/s.
    A worker that runs vitvk holds the same buffers from batch to batch, so it sets glibc's thresholds back to the
    values they reach by themselves without the variable. Only where the variable is set and libc is glibc;
    VITVK_DASK_MALLOC=keep leaves it alone. True when the thresholds were changed."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or os.environ.get("VITVK_DASK_MALLOC") == "keep":
        return False
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to undo
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
    return bool(mallopt(M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def _classifier(spec: Tuple[Any, ...], cpu_threads: Optional[Dict[str, int]]) -> vitvk.Classifier:
    """This process's Classifier for `spec` (loaded on first use, then shared by the worker's threads)."""
    with _cache_lock:
        c = _cache.get(spec)
        if c is None:
            threads = _threads_here(cpu_threads)
            if threads and "VITVK_CPU_THREADS" not in os.environ:
                # Read by the CPU backend when it is created: n workers on one host share its cores.
                os.environ["VITVK_CPU_THREADS"] = str(threads)
            if not _cache:  # the first model this process loads
                _undo_dask_malloc_trim()
            model, backend, device, precision, img_size, max_batch = spec
            c = vitvk.Classifier(model, backend=backend, device=device, precision=precision, img_size=img_size,
                                 max_batch=max_batch)
            _cache[spec] = c
        return c


def _threads_here(cpu_threads: Optional[Dict[str, int]]) -> Optional[int]:
    if not cpu_threads:
        return None
    if "*" in cpu_threads:
        return cpu_threads["*"]
    try:
        from distributed import get_worker
        host = _host_of(get_worker().address)
    except (ImportError, ValueError):
        return None
    per_host = cpu_threads.get(host)
    return max(1, (os.cpu_count() or 1) // per_host) if per_host else None


def _host_of(address: str) -> str:
    rest = address.split("://", 1)[-1]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


def _reason(path: str, message: str) -> str:
    """The CLI's error text: the message without its leading "path: "."""
    prefix = path + ": "
    return message[len(prefix):] if len(message) > len(prefix) and message.startswith(prefix) else (message or "unknown error")


def _decode(path: str, error: Optional[str]) -> Tuple[Optional[np.ndarray], Optional[str]]:
    if error is not None:
        return None, error
    try:
        return vitvk.load_image(path), None
    except (vitvk.Error, OSError, MemoryError) as e:  # as the CLI: every failure of one image is its row
        return None, _reason(path, str(e))


def _run(entries: Sequence[Tuple[str, Optional[str]]], batch: int, run) -> Tuple[List[Any], List[Optional[str]]]:
    """(results, errors) over `entries` in batches: run(list of arrays) -> list of results. The next batch is
    decoded on a helper thread while the current one runs (both release the GIL), as the CLI overlaps decoding with
    inference. A batch that fails is retried image by image so that only the bad image becomes an error row."""
    n = len(entries)
    results: List[Any] = [None] * n
    errors: List[Optional[str]] = [None] * n
    chunks = [range(s, min(s + batch, n)) for s in range(0, n, batch)]

    def decode(chunk: range) -> List[Tuple[int, Optional[np.ndarray]]]:
        out = []
        for i in chunk:
            image, errors[i] = _decode(*entries[i])
            out.append((i, image))
        return out

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vitvk-decode") as pool:
        pending = pool.submit(decode, chunks[0]) if chunks else None
        for c in range(len(chunks)):
            decoded = [(i, im) for i, im in pending.result() if im is not None]
            pending = pool.submit(decode, chunks[c + 1]) if c + 1 < len(chunks) else None
            if not decoded:
                continue
            try:
                for (i, _), r in zip(decoded, run([im for _, im in decoded])):
                    results[i] = r
            except (vitvk.Error, MemoryError):
                for i, im in decoded:
                    try:
                        results[i] = run([im])[0]
                    except (vitvk.Error, MemoryError) as e:
                        errors[i] = _reason(entries[i][0], str(e))
    return results, errors


def _classify_part(part: Tuple[int, List[Tuple[str, Optional[str]]]], spec: Tuple[Any, ...], top_k: int, batch: int,
                   cpu_threads: Optional[Dict[str, int]]) -> pd.DataFrame:
    start, entries = part

    def run(images: List[np.ndarray]) -> List[Any]:
        clf = _classifier(spec, cpu_threads)  # loaded on first use: a partition of bad files loads nothing
        return clf.classify(images, top_k=min(top_k, clf.info.num_classes))

    results, errors = _run(entries, batch, run)
    return _classify_frame(start, [p for p, _ in entries], errors, results, top_k)


def _classify_frame(start: int, paths: List[str], errors: List[Optional[str]], results: List[Any],
                    top_k: int) -> pd.DataFrame:
    n = len(paths)
    cols: Dict[str, Any] = {"path": pd.Series(paths, dtype=object),
                            "error": pd.Series([e if r is None else None for e, r in zip(errors, results)], dtype=object)}
    for j in range(top_k):
        idx = np.full(n, -1, dtype=np.int32)
        prob = np.full(n, np.nan, dtype=np.float32)
        lab: List[Optional[str]] = [None] * n
        for i, r in enumerate(results):
            if r is not None and j < len(r):
                idx[i], lab[i], prob[i] = r[j].index, r[j].label, r[j].probability
        cols[f"top{j + 1}_index"] = idx
        cols[f"top{j + 1}_label"] = pd.Series(lab, dtype=object)
        cols[f"top{j + 1}_prob"] = prob
    frame = pd.DataFrame(cols)
    frame.index = pd.RangeIndex(start, start + n, name="input")
    return frame


def _embed_part(part: Tuple[int, List[Tuple[str, Optional[str]]]], spec: Tuple[Any, ...], batch: int,
                cpu_threads: Optional[Dict[str, int]]) -> pd.DataFrame:
    start, entries = part
    results, errors = _run(entries, batch, lambda images: list(_classifier(spec, cpu_threads).embed(images)))
    return _embed_frame(start, [p for p, _ in entries], errors, results)


def _embed_frame(start: int, paths: List[str], errors: List[Optional[str]], results: List[Any]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "path": pd.Series(paths, dtype=object),
        "error": pd.Series([e if r is None else None for e, r in zip(errors, results)], dtype=object),
        "embedding": pd.Series([None if r is None else np.array(r, dtype=np.float32, copy=True) for r in results],
                               dtype=object),
    })
    frame.index = pd.RangeIndex(start, start + len(paths), name="input")
    return frame


# ---------------------------------------------------------------------------------------------------------------
# Client side.

def _client(client: Any) -> Any:
    if client is not None:
        return client
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None  # no distributed client: Dask's default (local) scheduler


def _cluster_shape(client: Any) -> Tuple[int, Optional[Dict[str, int]]]:
    """(worker threads in all, workers per host) of the cluster, or of this machine without a client."""
    if client is None:
        return max(1, os.cpu_count() or 1), None
    nthreads = client.nthreads()  # {worker address: threads}
    per_host: Dict[str, int] = {}
    for address in nthreads:
        h = _host_of(address)
        per_host[h] = per_host.get(h, 0) + 1
    return max(1, sum(nthreads.values())), per_host


def _partitions(entries: List[Tuple[str, Optional[str]]], threads: int, batch: int,
                partition_size: Optional[int]) -> List[Tuple[int, List[Tuple[str, Optional[str]]]]]:
    n = len(entries)
    if partition_size is None:
        # At least four partitions per worker thread (so the last ones finish together and a lost worker's share is
        # small), in whole batches where that still leaves four, at most MAX_PARTITION images.
        size = max(1, math.ceil(n / (4 * threads)))
        if size > batch:
            size = size // batch * batch
        partition_size = min(size, max(batch, MAX_PARTITION))
    if partition_size < 1:
        raise ValueError(f"partition_size must be at least 1, got {partition_size}")
    return [(s, entries[s:s + partition_size]) for s in range(0, n, partition_size)]


def _check(batch: int, top_k: Optional[int]) -> None:
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")


def _frame(fn, parts, meta: pd.DataFrame, label: str, n: int, **kwargs) -> dd.DataFrame:
    divisions = tuple(s for s, _ in parts) + (n - 1,)
    return dd.from_map(fn, parts, meta=meta, divisions=divisions, label=label, enforce_metadata=False, **kwargs)


def _plan(paths_or_folder, model, client, batch, backend, device, precision, img_size, partition_size, cpu_threads):
    """What classify_paths and embed_paths share: the inputs cut into partitions for the client's cluster, the
    Classifier spec each worker loads, and the CPU threads per worker process. Returns (parts, n, spec, cpu)."""
    client = _client(client)
    entries = _expand(paths_or_folder)
    if not entries:
        raise ValueError(f"no images found in {paths_or_folder!r}")
    threads, per_host = _cluster_shape(client)
    parts = _partitions(entries, threads, batch, partition_size)
    spec = (os.fspath(model), backend, device, precision, img_size, max(batch, 1))
    cpu = {"*": cpu_threads} if cpu_threads else per_host
    return parts, len(entries), spec, cpu


def classify_paths(paths_or_folder: Union[str, "os.PathLike[str]", Iterable[Any]],
                   model: str = vitvk.DEFAULT_MODEL, client: Any = None, batch: int = 16, top_k: int = 5, *,
                   backend: str = "auto", device: Optional[int] = None, precision: str = "auto",
                   img_size: Optional[int] = None, partition_size: Optional[int] = None,
                   cpu_threads: Optional[int] = None) -> dd.DataFrame:
    """Classifies every image of `paths_or_folder` (a file, a folder walked as the CLI walks it, or a list of
    them) on the Dask cluster of `client` (default: the current distributed client, else Dask's local scheduler).

    Returns a lazy Dask DataFrame indexed by input position ("input"), columns: path, error (None, or why the
    image failed), and for j in 1..top_k: top{j}_index (int32, -1 on error rows), top{j}_label, top{j}_prob
    (float32, NaN on error rows). `model` is resolved on the workers (a path they can read, or a name in their
    model search path). batch: images per forward pass; partition_size: images per task (default: four tasks per
    worker thread, whole batches, at most MAX_PARTITION); cpu_threads: CPU-backend threads per worker process
    (default: the host's cores shared among its workers; $VITVK_CPU_THREADS on a worker wins)."""
    _check(batch, top_k)
    parts, n, spec, cpu = _plan(paths_or_folder, model, client, batch, backend, device, precision, img_size,
                                partition_size, cpu_threads)
    meta = _classify_frame(0, [], [], [], top_k)
    return _frame(_classify_part, parts, meta, "vitvk-classify", n, spec=spec, top_k=top_k, batch=batch,
                  cpu_threads=cpu)


def embed_paths(paths_or_folder: Union[str, "os.PathLike[str]", Iterable[Any]], model: str = vitvk.DEFAULT_MODEL,
                client: Any = None, batch: int = 16, *, backend: str = "auto", device: Optional[int] = None,
                precision: str = "auto", img_size: Optional[int] = None, partition_size: Optional[int] = None,
                cpu_threads: Optional[int] = None) -> dd.DataFrame:
    """As classify_paths, but the columns are path, error and embedding (a float32 numpy array of the model's
    embedding_dim, None on error rows): `np.stack(df.compute().embedding.dropna())` gives the [N, D] matrix."""
    _check(batch, None)
    parts, n, spec, cpu = _plan(paths_or_folder, model, client, batch, backend, device, precision, img_size,
                                partition_size, cpu_threads)
    meta = _embed_frame(0, [], [], [])
    return _frame(_embed_part, parts, meta, "vitvk-embed", n, spec=spec, batch=batch, cpu_threads=cpu)


def _json_number(v: float) -> float:
    return float(str(np.float32(v)))  # the shortest decimal that reads back as the same float32, as the CLI writes


def _jsonl_rows(frame: pd.DataFrame) -> Iterable[str]:
    ks = sorted(int(c[3:-6]) for c in frame.columns if c.startswith("top") and c.endswith("_index"))
    for row in frame.itertuples(index=False):
        r = row._asdict()
        j: Dict[str, Any] = {"path": r["path"]}
        if r["error"] is not None:
            j["error"] = r["error"]
        elif "embedding" in r:
            j["embedding"] = [_json_number(v) for v in r["embedding"]]
        else:
            j["top"] = [{"index": int(r[f"top{k}_index"]), "label": r[f"top{k}_label"],
                         "prob": _json_number(r[f"top{k}_prob"])} for k in ks if r[f"top{k}_index"] >= 0]
        yield json.dumps(j, ensure_ascii=False)


def to_jsonl(df: dd.DataFrame, path: Union[str, "os.PathLike[str]"], client: Any = None) -> int:
    """Writes a classify_paths / embed_paths result to ONE JSON-lines file in input order, in the CLI's
    `--format jsonl` schema ({"path", "top": [{"index", "label", "prob"}]} or {"path", "error"}; embed results:
    {"path", "embedding"}). Partitions are computed on the cluster and written as they arrive, in order, so memory
    holds a few partitions, not the collection. Returns the number of rows. (Dask's own df.to_json / df.to_csv
    write one file per partition, which also works.)"""
    client = _client(client)
    parts = df.to_delayed()
    rows = 0
    tmp = os.fspath(path) + ".part"
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as out:
        if client is not None:
            futures = client.compute(parts)
            for i, f in enumerate(futures):
                frame = f.result()
                futures[i] = None  # release it on the cluster once written
                for line in _jsonl_rows(frame):
                    out.write(line + "\n")
                    rows += 1
        else:
            for frame in dask.compute(*parts):
                for line in _jsonl_rows(frame):
                    out.write(line + "\n")
                    rows += 1
    os.replace(tmp, path)
    return rows
