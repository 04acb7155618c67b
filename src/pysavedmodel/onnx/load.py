"""Loading ONNX models: a path, bytes or an ``onnx.ModelProto``; external data resolved safely.

ONNX stores large initializers either inline (``raw_data`` or typed fields) or as *external
data*: ``data_location = EXTERNAL`` with ``external_data`` key/value pairs ``location`` (a path
relative to the model file's directory), ``offset`` and ``length`` (bytes).  We never let the
onnx package follow those paths: each location must be relative, free of ``..``, and resolve
(symlinks included) inside the model's directory, and the file must hold ``offset + length``
bytes.  The bytes are then *memory-mapped*, not read, so a 2 GB model is never resident: the
checkpoint writer streams them from the map.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError, ModelError, NotFoundError

__all__ = ["import_onnx", "load_model", "initializer_array", "numpy_dtype"]


def import_onnx() -> Any:
    """The ``onnx`` module, or :class:`MissingDependencyError` naming the extra."""
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependencyError(
            "converting ONNX models needs the onnx package: "
            "pip install 'pysavedmodel[onnx]'") from exc
    return onnx


def load_model(model: Any) -> tuple[Any, Path | None]:
    """Parse ``model`` (path, bytes or ModelProto) without loading external data.

    Returns the ModelProto and the directory external data is relative to (None for
    bytes/ModelProto input, where external data is then refused).
    """
    onnx = import_onnx()
    if isinstance(model, onnx.ModelProto):
        return model, None
    if isinstance(model, (bytes, bytearray, memoryview)):
        data, base = bytes(model), None
        where = "ONNX bytes"
    elif isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise NotFoundError(f"ONNX model {str(path)!r}: no such file")
        data, base = path.read_bytes(), path.resolve().parent
        where = f"ONNX model {str(path)!r}"
    else:
        raise ModelError(f"model: expected a path, bytes or onnx.ModelProto, "
                         f"got {type(model).__name__}")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelError(
            f"{where}: not a valid ONNX model (protobuf parse failed: {exc})") from None
    if not proto.HasField("graph"):
        raise ModelError(f"{where}: not a valid ONNX model (no graph)")
    return proto, base


def numpy_dtype(elem_type: int, where: str) -> np.dtype[Any]:
    """The numpy dtype of ONNX ``TensorProto.DataType`` ``elem_type``."""
    onnx = import_onnx()
    try:
        dtype: np.dtype[Any] = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
        return dtype
    except Exception:
        raise ModelError(f"{where}: unsupported ONNX element type {elem_type}") from None


def _external(tensor: Any, base: Path | None) -> np.ndarray[Any, Any]:
    info = {entry.key: entry.value for entry in tensor.external_data}
    where = f"initializer {tensor.name!r}"
    location = info.get("location", "")
    if base is None:
        raise ModelError(f"{where}: external data {location!r} needs the model loaded from a "
                         "path (its directory locates the data file)")
    rel = Path(location)
    if not location or rel.is_absolute() or ".." in rel.parts:
        raise ModelError(f"{where}: external data location {location!r} must be a relative "
                         "path inside the model's directory")
    target = (base / rel).resolve()
    if base not in target.parents:
        raise ModelError(f"{where}: external data location {location!r} resolves to "
                         f"{str(target)!r}, outside the model's directory {str(base)!r}")
    if not target.is_file():
        raise ModelError(f"{where}: external data file {location!r} does not exist")
    dtype = numpy_dtype(tensor.data_type, where)
    shape = tuple(int(d) for d in tensor.dims)
    count = int(np.prod(shape, dtype=np.int64))
    need = count * dtype.itemsize
    try:
        offset = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else need
    except ValueError:
        raise ModelError(
            f"{where}: external data offset/length {info!r} are not integers") from None
    if length != need or offset < 0:
        raise ModelError(f"{where}: external data declares offset {offset} length {length}, "
                         f"expected length {need} for shape {list(shape)} {dtype.name}")
    size = target.stat().st_size
    if offset + length > size:
        raise ModelError(f"{where}: external data file {location!r} holds {size} bytes, "
                         f"shorter than the declared offset {offset} + length {length}")
    if count == 0:
        return np.zeros(shape, dtype)
    return np.memmap(target, dtype=dtype.newbyteorder("<"), mode="r", offset=offset,
                     shape=shape)


def initializer_array(tensor: Any, base: Path | None) -> np.ndarray[Any, Any]:
    """The value of ONNX TensorProto ``tensor`` (memory-mapped when stored externally)."""
    onnx = import_onnx()
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return _external(tensor, base)
    try:
        return np.asarray(onnx.numpy_helper.to_array(tensor))
    except Exception as exc:
        raise ModelError(f"initializer {tensor.name!r}: cannot decode its data ({exc})") from None
