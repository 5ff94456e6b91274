"""Shared fixtures of the Python tests: random-weight models written by the C++ helper (no shared data needed),
the C++ API's reference results, and photo folders (../shared's photos when present, else samples/images)."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

SOURCE_DIR = Path(os.environ.get("VITVK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
BINARY_DIR = Path(os.environ.get("VITVK_BINARY_DIR", SOURCE_DIR / "build"))
HELPER = os.environ.get("VITVK_PYTEST_HELPER", str(BINARY_DIR / "tests/python/vitvk_pytest_helper"))
CLI = os.environ.get("VITVK_CLI", str(BINARY_DIR / "vitvk"))
SAMPLES = SOURCE_DIR / "samples/images"


def shared_dir():
    d = Path(os.environ.get("VITVK_TEST_DATA", SOURCE_DIR.parent / "shared"))
    return d if d.is_dir() else None


def helper(*args, timeout=120):
    r = subprocess.run([HELPER, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


def reference(model, files, top_k=5):
    """{path: the C++ API's infer() result} on the CPU backend."""
    out = {}
    for line in helper("infer", model, top_k, *files).splitlines():
        j = json.loads(line)
        out[j["path"]] = j
    return out


def write_model(path, *shape):
    helper("model", path, *shape)
    return str(path)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """32x32 input, patch 8, dim 24, 2 blocks, 10 classes."""
    return write_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_distilled(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("models") / "tiny_distilled", 48, 16, 32, 2, 2, 10, 3, 1)


@pytest.fixture(scope="session")
def samples():
    files = sorted(str(p) for p in SAMPLES.glob("*.jpg"))
    assert len(files) >= 4, f"samples/images is missing photos ({SAMPLES})"
    return files


def synthetic(h, w, seed):
    """A structured RGB photo (gradients and a disc), deterministic."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * (3 + seed) + y * (5 + c) + seed * 31 + c * 70 + (x * y) % 17) % 256 for c in range(3)], -1)
    disc = (x - w * (seed % 3 + 1) // 4) ** 2 + (y - h // 2) ** 2 < (w * h) // 16
    img[disc] = [230, 190, 150]
    return img.astype(np.uint8)
