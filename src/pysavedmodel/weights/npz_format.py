"""``.npz`` archives (numpy's ``savez`` layout): a zip of ``NAME.npy`` members.

Reading never unpickles: each member's ``.npy`` header is parsed first, object dtypes
are refused, and the element count times the item size must equal the member's size
before an array is allocated.  Compressed members may not claim more than deflate's
maximum ratio of their compressed size (a zip bomb cannot make us allocate).

dtype conventions:

* bfloat16 has no numpy type code, so numpy (and JAX) store ``ml_dtypes.bfloat16``
  arrays as 2-byte void (``<V2``); a 2-byte void member reads back as bfloat16.  Other
  void, structured, datetime and object members are refused.
* ``S`` (bytes) and ``U`` (str, encoded as UTF-8) members read back as string tensors
  (object arrays of bytes).  Writing strings is refused: fixed-width ``S`` arrays drop
  trailing NUL bytes, so they could not round-trip.
* float8 types would also become void (1 byte, ambiguous) and are refused on writing.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Final, cast

import numpy as np

from pysavedmodel.dtypes import DT_BFLOAT16, DTYPES, from_numpy
from pysavedmodel.errors import (
    CorruptCheckpointError,
    Error,
    InvalidArgumentError,
    UnsupportedDTypeError,
)

from ._common import (
    PathLike,
    ProgressCallback,
    as_arrays,
    atomic_output,
    check_file,
    check_progress,
)

__all__ = ["read_npz", "write_npz", "MAX_DEFLATE_RATIO"]

MAX_DEFLATE_RATIO: Final = 1032
"""Deflate cannot expand data by more than about this factor."""

_MEMBER_SUFFIX: Final = ".npy"
_READ_PIECE_BYTES: Final = 1 << 20  # zipfile copies each read; small pieces stay in cache
_BFLOAT16: Final = np.dtype(DTYPES[DT_BFLOAT16].numpy)


def _fail(path: Path, message: str) -> CorruptCheckpointError:
    return CorruptCheckpointError(f"{str(path)!r} is not a valid .npz archive: {message}")


def _read_header(f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        return fmt.read_array_header_1_0(f)
    if version == (2, 0):
        return fmt.read_array_header_2_0(f)
    if version == (3, 0):  # UTF-8 header; numpy only exposes the private reader for it
        reader = getattr(fmt, "_read_array_header", None)
        if reader is not None:
            return reader(f, version)  # type: ignore[no-any-return]
    raise ValueError(f"unsupported .npy format version {version}")


def _as_tensor(path: Path, key: str, array: np.ndarray) -> np.ndarray:
    """Map a stored array to a pysavedmodel tensor (see the module docstring)."""
    dtype = array.dtype
    if dtype.kind == "S":
        return np.array([bytes(v) for v in array.reshape(-1)], dtype=object).reshape(array.shape)
    if dtype.kind == "U":
        return np.array([str(v).encode("utf-8") for v in array.reshape(-1)],
                        dtype=object).reshape(array.shape)
    if dtype.kind == "V" and dtype.fields is None and dtype.itemsize == 2:
        return array.view(_BFLOAT16)
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("<"))
    try:
        from_numpy(array.dtype)
    except UnsupportedDTypeError:
        raise UnsupportedDTypeError(
            f"{str(path)!r}: member {key!r} has dtype {dtype} ({dtype.str}), which is not a "
            f"tensor dtype pysavedmodel knows") from None
    return array


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path,
                 archive_size: int) -> np.ndarray:
    key = info.filename[:-len(_MEMBER_SUFFIX)]
    with archive.open(info) as f:
        try:
            shape, fortran_order, dtype = _read_header(f)
        except Exception as exc:  # numpy parses it with ast: SyntaxError, TokenError...
            raise _fail(path, f"member {key!r}: bad .npy header: {type(exc).__name__}: {exc}"
                        ) from None
        if dtype.hasobject:
            raise UnsupportedDTypeError(
                f"{str(path)!r}: member {key!r} holds Python objects (dtype {dtype}); "
                f"they need pickle, which pysavedmodel never runs")
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise _fail(path, f"member {key!r}: invalid shape {shape!r}")
        count = 1
        for dim in shape:
            count *= dim
        expected = count * dtype.itemsize
        available = info.file_size - f.tell()
        if expected != available:
            raise _fail(path, f"member {key!r}: shape {shape} of {dtype} needs {expected} "
                              f"bytes, the member holds {available}")
        limit = info.compress_size * (MAX_DEFLATE_RATIO
                                      if info.compress_type != zipfile.ZIP_STORED else 1)
        if info.compress_size > archive_size or info.file_size > limit + 4096:
            raise _fail(path, f"member {key!r} claims {info.file_size} bytes from "
                              f"{info.compress_size} compressed bytes")
        array = np.empty(count, dtype=dtype)
        stream = cast(io.BufferedIOBase, f)
        target = array.view(np.uint8)
        done = 0
        try:
            while done < target.size:
                got = stream.readinto(target[done:done + _READ_PIECE_BYTES].data)
                if not got:
                    break
                done += got
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
            raise _fail(path, f"member {key!r}: {exc}") from None
        if done != target.size:
            raise _fail(path, f"member {key!r}: ended after {done} of {expected} bytes")
    array = array.reshape(shape[::-1]).transpose() if fortran_order else array.reshape(shape)
    return _as_tensor(path, key, array)


def read_npz(path: PathLike) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive as ``{key: ndarray}`` (keys without ``.npy``),
    sorted by key.  Raises NotFoundError / CorruptCheckpointError / UnsupportedDTypeError."""
    source = Path(path)
    size = check_file(source, ".npz file")
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if info.filename.endswith("/"):
                    continue
                if not info.filename.endswith(_MEMBER_SUFFIX):
                    raise _fail(source, f"member {info.filename!r} is not a .npy array")
                key = info.filename[:-len(_MEMBER_SUFFIX)]
                if key in arrays:
                    raise _fail(source, f"member {info.filename!r} appears twice")
                arrays[key] = _read_member(archive, info, source, size)
    except Exception as exc:  # zipfile fails on damaged archives in many ways (even IndexError)
        if isinstance(exc, Error):  # ours, already precise
            raise
        raise _fail(source, f"{type(exc).__name__}: {exc}") from None
    return {key: arrays[key] for key in sorted(arrays)}


def _descr_reads_back(dtype: np.dtype[Any]) -> bool:
    """Whether the ``.npy`` header numpy writes for ``dtype`` parses back to it."""
    try:
        return bool(np.dtype(dtype.str) == dtype)
    except TypeError:  # e.g. ml_dtypes float8_e5m2 writes "<f1", which numpy cannot parse
        return False


def _storable(path: Path, name: str, array: np.ndarray) -> np.ndarray:
    if "\x00" in name:  # zip member names end at the first NUL
        raise InvalidArgumentError(
            f"{str(path)!r}: tensor name {name!r} contains a NUL character, which .npz "
            f"member names cannot hold")
    if array.dtype.kind in "OSU":
        raise UnsupportedDTypeError(
            f"{str(path)!r}: tensor {name!r} holds strings; .npz cannot store them without "
            f"pickle or losing trailing NUL bytes (use a checkpoint)")
    try:
        row = from_numpy(array.dtype)
    except UnsupportedDTypeError:
        row = None
    # ml_dtypes types lose their identity in a .npy header; bfloat16 reads back by convention
    if row is None or not (row.enum == DT_BFLOAT16 or _descr_reads_back(array.dtype)):
        raise UnsupportedDTypeError(
            f"{str(path)!r}: tensor {name!r} has dtype {array.dtype}, which .npz cannot "
            f"store unambiguously")
    return array


def write_npz(path: PathLike, tensors: Mapping[str, Any], *,
              progress: ProgressCallback | None = None, durable: bool = False) -> Path:
    """Write ``tensors`` as an uncompressed ``.npz`` (what ``np.savez`` writes); return its
    path.  Strings and float8 raise UnsupportedDTypeError naming the tensor before
    anything is written; the file appears atomically.  ``progress(bytes_done,
    bytes_total)`` is called after each tensor."""
    target = Path(path)
    check_progress(progress)
    arrays = {name: _storable(target, name, array)
              for name, array in as_arrays(tensors, str(target)).items()}
    with atomic_output(target, durable) as out, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        total = sum(array.nbytes for array in arrays.values())
        done = 0
        for name, array in arrays.items():
            with archive.open(name + _MEMBER_SUFFIX, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
            done += array.nbytes
            if progress is not None:
                progress(done, total)
    return target
