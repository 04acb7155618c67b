"""Pieces shared by the weight-file formats: atomic output files, name checks, errors."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Union

import numpy as np

from pysavedmodel.errors import Error, InvalidArgumentError, NotFoundError

__all__ = [
    "PathLike", "ProgressCallback", "MissingDependencyError", "atomic_output", "as_arrays",
    "as_path", "check_file", "check_progress",
]

PathLike = Union[str, "os.PathLike[str]"]

ProgressCallback = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)``, called while a file is written."""


class MissingDependencyError(Error, ImportError):
    """An optional extra (torch) is needed to read this file and is not installed."""


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
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            raise InvalidArgumentError(
                f"{where}: tensor name {name!r} is not valid Unicode (UTF-8)") from None
        try:
            arrays[name] = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            raise InvalidArgumentError(
                f"{where}: tensor {name!r} is not array-like: {exc}") from None
    return arrays


def _missing_parents(path: Path) -> list[Path]:
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    return list(reversed(missing))


@contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file beside it, renamed into place on success.

    Missing parent directories are created; on any failure the temporary file and the
    directories created here are removed, so nothing half-written remains.
    """
    created = _missing_parents(path)
    for directory in created:
        directory.mkdir(exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        with open(temp, "wb") as out:
            yield out
        os.replace(temp, path)
    except BaseException:
        try:
            temp.unlink()
        except OSError:
            pass
        for directory in reversed(created):
            try:
                directory.rmdir()
            except OSError:
                pass
        raise
