"""vitvk.Classifier against the C++ API: arrays and paths, layouts, errors, threads, references."""
import gc
import json
import os
import pathlib
import sys
import threading
import time

import numpy as np
import pytest

import vitvk
from conftest import helper, reference, synthetic


@pytest.fixture(scope="module")
def clf(tiny_model):
    return vitvk.Classifier(tiny_model, backend="cpu")


def assert_same_predictions(got, want_top, tol=1e-6):
    assert [p.index for p in got] == [t[0] for t in want_top]
    assert [p.label for p in got] == [t[1] for t in want_top]
    np.testing.assert_allclose([p.probability for p in got], [t[2] for t in want_top], rtol=0, atol=tol)


def test_info_and_version(clf, tiny_model):
    i = clf.info
    assert (i.architecture, i.input_width, i.input_height, i.patch_size) == ("vit_test", 32, 32, 8)
    assert (i.grid_width, i.grid_height, i.embedding_dim, i.num_classes) == (4, 4, 24, 10)
    assert i.labels[3] == "label 3" and len(i.labels) == 10
    assert i.backend == "cpu" and i.precision == "fp32" and i.max_batch == 16
    assert os.path.samefile(i.directory, tiny_model)
    with pytest.raises(Exception):
        i.backend = "vulkan"  # read-only
    assert vitvk.__version__.count(".") == 2
    assert "Classifier" in repr(clf)


def test_paths_equal_cpp_api(clf, tiny_model, samples):
    ref = reference(tiny_model, samples, 5)
    got = clf.classify(samples, top_k=5)
    assert len(got) == len(samples)
    for path, preds in zip(samples, got):
        assert_same_predictions(preds, ref[path]["top"])
    # one path (str and pathlib), alone
    assert_same_predictions(clf.classify(pathlib.Path(samples[0]), top_k=3), ref[samples[0]]["top"][:3])
    emb = clf.embed(samples)
    assert emb.dtype == np.float32 and emb.shape == (len(samples), 24)
    for row, path in zip(emb, samples):
        np.testing.assert_allclose(row, ref[path]["embedding"], rtol=0, atol=1e-6)
    single = clf.embed(samples[1])
    assert single.shape == (24,)
    np.testing.assert_array_equal(single, emb[1])


def test_arrays_equal_paths(clf, samples):
    arrays = [vitvk.load_image(p) for p in samples]
    assert arrays[0].dtype == np.uint8 and arrays[0].ndim == 3 and arrays[0].shape[2] == 3
    by_path = clf.classify(samples)
    assert clf.classify(arrays) == by_path
    np.testing.assert_array_equal(clf.embed(arrays), clf.embed(samples))
    # mixed list, and an N x H x W x 3 batch array
    assert clf.classify([samples[0], arrays[1]]) == by_path[:2]
    batch = np.stack([synthetic(40, 56, s) for s in range(3)])
    assert clf.classify(batch) == clf.classify([batch[0], batch[1], batch[2]])


def test_bgr_gray_rgba_and_strides(clf):
    rgb = synthetic(45, 61, 2)
    want = clf.classify(rgb, top_k=10)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    assert clf.classify(bgr, top_k=10, bgr=True) == want
    assert clf.classify(bgr, top_k=10) != want  # the flag is what makes them equal
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2)
    assert clf.classify(rgba, top_k=10) == want  # alpha dropped
    bgra = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
    assert clf.classify(bgra, top_k=10, bgr=True) == want
    gray = rgb[..., 1].copy()
    rep = np.repeat(gray[..., None], 3, axis=2)
    assert clf.classify(gray, top_k=10) == clf.classify(rep, top_k=10)
    assert clf.classify(gray[..., None], top_k=10) == clf.classify(rep, top_k=10)
    # row-strided crops are viewed in place and equal their contiguous copies
    big = synthetic(90, 120, 5)
    crop = big[10:70, 20:100]
    assert not crop.flags.c_contiguous
    assert clf.classify(crop, top_k=10) == clf.classify(np.ascontiguousarray(crop), top_k=10)
    gcrop = np.ascontiguousarray(big[..., 0])[5:50, 3:77]
    assert clf.classify(gcrop) == clf.classify(np.ascontiguousarray(gcrop))
    one_row = big[3:4]
    assert clf.classify(one_row) == clf.classify(np.ascontiguousarray(one_row))
    # read-only arrays are fine (nothing is written)
    ro = rgb.copy()
    ro.flags.writeable = False
    assert clf.classify(ro, top_k=10) == want


def test_bad_arrays_are_value_errors(clf):
    rgb = synthetic(20, 20, 1)
    cases = [
        (rgb.astype(np.float32), "uint8"),
        (rgb.astype(np.int8), "uint8"),
        (rgb.astype(np.uint16), "uint8"),
        (rgb[..., :2], "shape"),
        (rgb[..., 0], "layout"),  # one channel of an RGB array: pixels 3 bytes apart
        (np.zeros((0, 5, 3), np.uint8), "at least one row"),
        (np.zeros((5, 0), np.uint8), "at least one row"),
        (np.zeros(12, np.uint8), "shape"),
        (rgb[:, ::2], "layout"),
        (rgb[::-1], "layout"),
        (rgb[..., ::-1], "bgr=True"),
        (np.asfortranarray(rgb), "layout"),
    ]
    for arr, words in cases:
        with pytest.raises(ValueError, match=words):
            clf.classify(arr)
        with pytest.raises(ValueError, match="image 1"):  # the position is named in a list
            clf.classify([rgb, arr])
    with pytest.raises(ValueError, match="empty"):
        clf.classify([])
    with pytest.raises(ValueError, match="empty"):
        clf.embed([])
    with pytest.raises(TypeError, match="image 1"):
        clf.classify([rgb, 42])
    with pytest.raises(TypeError):
        clf.classify(3.5)
    with pytest.raises(ValueError):  # top_k < 1: the library's InvalidArgument, which is a ValueError
        clf.classify(rgb, top_k=0)


def test_error_mapping(clf, tiny_model, tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(vitvk.IoError) as e:
        clf.classify(missing)
    assert e.value.code == "io" and str(missing) in str(e.value)
    assert isinstance(e.value, vitvk.Error) and isinstance(e.value, OSError)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(vitvk.ImageDecodeError) as e:
        clf.classify([str(bad)])
    assert e.value.code == "image_decode" and "bad.png" in str(e.value)
    with pytest.raises(vitvk.ImageDecodeError):
        vitvk.load_image(bad)
    with pytest.raises(vitvk.IoError) as e:
        vitvk.Classifier(str(tmp_path / "no_model_here"), backend="cpu")
    assert e.value.code == "io"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{")
    (broken / "model.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(vitvk.ModelFormatError) as e:
        vitvk.Classifier(str(broken), backend="cpu")
    assert e.value.code == "model_format"
    with pytest.raises(vitvk.UnsupportedError) as e:
        vitvk.Classifier(tiny_model, backend="cpu", precision="fp16")
    assert e.value.code == "unsupported"
    with pytest.raises(vitvk.InvalidArgumentError) as e:
        vitvk.Classifier(tiny_model, backend="cpu", max_batch=0)
    assert isinstance(e.value, ValueError) and e.value.code == "invalid_argument"
    with pytest.raises(ValueError, match="backend"):
        vitvk.Classifier(tiny_model, backend="gpu")
    with pytest.raises(ValueError, match="precision"):
        vitvk.Classifier(tiny_model, precision="int4")
    with pytest.raises(vitvk.InvalidArgumentError):
        clf.explain(synthetic(20, 20, 0), discard_ratio=1.5)
    with pytest.raises(ValueError, match="fusion"):
        clf.explain(synthetic(20, 20, 0), fusion="median")


def test_img_size(tiny_model):
    # LoadOptions::img_size exists only in some trees: either it is honoured or refused with ValueError.
    try:
        c = vitvk.Classifier(tiny_model, backend="cpu", img_size=48)
    except ValueError as e:
        assert "img_size" in str(e)
    else:
        assert c.info.input_width == 48


def test_explain_equals_cpp_api(clf, tiny_model, samples):
    for fusion, ratio in [("mean", 0.0), ("max", 0.5), ("min", 0.9)]:
        lines = helper("explain", tiny_model, fusion, ratio, *samples[:2]).splitlines()
        got = clf.explain(samples[:2], fusion=fusion, discard_ratio=ratio)
        for line, e in zip(lines, got):
            ref = json.loads(line)
            assert isinstance(e, vitvk.Explanation) and e.fusion == fusion and e.discard_ratio == ratio
            assert e.map.dtype == np.float32 and e.map.shape == (ref["height"], ref["width"]) == (4, 4)
            np.testing.assert_allclose(e.map.ravel(), ref["values"], rtol=0, atol=1e-6)
            c = e.crop
            assert [c.source_width, c.source_height, c.resized_width, c.resized_height, c.crop_x, c.crop_y,
                    c.crop_width, c.crop_height] == ref["crop"]
            assert_same_predictions(e.top, ref["top"])
    one = clf.explain(vitvk.load_image(samples[0]))
    assert isinstance(one, vitvk.Explanation) and one.map.max() == pytest.approx(1.0)


def test_distilled_model(tiny_distilled, samples):
    c = vitvk.Classifier(tiny_distilled, backend="cpu")
    assert c.info.distilled and c.info.input_width == 48
    ref = reference(tiny_distilled, samples[:2], 3)
    for path, preds in zip(samples[:2], c.classify(samples[:2], top_k=3)):
        assert_same_predictions(preds, ref[path]["top"])


def test_int8_precision(clf, tiny_model, samples):
    """precision="int8" runs the int8 CPU path: it says so, and its probabilities stay near fp32's (8-bit
    weights and activations: about 1 % on the logits) without being the same numbers."""
    q = vitvk.Classifier(tiny_model, backend="cpu", precision="int8")
    assert q.info.precision == "int8"
    got, want = q.classify(samples, top_k=10), clf.classify(samples, top_k=10)
    p8 = np.array([[p.probability for p in sorted(r, key=lambda p: p.index)] for r in got])
    p32 = np.array([[p.probability for p in sorted(r, key=lambda p: p.index)] for r in want])
    assert np.abs(p8 - p32).max() < 0.05
    assert not np.array_equal(p8, p32)


def test_quantize(tiny_model, samples, tmp_path):
    """vitvk.quantize writes the int8 copy `vitvk quantize` writes: it loads as int8 with no precision asked for and
    gives precision="int8"'s answers; misuse raises the matching vitvk error."""
    r = vitvk.quantize(pathlib.Path(tiny_model), tmp_path / "int8")
    assert isinstance(r, vitvk.QuantizeResult)
    assert r.directory == str(tmp_path / "int8") and os.path.samefile(r.source, tiny_model)
    assert r.group == 0 and r.int8_layers > 0 and 0 < r.bytes < r.source_bytes
    copy = vitvk.Classifier(tmp_path / "int8", backend="cpu")
    assert copy.info.precision == "int8"
    at_load = vitvk.Classifier(tiny_model, backend="cpu", precision="int8")
    got, want = copy.classify(samples, top_k=10), at_load.classify(samples, top_k=10)
    assert [[(p.index, p.probability) for p in row] for row in got] == [[(p.index, p.probability) for p in row]
                                                                        for row in want]
    assert vitvk.quantize(tiny_model, tmp_path / "g8", group=8).group == 8
    with pytest.raises(vitvk.InvalidArgumentError, match="group 12"):
        vitvk.quantize(tiny_model, tmp_path / "bad", group=12)
    with pytest.raises(vitvk.InvalidArgumentError, match="already int8"):
        vitvk.quantize(tmp_path / "int8", tmp_path / "again")
    with pytest.raises(vitvk.IoError):
        vitvk.quantize(tmp_path / "missing", tmp_path / "x")


def test_batches_larger_than_max_batch(tiny_model):
    c = vitvk.Classifier(tiny_model, backend="cpu", max_batch=3)
    imgs = [synthetic(30 + i, 40, i) for i in range(8)]
    assert c.classify(imgs) == [c.classify(im) for im in imgs]


def test_threads_share_one_classifier(clf):
    imgs = [synthetic(40 + 3 * i, 50, i) for i in range(12)]
    want = clf.classify(imgs, top_k=3)
    want_emb = clf.embed(imgs)
    errors, results = [], {}

    def work(t):
        try:
            for r in range(5):
                i = (t + r) % len(imgs)
                results[(t, r)] = (i, clf.classify(imgs[i], top_k=3), clf.embed([imgs[i]])[0])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and len(results) == 30
    for i, top, emb in results.values():
        assert top == want[i]
        np.testing.assert_array_equal(emb, want_emb[i])


def test_gil_released_during_forward(tiny_distilled):
    # Another Python thread records timestamps while classify calls run: had the GIL been held across decode and
    # forward, no timestamp could fall strictly inside a call.
    c = vitvk.Classifier(tiny_distilled, backend="cpu")
    # The batch grows until one call lasts 50 ms: a fast CPU ran 32 images in 15 ms (CI, 2026-12-05), too short to
    # tell a released GIL from a held one.
    imgs = [synthetic(300, 400, i) for i in range(32)]
    for _ in range(6):
        t0 = time.perf_counter()
        c.classify(imgs)
        if time.perf_counter() - t0 >= 0.05:
            break
        imgs = imgs + imgs
    done = threading.Event()
    ticks = []

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            done.wait(0.0005)

    t = threading.Thread(target=ticker)
    t.start()
    calls = []
    try:
        for _ in range(3):
            t0 = time.perf_counter()
            c.classify(imgs)
            calls.append((t0, time.perf_counter()))
    finally:
        done.set()
        t.join()
    inside = sum(1 for x in ticks for t0, t1 in calls if t0 + 0.002 < x < t1 - 0.002)
    longest = max(t1 - t0 for t0, t1 in calls)
    assert longest > 0.02, f"calls too short to tell ({longest * 1e3:.1f} ms)"
    assert inside >= 5, f"only {inside} ticks inside {len(calls)} calls of up to {longest * 1e3:.0f} ms"


def test_no_reference_leak(clf, samples):
    arr = synthetic(33, 47, 3)
    path = samples[0]
    lst = [arr, arr]
    before = (sys.getrefcount(arr), sys.getrefcount(path), sys.getrefcount(lst))
    for _ in range(1000):
        clf.classify(arr, top_k=2)
        clf.classify(lst, top_k=1)
        clf.embed(arr)
    for _ in range(50):
        clf.classify(path)
    try:
        clf.classify([arr, arr.astype(np.float32)])
    except ValueError:
        pass
    gc.collect()
    assert (sys.getrefcount(arr), sys.getrefcount(path), sys.getrefcount(lst)) == before


def test_devices_and_docs():
    try:
        ds = vitvk.devices()
    except vitvk.VulkanError:
        pytest.skip("no Vulkan driver on this machine")
    for d in ds:
        assert isinstance(d, vitvk.Device) and d.index >= 0 and d.name
    assert sum(d.preferred for d in ds) <= 1
    assert "top_k" in vitvk.Classifier.classify.__doc__
    assert "backend" in vitvk.Classifier.__doc__
    pkg = pathlib.Path(vitvk.__file__).parent
    assert (pkg / "__init__.pyi").is_file() and (pkg / "py.typed").is_file() and (pkg / "dask.pyi").is_file()


def test_classifier_is_not_picklable(clf):
    import pickle
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(clf)
