# Type stubs of vitvk.dask.
import os
from typing import Any, Iterable, List, Optional, Union

import dask.dataframe as dd

IMAGE_EXTENSIONS: frozenset[str]
MAX_PARTITION: int
Inputs = Union[str, os.PathLike[str], Iterable[Union[str, os.PathLike[str]]]]

def list_images(paths_or_folder: Inputs) -> List[str]: ...
def classify_paths(paths_or_folder: Inputs, model: str = ..., client: Any = None, batch: int = 16, top_k: int = 5, *,
                   backend: str = "auto", device: Optional[int] = None, precision: str = "auto",
                   img_size: Optional[int] = None, partition_size: Optional[int] = None,
                   cpu_threads: Optional[int] = None) -> dd.DataFrame: ...
def embed_paths(paths_or_folder: Inputs, model: str = ..., client: Any = None, batch: int = 16, *,
                backend: str = "auto", device: Optional[int] = None, precision: str = "auto",
                img_size: Optional[int] = None, partition_size: Optional[int] = None,
                cpu_threads: Optional[int] = None) -> dd.DataFrame: ...
def to_jsonl(df: dd.DataFrame, path: Union[str, os.PathLike[str]], client: Any = None) -> int: ...
