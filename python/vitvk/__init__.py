"""vitvk: Vision Transformer (timm ViT / DeiT / GFNet) image classification on Vulkan or an exact fp32 CPU backend.

    import vitvk
    model = vitvk.Classifier("vit_tiny_patch16_224.augreg_in21k_ft_in1k")   # a model directory or a name
    for p in model.classify("cat.jpg", top_k=3):
        print(f"{p.probability:.3f} {p.label}")
    vectors = model.embed(["a.jpg", "b.jpg"])                            # float32 [2, embedding_dim]

Images are file paths (str / os.PathLike; decoded exactly as the `vitvk` CLI decodes them) or numpy uint8 arrays:
H x W x 3 RGB (bgr=True for OpenCV frames), H x W x 4 RGBA / BGRA, H x W gray; one image or a list of them (or an
N x H x W x C array). Arrays are read in place (no copy) when each row is contiguous; the GIL is released while
images are decoded and the model runs, and one Classifier may be used from several threads.

Every vitvk failure raises a subclass of vitvk.Error whose .code names the vitvk error code ("io",
"image_decode", ...); bad arguments (dtype, shape, layout, an empty list) raise ValueError.

vitvk.dask spreads classification of a photo collection over a Dask cluster.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _vitvk
from ._vitvk import (  # noqa: F401  (re-exported)
    DeviceLostError,
    Error,
    ImageDecodeError,
    InternalError,
    InvalidArgumentError,
    IoError,
    ModelFormatError,
    OutOfMemoryError,
    UnsupportedError,
    VulkanError,
)

__version__: str = _vitvk.version()

__all__ = [
    "Classifier", "Prediction", "Explanation", "CropRegion", "ModelInfo", "Device", "devices", "load_image",
    "quantize", "QuantizeResult",
    "DEFAULT_MODEL", "Error", "InvalidArgumentError", "IoError", "ModelFormatError", "ImageDecodeError",
    "UnsupportedError", "VulkanError", "DeviceLostError", "OutOfMemoryError", "InternalError",
]

#: The model Classifier() loads when none is named: a name looked up in $VITVK_MODEL_PATH, ./models,
#: <prefix>/share/vitvk/models and ~/.cache/vitvk/models.
DEFAULT_MODEL = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
ImageInput = Union[PathLike, np.ndarray]


class Prediction(NamedTuple):
    """One ranked class: its index into ModelInfo.labels, its label and its probability (fp32 softmax)."""

    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class CropRegion:
    """Where the model's input window lies in the source image: the source was resized to resized_width x
    resized_height and the crop_width x crop_height window at (crop_x, crop_y) of the resized image is what the model
    saw (a negative origin means zero padding). An attention map covers exactly this window."""

    source_width: int
    source_height: int
    resized_width: int
    resized_height: int
    crop_x: int
    crop_y: int
    crop_width: int
    crop_height: int


@dataclass(frozen=True)
class Explanation:
    """A classification with its attention-rollout map, both from one forward pass.

    map: float32 [grid_height, grid_width], one value per patch, scaled so the maximum is 1."""

    top: list
    map: np.ndarray
    crop: CropRegion
    fusion: str
    discard_ratio: float


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded and how it runs (read-only)."""

    architecture: str
    directory: str
    input_width: int
    input_height: int
    channels: int
    patch_size: int
    grid_width: int
    grid_height: int
    embedding_dim: int
    depth: int
    heads: int
    num_classes: int
    distilled: bool
    labels: Tuple[str, ...]
    backend: str
    device: str
    precision: str
    max_batch: int

    def __repr__(self) -> str:  # the 1000 labels are not worth printing
        return (f"ModelInfo(architecture={self.architecture!r}, input={self.input_width}x{self.input_height}, "
                f"embedding_dim={self.embedding_dim}, num_classes={self.num_classes}, backend={self.backend!r}, "
                f"device={self.device!r}, precision={self.precision!r}, max_batch={self.max_batch})")


@dataclass(frozen=True)
class Device:
    """One Vulkan physical device; `index` is what Classifier(device=...) takes."""

    index: int
    name: str
    type: str
    driver: str
    api_version: str
    memory_bytes: int
    fp16: bool
    preferred: bool


def devices() -> list:
    """Every Vulkan device, in index order (a list of Device). Raises vitvk.VulkanError without any Vulkan driver."""
    return [Device(**d) for d in _vitvk.devices()]


def load_image(path: PathLike, max_pixels: int = 100_000_000) -> np.ndarray:
    """Decodes an image file as the CLI does (EXIF orientation applied, gray / 16-bit / CMYK converted, alpha
    dropped) into a uint8 H x W x 3 RGB array. Raises vitvk.IoError / vitvk.ImageDecodeError naming the file."""
    return _vitvk.load_image(_path_bytes(path), max_pixels)


@dataclass(frozen=True)
class QuantizeResult:
    """What quantize() wrote: the model directory read and the one written, the sizes of their model.safetensors,
    the linear layers stored as int8 and the group of inputs per scale (0: one scale per output channel)."""

    source: str
    directory: str
    source_bytes: int
    bytes: int
    int8_layers: int
    group: int


def quantize(model: PathLike, out: PathLike, group: int = 0) -> QuantizeResult:
    """Writes an int8 copy of `model` (a directory or a name, as Classifier finds it) to the directory `out`, as
    `vitvk quantize` does: every transformer block's attn.qkv, attn.proj, mlp.fc1 and mlp.fc2 weight in int8 with an
    fp32 scale per output channel (group=0) or per channel and group of `group` inputs (a multiple of 8; 64 is
    closer to fp32); every other tensor, config.json and the licence files as they were. Classifier(out) then runs
    it in int8 without the fp32 weights. Raises vitvk.InvalidArgumentError (a bad group, an int8 model, `out` being
    the model's own directory), vitvk.UnsupportedError (not a ViT-family model), vitvk.IoError / ModelFormatError."""
    return QuantizeResult(**_vitvk.quantize(_path_str(model), _path_str(out), group))


def _path_str(p: Any) -> str:
    p = os.fspath(p)
    return os.fsdecode(p) if isinstance(p, bytes) else p


def _path_bytes(p: Any) -> bytes:
    p = os.fspath(p)
    return os.fsencode(p) if isinstance(p, str) else p


def _item(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (str, bytes, os.PathLike)):
        return _path_bytes(v)
    return v  # the compiled side names the position and the type in its TypeError


def _items(x: Any) -> Tuple[list, bool]:
    """(the images as a list for the compiled side, whether a single image was given)."""
    if isinstance(x, np.ndarray):
        if x.ndim == 4:
            return list(x), False
        return [x], True
    if isinstance(x, (str, bytes, os.PathLike)):
        return [_path_bytes(x)], True
    if isinstance(x, (list, tuple)):
        return [_item(v) for v in x], False
    raise TypeError(f"expected a path, a numpy uint8 array or a list of them, got {type(x).__name__}")


def _predictions(rows: list) -> list:
    return [Prediction(*t) for t in rows]


class Classifier:
    """A model loaded onto a backend, ready to classify, embed and explain images.

    Classifier(model=DEFAULT_MODEL, backend="auto", device=None, precision="auto", img_size=None, max_batch=16)

    model:     a directory holding config.json + model.safetensors, or a name looked up in $VITVK_MODEL_PATH,
               ./models, <prefix>/share/vitvk/models and ~/.cache/vitvk/models.
    backend:   "auto" (Vulkan on a real GPU, else the CPU backend), "cpu" (exact fp32) or "vulkan".
    device:    Vulkan device index (see vitvk.devices()); None: $VITVK_DEVICE, else the preferred one.
    precision: "auto", "fp32", "fp16" (GPU storage precision; arithmetic accumulates in fp32) or "int8" (the
               blocks' linear layers in int8: README, "int8 on the CPU"); "auto" picks int8 for a model written
               by `vitvk quantize`.
    img_size:  input size override where this vitvk build supports it (else it must be None: ValueError).
    max_batch: most images per forward pass; larger lists run as several passes.

    Thread safety: one Classifier may be used from several Python threads at once (decoding and preprocessing run
    concurrently, forward passes one at a time); for throughput pass lists (batches) rather than threads.
    """

    def __init__(self, model: PathLike = DEFAULT_MODEL, backend: str = "auto", device: Optional[int] = None,
                 precision: str = "auto", img_size: Optional[int] = None, max_batch: int = 16) -> None:
        model = os.fspath(model)
        if isinstance(model, bytes):
            model = os.fsdecode(model)
        self._c = _vitvk._Classifier(model, backend, device, precision, img_size, max_batch)
        self._info = ModelInfo(**self._c.info())

    @property
    def info(self) -> ModelInfo:
        """The loaded model and how it runs (ModelInfo, read-only)."""
        return self._info

    def classify(self, x: Union[ImageInput, Sequence[ImageInput]], top_k: int = 5, *, bgr: bool = False) -> list:
        """The top_k most probable classes (a list of Prediction, most probable first) of one image, or a list of
        such lists for a list of images (same order). bgr=True: 3/4-channel arrays are BGR(A), as OpenCV gives."""
        items, single = _items(x)
        rows = self._c.classify(items, top_k, bgr)
        return _predictions(rows[0]) if single else [_predictions(r) for r in rows]

    def embed(self, x: Union[ImageInput, Sequence[ImageInput]], *, bgr: bool = False) -> np.ndarray:
        """Pre-head embeddings (the class token after the final norm; compare with cosine): float32
        [embedding_dim] for one image, [N, embedding_dim] for a list."""
        items, single = _items(x)
        out = self._c.embed(items, bgr)
        return out[0] if single else out

    def explain(self, x: Union[ImageInput, Sequence[ImageInput]], fusion: str = "mean", discard_ratio: float = 0.0,
                top_k: int = 5, *, bgr: bool = False) -> Union[Explanation, list]:
        """Classifies and computes the attention-rollout map in the same pass: an Explanation (or a list of them).

        fusion: how each layer's heads are fused, "mean", "max" or "min"; discard_ratio in [0, 1): the weakest
        fraction of each layer's fused attention is dropped before rollout (0.9 gives sharper maps)."""
        items, single = _items(x)
        out = []
        for top, grid, crop, options in self._c.explain(items, fusion, discard_ratio, top_k, bgr):
            out.append(Explanation(_predictions(top), grid, CropRegion(**crop), options["fusion"],
                                   options["discard_ratio"]))
        return out[0] if single else out

    def __repr__(self) -> str:
        i = self._info
        return f"vitvk.Classifier({i.architecture!r}, backend={i.backend!r}, device={i.device!r}, precision={i.precision!r})"

    def __reduce__(self):
        raise TypeError("a vitvk.Classifier cannot be pickled (it holds a loaded model); create one per process, "
                        "as vitvk.dask does on each worker")
