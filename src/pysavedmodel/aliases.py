"""Type aliases shared across the package (one definition each).

* :data:`PathLike` — a filesystem path as the public API accepts it: ``str`` or
  ``os.PathLike[str]``.
* :data:`Location` — what writers return: a local ``Path``, or a URL ``str``
  (``s3://...``) when they wrote to remote storage (:mod:`pysavedmodel.remote`).
* :data:`ProgressCallback` — ``progress(done, total)``, called with byte (or item)
  counts while long work runs; the CLI's progress bar is one.

Graph tensors are named by :data:`pysavedmodel.graph.graph.TensorRef` (a
``Tensor`` handle or a ``"node:index"`` string), defined beside ``Tensor``.

This module is a leaf: it imports nothing from the package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Union

__all__ = ["PathLike", "Location", "ProgressCallback"]

PathLike = Union[str, "os.PathLike[str]"]
"""A path: ``str`` or any ``os.PathLike[str]`` (``pathlib.Path``)."""

Location = Union[Path, str]
"""Where something was written: a local ``Path``, or the URL (``str``) for remote storage."""

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``: called while a long write runs (bytes for files)."""
