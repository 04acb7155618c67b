"""Loading ONNX models: a path, bytes or an ``onnx.ModelProto``; external data resolved safely.

ONNX stores large initializers either inline (``raw_data`` or typed fields) or as *external
data*: ``data_location = EXTERNAL`` with ``external_data`` key/value pairs ``location`` (a path
relative to the model file's directory), ``offset`` and ``length`` (bytes).  We never let the
onnx package follow those paths: each location must be relative, free of ``..``, and resolve
(symlinks included) inside the model's directory, and the file must hold ``offset + length``
bytes.  The bytes are then *memory-mapped*, not read, so a 2 GB model is never resident: the
checkpoint writer streams them from the map.

Inline weights (``raw_data``, what the TorchScript exporter writes) get the same treatment: a
model file is memory-mapped and its protobuf wire format scanned (``ModelProto.graph`` →
``GraphProto.initializer`` → ``TensorProto.raw_data``, field numbers taken from the onnx
package's descriptors).  Only the bytes around large ``raw_data`` fields are parsed; each such
initializer becomes an external-data reference to its bytes inside the model file itself
(``location`` = the file's name, ``offset``/``length`` of the field's payload, plus the key
``pysavedmodel.inline``), so the weights are never copied into the ModelProto.  Wire format:
each field is a varint key ``number << 3 | wire type``; wire type 0 is a varint, 1 eight bytes,
5 four bytes, 2 a varint length followed by that many bytes (submessages, bytes, strings).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Error, MissingDependencyError, ModelError, NotFoundError
from ..format.varint import decode_varint64, encode_varint64

__all__ = ["import_onnx", "load_model", "initializer_array", "numpy_dtype", "check_copy",
           "INLINE_KEY", "LAZY_RAW_DATA_BYTES"]

INLINE_KEY = "pysavedmodel.inline"
"""External-data key marking an initializer whose bytes are inline ``raw_data`` of the model."""

LAZY_RAW_DATA_BYTES = 4096
"""Inline ``raw_data`` at least this long is memory-mapped instead of parsed (shape vectors,
axes and other small constants stay in the ModelProto, where shape inference sees them)."""


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
        base = path.resolve().parent
        where = f"ONNX model {str(path)!r}"
        data = _read_without_weights(onnx, path)
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


class _WireError(Exception):
    """The file is not well-formed protobuf; the caller lets protobuf's parser report it."""


def _field_end(buf: memoryview, pos: int, end: int) -> tuple[int, int, int, int]:
    """The field starting at ``pos``: ``(number, wire type, payload start, field end)``."""
    try:
        key, start = decode_varint64(buf, pos)
        wire = key & 7
        if wire == 0:
            _, stop = decode_varint64(buf, start)
        elif wire == 1:
            stop = start + 8
        elif wire == 5:
            stop = start + 4
        elif wire == 2:
            length, start = decode_varint64(buf, start)
            stop = start + length
        else:  # groups (3, 4) do not occur in ONNX; 6 and 7 are invalid
            raise _WireError
    except Error:
        raise _WireError from None
    if stop > end:
        raise _WireError
    return key >> 3, wire, start, stop


def _length_delimited(number: int, payload: bytes | memoryview) -> bytes:
    return b"".join([encode_varint64(number << 3 | 2), encode_varint64(len(payload)), payload])


def _entry(key: str, value: str) -> bytes:
    """A StringStringEntryProto (``key`` = 1, ``value`` = 2)."""
    return _length_delimited(1, key.encode()) + _length_delimited(2, value.encode())


class _Stripper:
    """Rewrites a serialized ModelProto without its large inline ``raw_data`` payloads."""

    def __init__(self, onnx: Any, buf: memoryview, location: str) -> None:
        def number(message: Any, field: str) -> int:
            return int(message.DESCRIPTOR.fields_by_name[field].number)

        self.buf = buf
        self.location = location
        self.graph = number(onnx.ModelProto, "graph")
        self.initializer = number(onnx.GraphProto, "initializer")
        self.raw_data = number(onnx.TensorProto, "raw_data")
        self.external = number(onnx.TensorProto, "external_data")
        self.data_location = number(onnx.TensorProto, "data_location")
        self.external_value = int(onnx.TensorProto.EXTERNAL)
        self.stripped = 0

    def model(self) -> bytes:
        out = bytearray()
        pos, end = 0, len(self.buf)
        while pos < end:
            number, wire, start, stop = _field_end(self.buf, pos, end)
            if number == self.graph and wire == 2:
                out += _length_delimited(number, self._graph(start, stop))
            else:
                out += self.buf[pos:stop]
            pos = stop
        return bytes(out)

    def _graph(self, pos: int, end: int) -> bytes:
        out = bytearray()
        while pos < end:
            number, wire, start, stop = _field_end(self.buf, pos, end)
            if number == self.initializer and wire == 2:
                out += _length_delimited(number, self._tensor(start, stop))
            else:
                out += self.buf[pos:stop]
            pos = stop
        return bytes(out)

    def _tensor(self, pos: int, end: int) -> bytes | memoryview:
        kept: list[memoryview] = []
        raw: tuple[int, int] | None = None
        whole = self.buf[pos:end]
        while pos < end:
            number, wire, start, stop = _field_end(self.buf, pos, end)
            if number in (self.external, self.data_location) or (
                    number == self.raw_data and raw is not None):
                return whole  # already external, or repeated raw_data: left as it is
            if number == self.raw_data and wire == 2 and stop - start >= LAZY_RAW_DATA_BYTES:
                raw = (start, stop - start)
            else:
                kept.append(self.buf[pos:stop])
            pos = stop
        if raw is None:
            return whole
        self.stripped += 1
        offset, length = raw
        return b"".join([
            *kept,
            encode_varint64(self.data_location << 3), encode_varint64(self.external_value),
            _length_delimited(self.external, _entry("location", self.location)),
            _length_delimited(self.external, _entry("offset", str(offset))),
            _length_delimited(self.external, _entry("length", str(length))),
            _length_delimited(self.external, _entry(INLINE_KEY, "1"))])


def _read_without_weights(onnx: Any, path: Path) -> bytes:
    """The model file's bytes with large inline ``raw_data`` replaced by references into the
    file itself (see the module docstring); the file as it is when it holds none, or when
    it is not well-formed (protobuf's parser then reports the problem)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < LAZY_RAW_DATA_BYTES:
            return f.read()
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            data = _stripped(onnx, mapped, path.name)
            if data is None:  # malformed, or nothing to strip
                data = mapped[:]
    return data


def _stripped(onnx: Any, mapped: mmap.mmap, location: str) -> bytes | None:
    with memoryview(mapped) as view:
        stripper = _Stripper(onnx, view, location)
        try:
            data = stripper.model()
        except _WireError:
            return None
        finally:
            stripper.buf = memoryview(b"")
        return data if stripper.stripped else None


def check_copy(model: Any) -> Any:
    """A copy of ``model`` for ``onnx.checker`` and shape inference, without external data:
    each externally stored initializer becomes a graph input of its type and shape (the
    locations and sizes were vetted by :func:`initializer_array`; the checker would look
    for the files relative to the working directory, and loading them is what we avoid)."""
    onnx = import_onnx()
    external = [init for init in model.graph.initializer
                if init.data_location == onnx.TensorProto.EXTERNAL]
    if not external:
        return model
    copy = type(model)()
    copy.CopyFrom(model)
    graph = copy.graph
    moved = {init.name for init in external}
    keep = [init for init in graph.initializer if init.name not in moved]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    declared = {value.name for value in graph.input}
    for init in external:
        if init.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(
                init.name, init.data_type, list(init.dims)))
    return copy


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
    if info.get(INLINE_KEY) and length != need:
        raise ModelError(f"{where}: raw_data holds {length} bytes, expected {need} for shape "
                         f"{list(shape)} {dtype.name}")
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
