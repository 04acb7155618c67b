"""safetensors files, read and written with numpy alone (the package is not needed).

Layout (all integers little-endian)::

    "<Q"  N        length of the JSON header in bytes
    N bytes        JSON: {"__metadata__": {str: str} (optional),
                          name: {"dtype": CODE, "shape": [d0, ...], "data_offsets": [begin, end]}}
    buffer         the tensors' raw little-endian bytes; offsets are relative to its start

The buffer is dense: tensors sorted by begin offset tile it exactly, with no gap or
overlap, and ``end - begin`` equals the shape's element count times the item size.

The writer reproduces the reference implementation byte for byte: tensors ordered by
dtype (widest first, in the reference's dtype order) then by name, the header as compact
JSON with ``__metadata__`` first (its keys sorted here; the reference keeps them in hash
order, so files with several metadata keys may differ there), padded with spaces so that
N is a multiple of 8.

Files from strangers are checked before anything is allocated: header length against
the file size and :data:`MAX_HEADER_BYTES`, JSON shape, dtype codes, dims, offsets.
Every failure is a :class:`~pysavedmodel.errors.CorruptCheckpointError` naming the file
(and the tensor).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np

from pysavedmodel.dtypes import DType, by_name, from_numpy
from pysavedmodel.errors import CorruptCheckpointError, InvalidArgumentError, UnsupportedDTypeError

from ._common import (
    PathLike,
    ProgressCallback,
    as_arrays,
    atomic_output,
    check_file,
    check_progress,
)

__all__ = [
    "read_safetensors", "read_safetensors_header", "write_safetensors", "encode_header",
    "SafetensorsEntry", "SafetensorsHeader", "MAX_HEADER_BYTES", "CODES",
]

HEADER_LENGTH: Final = struct.Struct("<Q")
"""The file's first 8 bytes: the JSON header's length."""

MAX_HEADER_BYTES: Final = 100_000_000
"""Headers larger than this are refused (the reference reader's limit too)."""

METADATA_KEY: Final = "__metadata__"

CODES: Final[tuple[tuple[str, str], ...]] = (
    ("BOOL", "bool"),
    ("U8", "uint8"),
    ("I8", "int8"),
    ("F8_E5M2", "float8_e5m2"),
    ("F8_E4M3", "float8_e4m3fn"),
    ("I16", "int16"),
    ("U16", "uint16"),
    ("F16", "float16"),
    ("BF16", "bfloat16"),
    ("I32", "int32"),
    ("U32", "uint32"),
    ("F32", "float32"),
    ("C64", "complex64"),
    ("F64", "float64"),
    ("I64", "int64"),
    ("U64", "uint64"),
)
"""safetensors dtype code -> pysavedmodel dtype name, in the reference's dtype order
(the writer puts later codes first in the buffer)."""

_ROW_BY_CODE: Final[dict[str, DType]] = {code: by_name(name) for code, name in CODES}
_CODE_BY_NAME: Final[dict[str, str]] = {name: code for code, name in CODES}
_RANK_BY_CODE: Final[dict[str, int]] = {code: rank for rank, (code, _) in enumerate(CODES)}

_READ_PIECE_BYTES: Final = 64 << 20
_WRITE_PIECE_BYTES: Final = 8 << 20
"""Large tensors are written in pieces of this size (one progress step each)."""


class SafetensorsEntry(NamedTuple):
    """One tensor of a safetensors header (offsets relative to the buffer)."""

    name: str
    dtype: DType
    shape: tuple[int, ...]
    begin: int
    end: int


class SafetensorsHeader(NamedTuple):
    """A validated safetensors header."""

    entries: tuple[SafetensorsEntry, ...]
    """Tensors in buffer order."""
    metadata: dict[str, str]
    buffer_offset: int
    """Where the buffer starts in the file (8 + header length)."""


# -- writing


def _code_of(name: str, array: np.ndarray, path: PathLike) -> str:
    if array.dtype.kind in "OSU":
        raise UnsupportedDTypeError(
            f"{str(path)!r}: tensor {name!r} has dtype {array.dtype}; safetensors holds "
            f"only numbers and bools ({', '.join(n for _, n in CODES)}), not strings")
    try:
        row = from_numpy(array.dtype)
    except UnsupportedDTypeError:
        row = None
    code = None if row is None else _CODE_BY_NAME.get(row.name)
    if code is None:
        raise UnsupportedDTypeError(
            f"{str(path)!r}: tensor {name!r} has dtype {array.dtype}, which safetensors cannot "
            f"hold; expected one of: {', '.join(n for _, n in CODES)}")
    return code


def encode_header(entries: Mapping[str, tuple[str, tuple[int, ...], int, int]],
                  metadata: Mapping[str, str] | None = None) -> bytes:
    """The JSON header (padded with spaces to a multiple of 8 bytes) for ``entries``
    ({name: (code, shape, begin, end)} in buffer order)."""
    document: dict[str, Any] = {}
    if metadata:
        document[METADATA_KEY] = {key: metadata[key] for key in sorted(metadata)}
    for name, (code, shape, begin, end) in entries.items():
        document[name] = {"dtype": code, "shape": list(shape), "data_offsets": [begin, end]}
    try:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate in a metadata key or value
        raise InvalidArgumentError(f"safetensors header is not valid UTF-8: {exc}") from None
    return text + b" " * (-len(text) % 8)


def write_safetensors(path: PathLike, tensors: Mapping[str, Any], *,
                      metadata: Mapping[str, str] | None = None,
                      progress: ProgressCallback | None = None, durable: bool = False) -> Path:
    """Write ``tensors`` ({name: array-like}) as a safetensors file; return its path.

    Byte-identical to ``safetensors.numpy.save_file`` for the same tensors (and at most
    one metadata key).  Strings and dtypes outside :data:`CODES` raise
    UnsupportedDTypeError naming the tensor, before anything is written; the file
    appears atomically.  ``progress(bytes_done, bytes_total)`` is called as tensor
    bytes are written.
    """
    target = Path(path)
    check_progress(progress)
    arrays = as_arrays(tensors, str(target))
    if metadata is not None and (
            not isinstance(metadata, Mapping)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise InvalidArgumentError(
            f"{str(target)!r}: safetensors metadata must map str -> str, got {metadata!r}")
    if METADATA_KEY in arrays:
        raise InvalidArgumentError(
            f"{str(target)!r}: a tensor cannot be named {METADATA_KEY!r} in safetensors "
            f"(the header keeps metadata under that key)")
    codes = {name: _code_of(name, array, target) for name, array in arrays.items()}
    order = sorted(arrays, key=lambda n: (-_RANK_BY_CODE[codes[n]], n))
    entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
    offset = 0
    for name in order:
        nbytes = arrays[name].nbytes
        entries[name] = (codes[name], arrays[name].shape, offset, offset + nbytes)
        offset += nbytes
    header = encode_header(entries, metadata)
    with atomic_output(target, durable) as out:
        out.write(HEADER_LENGTH.pack(len(header)))
        out.write(header)
        done = 0
        for name in order:
            array = arrays[name]
            if array.size == 0:
                continue
            row = _ROW_BY_CODE[codes[name]]
            assert row.numpy is not None
            data = np.ascontiguousarray(array, dtype=row.numpy).reshape(-1).view(np.uint8)
            for start in range(0, data.size, _WRITE_PIECE_BYTES):
                piece = data[start:start + _WRITE_PIECE_BYTES]
                out.write(piece.data)
                done += piece.size
                if progress is not None:
                    progress(done, offset)
        if progress is not None:
            progress(offset, offset)
    return target


# -- reading


def _fail(path: Path, message: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(f"{str(path)!r} is not a valid safetensors file: {message}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _entry(path: Path, name: str, spec: Any, buffer_size: int) -> SafetensorsEntry:
    where = f"tensor {name!r}"
    if not isinstance(spec, dict):
        raise _fail(path, f"{where}: expected an object, got {type(spec).__name__}")
    code = spec.get("dtype")
    row = _ROW_BY_CODE.get(code) if isinstance(code, str) else None
    if row is None:
        raise _fail(path, f"{where}: unknown dtype {code!r}; expected one of "
                          f"{', '.join(c for c, _ in CODES)}")
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise _fail(path, f"{where}: shape must be a list of non-negative ints, got {shape!r}")
    offsets = spec.get("data_offsets")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(_is_int(o) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= buffer_size):
        raise _fail(path, f"{where}: data_offsets must be [begin, end] with "
                          f"0 <= begin <= end <= {buffer_size} (the buffer size), got {offsets!r}")
    begin, end = offsets
    nbytes = 0 if 0 in shape else row.itemsize
    for dim in shape:  # dims >= 1 here: the product only grows; stop once it cannot fit
        nbytes *= dim
        if nbytes > buffer_size:
            break
    if nbytes != end - begin:
        raise _fail(path, f"{where}: shape {shape} of {row.name} needs {nbytes} bytes, "
                          f"data_offsets {offsets} hold {end - begin}")
    return SafetensorsEntry(name, row, tuple(shape), begin, end)


def read_safetensors_header(path: PathLike) -> SafetensorsHeader:
    """Read and validate the header of a safetensors file (no tensor data is read)."""
    source = Path(path)
    size = check_file(source, "safetensors file")
    with open(source, "rb") as f:
        head = f.read(HEADER_LENGTH.size)
        if len(head) < HEADER_LENGTH.size:
            raise _fail(source, f"{size} bytes, shorter than the 8-byte header length")
        (length,) = HEADER_LENGTH.unpack(head)
        if length > MAX_HEADER_BYTES or length > size - HEADER_LENGTH.size:
            raise _fail(source, f"header length {length} exceeds the file size ({size} bytes) "
                                f"or the {MAX_HEADER_BYTES}-byte limit")
        raw = f.read(length)
    if len(raw) != length:
        raise _fail(source, "file shrank while reading its header")
    try:
        document = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError too
        raise _fail(source, f"header is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise _fail(source, f"header must be a JSON object, got {type(document).__name__}")
    metadata = document.pop(METADATA_KEY, None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _fail(source, f"{METADATA_KEY} must map strings to strings, got {metadata!r}")
    buffer_offset = HEADER_LENGTH.size + length
    buffer_size = size - buffer_offset
    entries = [_entry(source, name, spec, buffer_size) for name, spec in document.items()]
    entries.sort(key=lambda e: (e.begin, e.end))
    position = 0
    for entry in entries:
        if entry.begin != position:
            problem = "overlaps the previous tensor" if entry.begin < position else \
                f"leaves a gap (bytes {position}..{entry.begin} belong to no tensor)"
            raise _fail(source, f"tensor {entry.name!r} at data_offsets "
                                f"[{entry.begin}, {entry.end}] {problem}")
        position = entry.end
    if position != buffer_size:
        raise _fail(source, f"the tensors cover {position} bytes of a {buffer_size}-byte buffer")
    return SafetensorsHeader(tuple(entries), dict(metadata), buffer_offset)


def read_safetensors(path: PathLike) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as independent numpy arrays, sorted by name.

    bfloat16 / float8 come back as ``ml_dtypes`` arrays.  Raises NotFoundError for a
    missing file and CorruptCheckpointError for anything that does not validate.
    """
    source = Path(path)
    header = read_safetensors_header(source)
    arrays: dict[str, np.ndarray] = {}
    with open(source, "rb", buffering=0) as f:  # readinto straight into the arrays
        for entry in header.entries:
            assert entry.dtype.numpy is not None
            array = np.empty(entry.shape, dtype=entry.dtype.numpy)
            target = array.reshape(-1).view(np.uint8)
            f.seek(header.buffer_offset + entry.begin)
            done = 0
            while done < target.size:
                got = f.readinto(target[done:done + _READ_PIECE_BYTES].data)
                if not got:
                    raise _fail(source, f"tensor {entry.name!r}: file ended early "
                                        f"(it changed while being read)")
                done += got
            arrays[entry.name] = array
    return {name: arrays[name] for name in sorted(arrays)}
