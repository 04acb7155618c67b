"""Pieces shared by the weight-file formats: atomic output files, name checks, errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from pysavedmodel.aliases import PathLike, ProgressCallback
from pysavedmodel.errors import InvalidArgumentError, MissingDependencyError, NotFoundError
from pysavedmodel.fileio import atomic_file
from pysavedmodel.names import utf8

__all__ = [
    "PathLike", "ProgressCallback", "MissingDependencyError", "atomic_output", "as_arrays",
    "as_path", "check_file", "check_progress",
]




def check_file(path: Path, what: str) -> int:
    """The size of regular file ``path``; NotFoundError naming it (and ``what``) otherwise."""
    try:
        is_file = path.is_file()
        size = path.stat().st_size if is_file else 0
    except OSError as exc:
        raise NotFoundError(f"{what} {str(path)!r} cannot be read: {exc}") from None
    if not is_file:
        raise NotFoundError(f"{what} {str(path)!r} does not exist or is not a file")
    return size


def as_path(value: Any, what: str) -> Path:
    """``Path(value)`` for a str or os.PathLike; InvalidArgumentError naming ``what`` otherwise."""
    if isinstance(value, (str, os.PathLike)) and os.fspath(value):
        return Path(value)
    raise InvalidArgumentError(f"{what} must be a non-empty str or os.PathLike path, "
                               f"got {value!r}")


def check_progress(progress: Any) -> None:
    """InvalidArgumentError unless ``progress`` is None or callable."""
    if progress is not None and not callable(progress):
        raise InvalidArgumentError(
            f"progress must be a callable(bytes_done, bytes_total), got {progress!r}")


def as_arrays(tensors: Mapping[str, Any], where: str) -> dict[str, np.ndarray]:
    """``{name: np.asarray(value)}``, checking the mapping and its names (non-empty str)."""
    if not isinstance(tensors, Mapping):
        raise InvalidArgumentError(
            f"{where}: tensors must be a mapping of name -> array, got {type(tensors).__name__}")
    arrays: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(
                f"{where}: tensor names must be non-empty strings, got {name!r}")
        utf8(name, f"{where}: tensor name {name!r}")
        try:
            arrays[name] = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            raise InvalidArgumentError(
                f"{where}: tensor {name!r} is not array-like: {exc}") from None
    return arrays


def atomic_output(path: Path, durable: bool = False) -> AbstractContextManager[BinaryIO]:
    """Write ``path`` through a temporary file beside it, renamed into place on success
    (:func:`pysavedmodel.fileio.atomic_file`; ``durable``: fsync before the rename)."""
    return atomic_file(path, durable=durable)

