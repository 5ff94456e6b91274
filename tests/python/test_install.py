"""`cmake --install` to a temporary prefix, then `import vitvk` from there in a fresh interpreter."""
import os
import subprocess
import sys

from conftest import BINARY_DIR, SAMPLES


def test_installed_module_imports_and_classifies(tmp_path, tiny_model):
    prefix = tmp_path / "prefix"
    r = subprocess.run(["cmake", "--install", str(BINARY_DIR), "--prefix", str(prefix), "--component", "python"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    inits = list(prefix.glob("lib/python3*/*-packages/vitvk/__init__.py"))
    assert len(inits) == 1, list(prefix.rglob("*"))
    pkg = inits[0].parent
    for f in ("__init__.pyi", "dask.py", "dask.pyi", "py.typed"):
        assert (pkg / f).is_file(), f
    assert list(pkg.glob("_vitvk*.so"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(pkg.parent)
    code = (
        "import sys, vitvk, vitvk.dask\n"
        f"assert vitvk.__file__.startswith({str(prefix)!r}), vitvk.__file__\n"
        f"c = vitvk.Classifier({tiny_model!r}, backend='cpu')\n"
        f"p = c.classify({str(sorted(SAMPLES.glob('*.jpg'))[0])!r}, top_k=2)\n"
        "assert len(p) == 2 and isinstance(p[0], vitvk.Prediction)\n"
        "print(vitvk.__version__, p[0].label)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "label" in r.stdout
