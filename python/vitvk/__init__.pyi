# Type stubs of the vitvk package (the runtime module is vitvk/__init__.py over the compiled vitvk._vitvk).
import os
from typing import Any, NamedTuple, Optional, Sequence, Tuple, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str
DEFAULT_MODEL: str

PathLike = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]
ImageArray = npt.NDArray[np.uint8]
ImageInput = Union[PathLike, ImageArray]

class Error(Exception):
    code: str
class InvalidArgumentError(Error, ValueError): ...
class IoError(Error, OSError): ...
class ModelFormatError(Error): ...
class ImageDecodeError(Error): ...
class UnsupportedError(Error): ...
class VulkanError(Error): ...
class DeviceLostError(Error): ...
class OutOfMemoryError(Error, MemoryError): ...
class InternalError(Error): ...

class Prediction(NamedTuple):
    index: int
    label: str
    probability: float

class CropRegion:
    source_width: int
    source_height: int
    resized_width: int
    resized_height: int
    crop_x: int
    crop_y: int
    crop_width: int
    crop_height: int

class Explanation:
    top: list[Prediction]
    map: npt.NDArray[np.float32]
    crop: CropRegion
    fusion: str
    discard_ratio: float

class ModelInfo:
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

class Device:
    index: int
    name: str
    type: str
    driver: str
    api_version: str
    memory_bytes: int
    fp16: bool
    preferred: bool

class QuantizeResult:
    source: str
    directory: str
    source_bytes: int
    bytes: int
    int8_layers: int
    group: int

def quantize(model: PathLike, out: PathLike, group: int = 0) -> QuantizeResult: ...
def devices() -> list[Device]: ...
def load_image(path: PathLike, max_pixels: int = ...) -> ImageArray: ...

class Classifier:
    def __init__(self, model: PathLike = ..., backend: str = "auto", device: Optional[int] = None,
                 precision: str = "auto", img_size: Optional[int] = None, max_batch: int = 16) -> None: ...
    @property
    def info(self) -> ModelInfo: ...
    @overload
    def classify(self, x: ImageInput, top_k: int = 5, *, bgr: bool = False) -> list[Prediction]: ...
    @overload
    def classify(self, x: Sequence[ImageInput], top_k: int = 5, *, bgr: bool = False) -> list[list[Prediction]]: ...
    def embed(self, x: Union[ImageInput, Sequence[ImageInput]], *, bgr: bool = False) -> npt.NDArray[np.float32]: ...
    @overload
    def explain(self, x: ImageInput, fusion: str = "mean", discard_ratio: float = 0.0, top_k: int = 5, *,
                bgr: bool = False) -> Explanation: ...
    @overload
    def explain(self, x: Sequence[ImageInput], fusion: str = "mean", discard_ratio: float = 0.0, top_k: int = 5, *,
                bgr: bool = False) -> list[Explanation]: ...
