"""Tensor values <-> the bytes a TensorBundle data file holds.

Fixed-size dtypes are stored as raw little-endian row-major bytes (bool: one byte,
complex: (real, imag) pairs).  A ``DT_STRING`` tensor of N elements is stored as::

    varint64 len[0] ... varint64 len[N-1]     one varint per element
    fixed32  mask(crc_L)            "<I"      crc_L = crc32c over every length written
                                              as "<I" (as "<Q" if it exceeds 2**32-1)
    bytes[0] ... bytes[N-1]                   the elements, concatenated

and its entry crc is crc_L extended with the 4 checksum bytes, then with the
element bytes (masked when stored).  ``size`` covers all three parts.
"""

from __future__ import annotations

import functools
import mmap
import struct
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

from pysavedmodel.dtypes import DType, from_numpy
from pysavedmodel.errors import (
    ChecksumError,
    CorruptCheckpointError,
    InvalidArgumentError,
    UnsupportedDTypeError,
)

from ..names import utf8
from .crc32c import crc32c, mask, unmask
from .varint import decode_varint64, encode_varint64

__all__ = [
    "PreparedTensor", "prepare_tensor", "iter_tensor_bytes", "direct_tensor_bytes",
    "decode_string_tensor",
    "CHUNK_BYTES", "SMALL_TENSOR_BYTES", "small_tensor_bytes", "checkpoint_row",
    "release_mapped_pages",
]

CHUNK_BYTES = 16 << 20
"""Upper bound of the temporary copy made when an array must be converted to be written."""

SMALL_TENSOR_BYTES = 64 << 10
"""Tensors up to this size are copied into one ``bytes`` to be written (fewer steps per
tensor); larger ones are written straight from the array's memory."""

_U32_MAX = 0xFFFFFFFF
_LEN32 = struct.Struct("<I")   # a string length in the length checksum
_LEN64 = struct.Struct("<Q")   # ... when it does not fit 32 bits
_CHECKSUM = struct.Struct("<I")  # the masked length checksum stored after the varints


class PreparedTensor:
    """A validated value ready to be written: the user's array is kept, not copied.

    ``strings``: the encoded elements of a string tensor (row-major), else None;
    ``nbytes``: the bytes it occupies in the data file."""

    __slots__ = ("name", "dtype", "array", "strings", "nbytes")

    def __init__(self, name: str, dtype: DType, array: np.ndarray,
                 strings: list[bytes] | None, nbytes: int) -> None:
        self.name = name
        self.dtype = dtype
        self.array = array
        self.strings = strings
        self.nbytes = nbytes

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the value."""
        return tuple(self.array.shape)


_Prepared = TypeVar("_Prepared", bound=PreparedTensor)


def _supported_names() -> str:
    from pysavedmodel.dtypes import DTYPES

    return ", ".join(sorted(row.name for row in DTYPES.values() if row.checkpointable))


def _as_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except Exception as exc:  # numpy raises ValueError/TypeError/... for ragged or odd input
        raise InvalidArgumentError(
            f"tensor {name!r}: cannot convert {type(value).__name__} to an array: {exc}") from None


def _element_where(name: str, array: np.ndarray, i: int) -> str:
    where = np.unravel_index(i, array.shape) if array.ndim else ()
    return f"tensor {name!r}: string element at index {tuple(map(int, where))}"


def _encode_strings(name: str, array: np.ndarray) -> list[bytes]:
    encoded: list[bytes] = []
    for i, element in enumerate(array.reshape(-1).tolist()):
        if isinstance(element, bytes):
            encoded.append(element)
        elif isinstance(element, str):
            encoded.append(utf8(element, functools.partial(_element_where, name, array, i)))
        elif isinstance(element, (bytearray, memoryview)):
            encoded.append(bytes(element))
        else:
            where = np.unravel_index(i, array.shape) if array.ndim else ()
            raise InvalidArgumentError(
                f"tensor {name!r}: element at index {tuple(map(int, where))} is "
                f"{type(element).__name__} {element!r}; a string tensor holds bytes or str")
    return encoded


def _varint_size(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


_CHECKPOINT_ROWS: dict[np.dtype, DType] = {}
"""Memo of :func:`_checkpoint_row` (a handful of numpy dtypes, looked up once per tensor)."""


def _checkpoint_row(name: str, dtype: np.dtype) -> DType:
    """The dtype table row a checkpoint stores ``dtype`` as, or UnsupportedDTypeError."""
    row = _CHECKPOINT_ROWS.get(dtype)
    if row is not None:
        return row
    try:
        row = from_numpy(dtype)
    except UnsupportedDTypeError:
        row = None
    if row is None or not row.checkpointable:
        raise UnsupportedDTypeError(
            f"tensor {name!r}: dtype {dtype} cannot be stored in a checkpoint; "
            f"supported: {_supported_names()}")
    _CHECKPOINT_ROWS[dtype] = row
    return row


def checkpoint_row(dtype: np.dtype) -> DType | None:
    """The dtype table row a checkpoint stores ``dtype`` as, or None if it cannot."""
    try:
        return _checkpoint_row("", dtype)
    except UnsupportedDTypeError:
        return None


def prepare_tensor(
    name: str, value: Any,
    kind: type[_Prepared] = PreparedTensor,  # type: ignore[assignment]
) -> _Prepared:
    """Validate ``value`` for the checkpoint (dtype, string elements) and size it.

    ``kind`` is the class built (a subclass of :class:`PreparedTensor`, for a writer
    that keeps its own per-tensor fields on the same object).
    Raises UnsupportedDTypeError naming the tensor for dtypes a checkpoint cannot hold,
    InvalidArgumentError for values numpy cannot convert or bad string elements.
    """
    array = value if type(value) is np.ndarray else _as_array(name, value)
    row = _checkpoint_row(name, array.dtype)
    if row.is_string:
        strings = _encode_strings(name, array)
        nbytes = sum(_varint_size(len(s)) + len(s) for s in strings) + _CHECKSUM.size
        return kind(name, row, array, strings, nbytes)
    return kind(name, row, array, None, array.size * row.itemsize)


def _byte_view(array: np.ndarray) -> memoryview:
    """Flat unsigned-byte memoryview of a C-contiguous array, without copying."""
    return array.reshape(-1).view(np.uint8).data


def _converted_chunks(array: np.ndarray, target: np.dtype, limit: int) -> Iterator[memoryview]:
    """Row-major bytes of ``array`` as ``target``, converting at most ~``limit`` bytes at once."""
    if array.ndim == 0:
        yield _byte_view(np.ascontiguousarray(array, dtype=target))
        return
    if array.shape[0] == 0:
        return
    row_bytes = int(array[0].size) * target.itemsize
    if array.ndim > 1 and row_bytes > limit:
        for i in range(array.shape[0]):
            yield from _converted_chunks(array[i], target, limit)
        return
    rows = max(1, limit // max(row_bytes, 1))
    for start in range(0, array.shape[0], rows):
        yield _byte_view(np.ascontiguousarray(array[start:start + rows], dtype=target))


def _string_chunks(strings: Sequence[bytes]) -> Iterator[tuple[memoryview, memoryview]]:
    lengths = bytearray()
    length_crc_input = bytearray()
    for s in strings:
        n = len(s)
        lengths += encode_varint64(n)
        length_crc_input += _LEN32.pack(n) if n <= _U32_MAX else _LEN64.pack(n)
    # The entry crc covers the lengths as fixed-width integers, not their varints.
    yield memoryview(bytes(lengths)), memoryview(bytes(length_crc_input))
    checksum = memoryview(_CHECKSUM.pack(mask(crc32c(length_crc_input))))
    yield checksum, checksum
    for s in strings:
        if s:
            view = memoryview(s)
            yield view, view


def small_tensor_bytes(tensor: PreparedTensor) -> bytes | None:
    """The data-file bytes of a fixed-size tensor of at most :data:`SMALL_TENSOR_BYTES`.

    One ``bytes`` object (a small copy, in whatever layout or byte order the array
    had), which is cheaper per tensor than :func:`iter_tensor_bytes`.  None for string
    tensors and larger ones: those are streamed without a copy.
    """
    if tensor.strings is not None or tensor.nbytes > SMALL_TENSOR_BYTES:
        return None
    array = tensor.array
    target = tensor.dtype.numpy
    if array.dtype != target:
        array = array.astype(target)
    return array.tobytes()


def direct_tensor_bytes(tensor: PreparedTensor) -> memoryview | None:
    """The data-file bytes of a numeric tensor as one view of its own memory (a C-contiguous
    array already in the stored dtype and byte order), else None (string tensors, arrays
    that :func:`iter_tensor_bytes` converts)."""
    array = tensor.array
    if tensor.strings is None and array.flags.c_contiguous and array.dtype == tensor.dtype.numpy:
        return _byte_view(array)
    return None


def iter_tensor_bytes(tensor: PreparedTensor, *, chunk_bytes: int | None = None
                      ) -> Iterator[tuple[memoryview, memoryview]]:
    """The data-file bytes of a tensor as ``(bytes to write, bytes its entry crc covers)`` pairs.

    The two are the same buffer except for a string tensor's lengths.  A C-contiguous
    little-endian array is yielded as one view of its own memory; other arrays
    (non-contiguous, big-endian) are converted ``chunk_bytes`` (default
    :data:`CHUNK_BYTES`) at a time.
    """
    if tensor.strings is not None:
        yield from _string_chunks(tensor.strings)
        return
    array = tensor.array
    target = tensor.dtype.numpy
    assert target is not None
    if array.size == 0:
        return
    view = direct_tensor_bytes(tensor)
    if view is not None:
        yield view, view
    else:
        limit = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
        for view in _converted_chunks(array, target, limit):
            yield view, view


def decode_string_tensor(data: memoryview, count: int, stored_crc: int, *, where: str
                         ) -> list[bytes]:
    """Decode ``count`` string elements stored in ``data`` (exactly the entry's bytes).

    Verifies the length checksum and the entry checksum ``stored_crc`` (masked, as in the
    index); ``where`` names the tensor, file and offset in errors.
    """
    size = len(data)
    if size == 0:  # what TF accepts for a tensor written without any bytes
        if unmask(stored_crc) != 0:
            raise ChecksumError(f"{where}: checksum does not match (no bytes stored)")
        return [b""] * count
    lengths = []
    pos = 0
    crc = 0
    for _ in range(count):
        try:
            n, pos = decode_varint64(data, pos)
        except CorruptCheckpointError as exc:
            raise CorruptCheckpointError(f"{where}: bad string length: {exc}") from None
        lengths.append(n)
        crc = crc32c(_LEN32.pack(n) if n <= _U32_MAX else _LEN64.pack(n), crc)
    if pos + _CHECKSUM.size > size:
        raise CorruptCheckpointError(
            f"{where}: string lengths run past the entry's {size} bytes")
    (length_checksum,) = _CHECKSUM.unpack_from(data, pos)
    if unmask(length_checksum) != crc:
        raise ChecksumError(
            f"{where}: string length checksum does not match: stored "
            f"{unmask(length_checksum):08x}, computed {crc:08x}")
    crc = crc32c(data[pos:pos + _CHECKSUM.size], crc)
    pos += _CHECKSUM.size
    if pos + sum(lengths) != size:
        raise CorruptCheckpointError(
            f"{where}: string lengths add up to {pos + sum(lengths)} bytes, the entry holds {size}")
    crc = crc32c(data[pos:], crc)
    if crc != unmask(stored_crc):
        raise ChecksumError(
            f"{where}: checksum does not match: stored {unmask(stored_crc):08x}, "
            f"computed {crc:08x}")
    elements = []
    for n in lengths:
        elements.append(bytes(data[pos:pos + n]))
        pos += n
    return elements


def release_mapped_pages(array: Any) -> None:
    """Drop the pages of a read-only memory-mapped ``array`` (``np.memmap`` mode ``"r"``, a
    ``np.frombuffer`` view of a read-only ``mmap.mmap``, or a view of either) from this
    process once it has been written: they stay in the page cache, so a later read faults
    them back in, but streaming a model larger than RAM no longer keeps every weight
    resident (nor leaves them all to unmap at the end).  Only the whole pages of the
    array's own bytes are dropped (a mapping may hold other tensors, still to be
    written); an array that is not contiguous is left alone, and so is anything else
    (in-memory arrays, writable or copy-on-write maps, whose private pages would be
    lost)."""
    if not isinstance(array, np.ndarray) or not (
            array.flags.c_contiguous or array.flags.f_contiguous) or not array.nbytes:
        return
    base: Any = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    if base is None or not hasattr(base, "madvise"):
        return
    try:
        with memoryview(base) as view:
            if not view.readonly or not len(view):
                return
        first = np.frombuffer(base, np.uint8, count=1)  # where the mapping starts
    except (ValueError, BufferError):  # closed
        return
    offset = array.__array_interface__["data"][0] - first.__array_interface__["data"][0]
    del first  # (a buffer of the map: a map cannot close while one is exported)
    if offset < 0 or offset + array.nbytes > len(base):
        return
    page = mmap.PAGESIZE
    begin = -(-offset // page) * page  # whole pages only: the edges may hold neighbours
    end = (offset + array.nbytes) // page * page
    if end > begin:
        try:
            base.madvise(mmap.MADV_DONTNEED, begin, end - begin)
        except (OSError, ValueError):
            pass
