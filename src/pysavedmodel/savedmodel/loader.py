"""Read a SavedModel directory's ``saved_model.pb`` (or ``saved_model.pbtxt``).

The files may come from strangers: sizes are checked before anything is read,
and every parse failure becomes a :class:`~pysavedmodel.errors.CorruptSavedModelError`
naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from pysavedmodel._proto import saved_model_pb2
from pysavedmodel.errors import CorruptSavedModelError, NotFoundError

__all__ = ["read_saved_model", "saved_model_file", "variables_prefix", "MAX_PROTO_BYTES"]

PathLike = Union[str, "os.PathLike[str]"]

MAX_PROTO_BYTES = 2**31 - 1
"""Protocol buffers cannot exceed 2 GiB; TensorFlow refuses a larger saved_model.pb."""


def saved_model_file(export_dir: PathLike) -> Path:
    """The ``saved_model.pb`` (preferred, as TensorFlow) or ``saved_model.pbtxt`` of a dir."""
    root = Path(export_dir)
    if not root.is_dir():
        raise NotFoundError(f"SavedModel directory {str(root)!r} does not exist")
    for name in ("saved_model.pb", "saved_model.pbtxt"):
        if (root / name).is_file():
            return root / name
    raise NotFoundError(
        f"no saved_model.pb or saved_model.pbtxt in {str(root)!r}; expected a SavedModel directory")


def variables_prefix(export_dir: PathLike) -> Path:
    """The checkpoint prefix of a SavedModel's variables: ``DIR/variables/variables``."""
    return Path(export_dir) / "variables" / "variables"


def read_saved_model(export_dir: PathLike) -> saved_model_pb2.SavedModel:
    """Parse the SavedModel proto of ``export_dir`` (binary or text format)."""
    path = saved_model_file(export_dir)
    size = path.stat().st_size
    if size > MAX_PROTO_BYTES:
        raise CorruptSavedModelError(
            f"{str(path)!r} is {size} bytes; a protocol buffer is at most {MAX_PROTO_BYTES}")
    data = path.read_bytes()
    model = saved_model_pb2.SavedModel()
    try:
        if path.suffix == ".pbtxt":
            from google.protobuf import text_format

            text_format.Parse(data.decode("utf-8"), model)
        else:
            model.ParseFromString(data)
    except Exception as exc:  # DecodeError, ParseError, UnicodeDecodeError, RecursionError
        raise CorruptSavedModelError(
            f"{str(path)!r} is not a valid SavedModel proto: {type(exc).__name__}: {exc}"
        ) from None
    return model
