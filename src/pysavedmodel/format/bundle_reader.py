"""Reading TensorBundle checkpoints, verifying what TensorFlow's BundleReader verifies.

Checks: the table's magic and block crcs (:mod:`.table`), the header (num_shards,
LITTLE endianness, a version this reader can consume), every entry's shape, its
size (fixed-size dtypes: ``num_elements * itemsize``), that its bytes lie inside
its data file, and its crc32c (strings: the length checksum too).

Index entries are decoded by :func:`.bundle_entry.decode_entry` when they have the plain
form writers produce, and by protobuf otherwise.
"""

from __future__ import annotations

import math
import mmap
import os
import stat
from collections.abc import Iterator, Mapping
from operator import methodcaller
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, NamedTuple

import numpy as np

from pysavedmodel._proto import tensor_bundle_pb2
from pysavedmodel.dtypes import DTYPES, DType, dtype_name
from pysavedmodel.errors import (
    ChecksumError,
    CorruptCheckpointError,
    InvalidArgumentError,
    NotFoundError,
    UnsupportedDTypeError,
)

from ..aliases import PathLike
from . import slices as slicing
from .bundle_entry import (
    DecodedEntries,
    EntryFields,
    decode_entries,
    decode_entry,
    entry_fields,
)
from .crc32c import BACKEND as crc32c_backend
from .crc32c import crc32c, crc32c_buffer, unmask
from .naming import data_filename, index_filename
from .ordered_code import slice_key_from_bytes
from .table import TableReader
from .tensor_data import decode_string_tensor

__all__ = ["CheckpointReader", "read_checkpoint", "data_filename", "index_filename",
           "READER_VERSION", "MIN_PRODUCER"]


READER_VERSION = 1
"""The bundle format version this reader consumes (TF's kTensorBundleVersion)."""
MIN_PRODUCER = 0
"""Oldest producer version it reads (TF's kTensorBundleMinProducer)."""

_MAX_RANK = 64 if int(np.__version__.split(".")[0]) >= 2 else 32
"""Most dimensions a numpy array can have (numpy 1.x: 32)."""
_MAX_EXTENT = (1 << 63) // 16
"""Bound on the product of a shape's non-zero dims: numpy refuses arrays (even empty ones)
whose nominal byte size would overflow, and 16 bytes is the largest itemsize read."""


_preadv: Callable[[int, list[Any], int], int] | None = getattr(os, "preadv", None)
"""``os.preadv`` (not on Windows)."""

_MAX_REMEMBERED_SHAPES = 4096
"""Shapes found valid are remembered (up to this many) and not checked again."""

_COPY_PIECE_BYTES = 1 << 20
"""Tensors copied out of the mapping are copied and checksummed in pieces of this size."""

_PARALLEL_COPY_BYTES = 32 << 20
"""``read_checkpoint`` copies large tensors on several threads (one per core) when they
hold at least this many bytes together; below that, threads cost more than they save."""


class _Stored(NamedTuple):
    """A checked, not yet verified, run of tensor bytes in a data file."""

    name: str
    row: DType
    shape: tuple[int, ...]
    elements: int
    shard: int
    offset: int
    view: memoryview
    masked_crc: int
    file: _DataFile


def _check_header(header: tensor_bundle_pb2.BundleHeaderProto, path: Path) -> None:
    if header.num_shards < 1:
        raise CorruptCheckpointError(
            f"{path}: header has num_shards {header.num_shards}, expected >= 1")
    if header.endianness != tensor_bundle_pb2.BundleHeaderProto.LITTLE:
        raise CorruptCheckpointError(
            f"{path}: header says the data is big-endian; only little-endian bundles are supported")
    version = header.version
    if version.producer < MIN_PRODUCER:
        raise CorruptCheckpointError(
            f"{path}: checkpoint producer version {version.producer} is older than the minimum "
            f"{MIN_PRODUCER} this reader supports")
    if version.min_consumer > READER_VERSION:
        raise CorruptCheckpointError(
            f"{path}: checkpoint requires reader version >= {version.min_consumer}; this reader "
            f"is version {READER_VERSION}")
    if READER_VERSION in version.bad_consumers:
        raise CorruptCheckpointError(
            f"{path}: checkpoint disallows reader version {READER_VERSION} (bad_consumers "
            f"{list(version.bad_consumers)})")


class _DataFile:
    """One memory-mapped data file (empty files have no mapping).

    Opened without blocking and refused unless it is a regular file: a FIFO named like
    a checkpoint file would otherwise block the open until a writer comes, a directory
    or a device (/dev/zero) is no checkpoint either.  Raises FileNotFoundError if it
    does not exist, NotFoundError if it cannot be opened.  With ``keep_open`` the file
    descriptor stays open (``fd``) for :func:`os.preadv`, until :meth:`close`.
    """

    def __init__(self, path: Path, *, keep_open: bool = False) -> None:
        self.path = path
        self.map: mmap.mmap | None = None
        self.whole: memoryview = memoryview(b"")  # of the mapping, once mapped
        self.fd: int | None = None
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise NotFoundError(f"cannot open {path}: {exc.strerror or exc}") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise CorruptCheckpointError(f"{path} is not a regular file")
            self.size = info.st_size
            if self.size:
                self.map = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
                self.whole = memoryview(self.map)
        except BaseException:
            os.close(fd)
            raise
        if keep_open and _preadv is not None:
            self.fd = fd
        else:
            os.close(fd)

    def view(self, offset: int, size: int) -> memoryview:
        return self.whole[offset:offset + size]

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.map is not None:
            self.whole.release()  # views sliced from it keep the mapping alive
            self.whole = memoryview(b"")
            try:
                self.map.close()
            except BufferError:
                pass  # arrays returned by get_tensor still use it; freed with them
            self.map = None

    def __del__(self) -> None:  # a reader dropped without close() must not leak the fd
        if getattr(self, "fd", None) is not None:
            self.close()


class CheckpointReader:
    """Lazy reader of a TensorBundle checkpoint at ``prefix``.

    The index is read on construction; data files are memory-mapped when a tensor is
    first requested.  ``get_tensor`` returns read-only arrays backed by the mapping for
    fixed-size dtypes (valid after :meth:`close`), object arrays of bytes for strings
    and assembled copies for partitioned tensors.  Slice keys are not listed.

    Raises NotFoundError for a missing index, data file or unknown name,
    CorruptCheckpointError / ChecksumError for bytes that do not verify.
    """

    def __init__(self, prefix: PathLike) -> None:
        prefix_text = os.fspath(prefix) if isinstance(prefix, os.PathLike) else prefix
        if not isinstance(prefix_text, str) or not prefix_text:
            raise InvalidArgumentError(
                f"checkpoint prefix must be a non-empty str or os.PathLike path, got {prefix!r}")
        self._prefix = prefix_text
        self._index_path = index_filename(self._prefix)
        self._valid_shapes: set[tuple[int, ...]] = set()
        # dtype enum -> (numpy dtype, itemsize) of fixed-size dtypes read before: the
        # fast path (_plain_value) reads only tensors whose checks all passed before.
        self._fixed: dict[int, tuple[np.dtype, int]] = {}
        try:
            index = _DataFile(self._index_path)
        except FileNotFoundError:
            raise NotFoundError(f"checkpoint index {self._index_path} does not exist") from None
        try:
            self._read_index(index)
        finally:
            index.close()
        self._files: dict[int, _DataFile] = {}
        self._closed = False

    def _read_index(self, index: _DataFile) -> None:
        # The index is mapped, not read: a huge (or sparse) file costs nothing until a
        # block it names is checked, and its footer is checked first.
        table = TableReader(index.map if index.map is not None else b"",
                            path=str(self._index_path))
        try:
            self._parse_entries(table)
        finally:
            table.close()

    def _parse_entries(self, table: TableReader) -> None:
        raw_header = table.get(b"")
        if raw_header is None:
            raise CorruptCheckpointError(f"{self._index_path}: no header entry (key '')")
        header = tensor_bundle_pb2.BundleHeaderProto()
        try:
            header.ParseFromString(raw_header)
        except Exception as exc:
            raise CorruptCheckpointError(f"{self._index_path}: unparsable header: {exc}") from None
        _check_header(header, self._index_path)
        self._num_shards = header.num_shards
        # Every entry's fields; the raw bytes (for entry() copies); protobuf objects only
        # for partitioned tensors (their slices).
        self._sliced: dict[bytes, tensor_bundle_pb2.BundleEntryProto] = {}
        shapes: dict[bytes, tuple[int, ...]] = {}
        keys, matrix, lengths, long = table.items_in_bulk()
        if keys and keys[0] == b"":  # the header
            keys = keys[1:]
            matrix, lengths = matrix[1:], lengths[1:]
            long = {i - 1: value for i, value in long.items()}
        self._raw_keys = keys
        self._raw_rows = (matrix, lengths)
        self._raw_long = long
        decoded = self._bulk = decode_entries(matrix, lengths)
        decoded.ok[list(long)] = False  # (longer than the matrix: decoded one by one)
        table_of_fields = _FieldTable(keys, decoded)
        for i in np.flatnonzero(~decoded.ok).tolist():  # other layouts: one by one
            key = keys[i]
            value = self._raw_value(i)
            fields = decode_entry(value, shapes)
            if fields is None:
                entry = tensor_bundle_pb2.BundleEntryProto()
                try:
                    entry.ParseFromString(value)
                except Exception as exc:
                    raise CorruptCheckpointError(
                        f"{self._index_path}: entry for key {key!r} is not parseable: {exc}"
                    ) from None
                fields = entry_fields(entry)
                if entry.slices:
                    self._sliced[key] = entry
            table_of_fields.set(i, fields)
        self._fields = table_of_fields
        hidden = set()
        for key, entry in self._sliced.items():
            name = self._decode(key)
            shape = self._shape_of(name, self._fields[key])
            for proto in entry.slices:
                extents = slicing.from_proto(proto, shape, where=self._where(name))
                hidden.add(self._slice_key(name, key, extents))
        decode = self._decode
        if hidden:
            self._names: dict[str, bytes] = {
                decode(key): key for key in self._fields if key not in hidden}
        else:
            self._names = dict(zip(map(_DECODE_KEY, keys), keys))
        # whether each index row checked out against its data file (set as files are
        # opened); the data files' memory by shard; numpy dtypes by enum (of those rows);
        # each row's unmasked crc
        self._ready: list[bool] = [False] * len(keys)
        self._views: dict[int, memoryview] = {}
        self._numpy_dtypes: dict[int, np.dtype] = {}
        stored = decoded.crc & np.uint64(0xFFFFFFFF)
        rotated = (stored - np.uint64(0xA282EAD8)) & np.uint64(0xFFFFFFFF)
        self._plain_crcs: list[int] = (
            ((rotated >> np.uint64(17)) | (rotated << np.uint64(15))) & np.uint64(0xFFFFFFFF)
        ).tolist()

    # -- metadata

    @staticmethod
    def _decode(key: bytes) -> str:
        return key.decode("utf-8", "surrogateescape")

    def _where(self, name: str, shard: int | None = None, offset: int | None = None) -> str:
        if shard is None:
            return f"tensor {name!r} in {self._index_path}"
        path = data_filename(self._prefix, shard, self._num_shards)
        return f"tensor {name!r} in {path} at offset {offset}"

    def _key(self, name: str) -> bytes:
        if self._closed:
            raise InvalidArgumentError(f"checkpoint reader for {self._prefix!r} is closed")
        key = self._names.get(name) if isinstance(name, str) else None
        if key is None:
            raise NotFoundError(f"tensor {name!r} not found in checkpoint {self._prefix}")
        return key

    def _proto(self, key: bytes) -> tensor_bundle_pb2.BundleEntryProto:
        """A new protobuf object of the entry at ``key`` (it parsed when the index was read)."""
        entry = tensor_bundle_pb2.BundleEntryProto()
        entry.ParseFromString(self._raw_value(self._fields.row(key)))
        return entry

    def _raw_value(self, row: int) -> bytes:
        """The serialized entry in index row ``row``."""
        value = self._raw_long.get(row)
        if value is None:
            matrix, lengths = self._raw_rows
            value = matrix[row, :lengths[row]].tobytes()
        return value

    def _dtype_of(self, name: str, fields: EntryFields) -> DType:
        row = DTYPES.get(fields[0])
        if row is None or not row.checkpointable or row.numpy is None:
            shown = dtype_name(fields[0])
            raise UnsupportedDTypeError(f"{self._where(name)}: dtype {shown} cannot be read")
        return row

    def _shape_of(self, name: str, fields: EntryFields) -> tuple[int, ...]:
        dims = fields[1]
        unknown_rank = fields[2]
        if dims in self._valid_shapes and not unknown_rank:
            return dims  # checked before (many tensors share a few shapes)
        if unknown_rank or (dims and min(dims) < 0):
            raise CorruptCheckpointError(f"{self._where(name)}: invalid tensor shape {list(dims)}")
        if len(dims) > _MAX_RANK:
            raise CorruptCheckpointError(
                f"{self._where(name)}: tensor shape has rank {len(dims)}; numpy arrays have at "
                f"most {_MAX_RANK} dimensions")
        if math.prod([d for d in dims if d]) > _MAX_EXTENT:
            raise CorruptCheckpointError(
                f"{self._where(name)}: invalid tensor shape {list(dims)}: too large for an array")
        if len(self._valid_shapes) < _MAX_REMEMBERED_SHAPES:
            self._valid_shapes.add(dims)
        return dims

    def _slice_key(self, name: str, key: bytes, extents: tuple[slicing.Extent, ...]) -> bytes:
        try:
            return slice_key_from_bytes(key, extents)
        except InvalidArgumentError as exc:  # extents beyond int64 in a corrupt entry
            raise CorruptCheckpointError(f"{self._where(name)}: invalid stored slice: {exc}"
                                         ) from None

    def entry(self, name: str) -> tensor_bundle_pb2.BundleEntryProto:
        """A copy of ``name``'s index entry (dtype, shape, shard_id, offset, size, crc32c;
        a partitioned tensor's entry lists its ``slices`` and holds no bytes itself)."""
        return self._proto(self._key(name))

    def stored_entries(self, name: str) -> list[tensor_bundle_pb2.BundleEntryProto]:
        """Copies of the index entries holding ``name``'s bytes: its own entry, or one per
        stored slice (in the order of ``entry(name).slices``), each checked against the
        full tensor's dtype and shape (CorruptCheckpointError otherwise)."""
        key = self._key(name)
        entry = self._sliced.get(key)
        if entry is None:
            return [self._proto(key)]
        shape = self._shape_of(name, self._fields[key])
        where = self._where(name)
        return [self._proto(self._slice_entry(name, key, shape,
                                              slicing.from_proto(proto, shape, where=where)))
                for proto in entry.slices]

    def keys(self) -> list[str]:
        """Tensor names (partitioned tensors by their full name), in index order."""
        return list(self._names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._names

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._names)

    def dtype(self, name: str) -> np.dtype:
        """numpy dtype of a tensor (``object`` for strings, ml_dtypes.bfloat16 for bfloat16)."""
        row = self._dtype_of(name, self._fields[self._key(name)])
        assert row.numpy is not None
        return row.numpy

    def shape(self, name: str) -> tuple[int, ...]:
        """Shape of a tensor (the full shape for a partitioned one)."""
        return self._shape_of(name, self._fields[self._key(name)])

    # -- data

    def _file(self, name: str, shard: int) -> _DataFile:
        if not 0 <= shard < self._num_shards:
            raise CorruptCheckpointError(
                f"{self._where(name)}: shard_id {shard} is outside [0, {self._num_shards})")
        data = self._files.get(shard)
        if data is None:
            path = data_filename(self._prefix, shard, self._num_shards)
            try:
                data = _DataFile(path, keep_open=True)
            except FileNotFoundError:
                raise NotFoundError(
                    f"tensor {name!r}: data file {path} does not exist") from None
            self._files[shard] = data
            self._make_ready(shard, data)
        return data

    def _make_ready(self, shard: int, data: _DataFile) -> None:
        """Check, with numpy, every plain entry stored in ``data`` the way
        :meth:`_locate` checks one (a fixed-size dtype, a valid non-empty shape, the size
        it implies, bytes inside the file), and list those in ``_ready`` for
        :meth:`get_tensor`'s fast path; the others take the general path (and its
        errors).  Checksums are still verified when a tensor is read."""
        bulk = self._bulk
        rows = bulk.ok & (bulk.shard == shard)
        if not rows.any():
            return
        kinds = bulk.dtype * (len(bulk.dims) + 1) + bulk.shape  # (dtype, shape) pairs
        expected = np.full(len(rows), -1, np.int64)
        numpy_dtypes: dict[int, np.dtype] = {}
        for kind in np.unique(kinds[rows]).tolist():
            dtype, shape = divmod(kind, len(bulk.dims) + 1)
            row = DTYPES.get(dtype)
            dims = bulk.dims[shape]
            if (row is None or not row.checkpointable or row.numpy is None or row.is_string
                    or not self._fine_shape(dims) or math.prod(dims) == 0):
                continue
            numpy_dtypes[dtype] = row.numpy
            expected[kinds == kind] = math.prod(dims) * row.itemsize
        size = bulk.size.astype(np.int64)
        rows &= (expected == size) & (bulk.offset.astype(np.int64) + size <= data.size) \
            & (bulk.offset < np.uint64(1 << 62))
        if len(self._fields) != len(rows):  # a key listed twice: only the row it reads
            canonical = np.zeros(len(rows), bool)
            canonical[[self._fields.row(key) for key in self._fields]] = True
            rows &= canonical
        self._views[shard] = data.whole
        self._numpy_dtypes.update(numpy_dtypes)
        ready = np.array(self._ready, bool)
        ready |= rows
        self._ready = ready.tolist()

    def _fine_shape(self, dims: tuple[int, ...]) -> bool:
        """Whether :meth:`_shape_of` accepts ``dims`` (without raising)."""
        try:
            self._shape_of("", (0, dims, False, 0, 0, 0, 0))
        except CorruptCheckpointError:
            return False
        return True

    def _locate(self, name: str, fields: EntryFields) -> _Stored:
        """Check a non-partitioned entry (or one stored slice) against its data file and
        return where its bytes are; nothing is read yet."""
        row = self._dtype_of(name, fields)
        shape = self._shape_of(name, fields)
        count = math.prod(shape)
        shard, offset, size = fields[3], fields[4], fields[5]
        # Error messages (and the path in them) are only built when something is wrong:
        # reading many small tensors must not pay for them.
        if row.is_string:
            if size < count:
                raise CorruptCheckpointError(
                    f"{self._where(name, shard, offset)}: invalid size in bundle entry: stored "
                    f"size {size}, expected at least {count}")
        elif size != count * row.itemsize:
            raise CorruptCheckpointError(
                f"{self._where(name, shard, offset)}: invalid size in bundle entry: stored size "
                f"{size}, expected {count * row.itemsize} ({count} x {row.itemsize}-byte "
                f"{row.name})")
        data = self._file(name, shard)
        if offset < 0 or offset + size > data.size:
            raise CorruptCheckpointError(
                f"{self._where(name, shard, offset)}: the entry needs bytes [{offset}, "
                f"{offset + size}) but {data.path} holds {data.size} bytes (truncated?)")
        return _Stored(name, row, shape, count, shard, offset, data.view(offset, size),
                       fields[6], data)

    def _checksum_error(self, stored: _Stored, actual: int) -> ChecksumError:
        return ChecksumError(
            f"{self._where(stored.name, stored.shard, stored.offset)}: checksum does not "
            f"match: stored {unmask(stored.masked_crc):08x}, computed {actual:08x} over "
            f"{len(stored.view)} bytes")

    def _plain_value(self, key: bytes, *, copy: bool) -> np.ndarray | None:
        """The verified value at ``key`` when it is a non-empty fixed-size tensor whose
        dtype and shape were accepted before and whose data file is open, else None (the
        caller then takes the general path, which raises whatever error applies).

        Reading many small tensors is dominated by per-tensor overhead: this does the
        checks of :meth:`_locate` and :meth:`_value` inline, without building a _Stored;
        entries checked in bulk (:meth:`_make_ready`) skip even those.
        """
        fields = self._fields
        row = fields.rows.get(key, -1)
        if row >= 0 and self._ready[row]:
            start, size = fields.offsets[row], fields.sizes[row]
            if copy and size > _COPY_PIECE_BYTES:
                return None  # copied and checksummed in pieces by _copy_verified
            view = self._views[fields.shards[row]][start:start + size]
            if crc32c_buffer(view) != self._plain_crcs[row]:
                return None
            array: np.ndarray = np.ndarray(fields.dims[fields.shapes[row]],
                                           self._numpy_dtypes[fields.dtypes[row]], view)
            return array.copy() if copy else array
        if key in self._sliced:
            return None
        dtype, dims, unknown_rank, shard, offset, size, masked_crc = self._fields[key]
        fixed = self._fixed.get(dtype)
        if fixed is None or unknown_rank or dims not in self._valid_shapes:
            return None
        count = math.prod(dims)
        data = self._files.get(shard)
        if (data is None or not count or size != count * fixed[1] or offset < 0
                or offset + size > data.size):
            return None
        if copy and size > _COPY_PIECE_BYTES:
            return None  # copied and checksummed in pieces by _copy_verified
        view = data.view(offset, size)
        if crc32c(view) != unmask(masked_crc):
            return None
        plain: np.ndarray = np.frombuffer(view, dtype=fixed[0], count=count).reshape(dims)
        return plain.copy() if copy else plain

    def _read_stored(self, name: str, fields: EntryFields, *, copy: bool) -> np.ndarray:
        """The value of a non-partitioned entry (or one stored slice)."""
        return self._value(self._locate(name, fields), copy=copy)

    def _value(self, stored: _Stored, *, copy: bool) -> np.ndarray:
        """The verified value of located bytes."""
        name = stored.name
        row, shape, count, view = stored.row, stored.shape, stored.elements, stored.view
        if row.is_string:
            elements = decode_string_tensor(view, count, stored.masked_crc,
                                            where=self._where(name, stored.shard, stored.offset))
            out = np.empty(count, dtype=object)
            out[:] = elements
            return out.reshape(shape)
        if copy and len(view) > _COPY_PIECE_BYTES:
            return self._copy_verified(stored)
        actual = crc32c(view)
        if actual != unmask(stored.masked_crc):
            raise self._checksum_error(stored, actual)
        assert row.numpy is not None
        if count == 0:
            return np.zeros(shape, dtype=row.numpy)
        self._fixed[row.enum] = (row.numpy, row.itemsize)
        array = np.frombuffer(view, dtype=row.numpy, count=count).reshape(shape)
        return array.copy() if copy else array

    def _copy_verified(self, stored: _Stored) -> np.ndarray:
        """A new array holding a fixed-size tensor's bytes, checksummed on the way.

        The bytes are copied in pieces, each checksummed right after it was copied while
        it is still in the CPU cache: one pass over memory instead of two.  Pieces are
        read with ``preadv`` where there is one (the kernel copies from the page cache,
        without mapping every page into this process as a copy from the mapping would),
        else copied from the mapping.  Both ways and the ``crc32c`` package release the
        GIL, so threads can run this in parallel.
        """
        assert stored.row.numpy is not None
        out = np.empty(stored.shape, dtype=stored.row.numpy)
        target = out.reshape(-1).view(np.uint8)
        size = len(stored.view)
        fd = stored.file.fd
        crc = 0
        if fd is not None and _preadv is not None:
            for start in range(0, size, _COPY_PIECE_BYTES):
                piece = target[start:start + _COPY_PIECE_BYTES]
                got = _preadv(fd, [piece], stored.offset + start)
                if got != len(piece):  # the file shrank after it was opened
                    raise CorruptCheckpointError(
                        f"{self._where(stored.name, stored.shard, stored.offset)}: read "
                        f"{got} of {len(piece)} bytes at byte {stored.offset + start} of "
                        f"{stored.file.path} (truncated while reading?)")
                crc = crc32c(piece, crc)
        else:
            source = np.frombuffer(stored.view, dtype=np.uint8)
            for start in range(0, size, _COPY_PIECE_BYTES):
                piece = target[start:start + _COPY_PIECE_BYTES]
                np.copyto(piece, source[start:start + _COPY_PIECE_BYTES])
                crc = crc32c(piece, crc)
        if crc != unmask(stored.masked_crc):
            raise self._checksum_error(stored, crc)
        return out

    def _assemble(self, name: str, key: bytes) -> np.ndarray:
        entry = self._sliced[key]
        fields = self._fields[key]
        row = self._dtype_of(name, fields)
        shape = self._shape_of(name, fields)
        assert row.numpy is not None
        # Everything that can be checked without reading data is checked before any
        # slice is read, and the full tensor is allocated only once the slices are known
        # to be distinct, to cover it by element count, and to need no more bytes than
        # the data files hold: slices that do not overlap (checked while placing them,
        # as TensorFlow does) each store their own bytes.  Without these bounds one
        # slice listed many times, or many entries aliasing one stored region, would
        # make a small file allocate (and checksum) without limit.
        where = self._where(name)
        extents = [slicing.from_proto(proto, shape, where=where) for proto in entry.slices]
        seen: set[tuple[slicing.Extent, ...]] = set()
        for piece in extents:
            if piece in seen:
                raise CorruptCheckpointError(f"{where}: slice {list(piece)} is listed twice")
            seen.add(piece)
        count = math.prod(shape)
        held = sum(math.prod(slicing.slice_shape(shape, e)) for e in extents)
        if held != count:
            raise CorruptCheckpointError(
                f"{where}: its stored slices do not cover the full shape {list(shape)} "
                f"exactly: they hold {held} elements, it has {count} (slices missing or "
                "overlapping)")
        stored = [self._fields[self._slice_entry(name, key, shape, e)] for e in extents]
        needed = count * max(row.itemsize, 1)
        available = sum(self._file(name, shard).size
                        for shard in sorted({s[3] for s in stored}))
        if needed > available:
            raise CorruptCheckpointError(
                f"{where}: full shape {list(shape)} needs {needed} bytes, more than the "
                f"{available} bytes its slices' data files hold")
        if row.is_string:
            full = np.full(shape, b"", dtype=object)
        else:
            full = np.empty(shape, dtype=row.numpy)
        covered = np.zeros(shape, dtype=bool)
        for piece, stored_entry in zip(extents, stored):
            index = slicing.index_of(shape, piece)
            if covered[index].any():
                raise CorruptCheckpointError(
                    f"{where}: stored slices overlap at {_describe(index)}")
            full[index] = self._read_stored(name, stored_entry, copy=False)
            covered[index] = True
        return full

    def _slice_entry(self, name: str, full_key: bytes, shape: tuple[int, ...],
                     extents: tuple[slicing.Extent, ...]) -> bytes:
        """The key of the entry storing one slice, checked against the full tensor
        (nothing read)."""
        key = self._slice_key(name, full_key, extents)
        stored = self._fields.get(key)
        if stored is None:
            raise CorruptCheckpointError(
                f"{self._where(name)}: slice {list(extents)} has no entry (key {key!r})")
        if stored[0] != self._fields[full_key][0]:
            raise CorruptCheckpointError(
                f"{self._where(name)}: slice {list(extents)} has dtype {stored[0]}, the "
                f"tensor {self._fields[full_key][0]}")
        expected = slicing.slice_shape(shape, extents)
        if self._shape_of(name, stored) != expected:
            raise CorruptCheckpointError(
                f"{self._where(name)}: slice {list(extents)} is stored with shape "
                f"{list(self._shape_of(name, stored))}, expected {list(expected)}")
        return key

    def get_tensor(self, name: str) -> np.ndarray:
        """The value of ``name``; fixed-size dtypes are read-only views of the mapped file."""
        key = self._names.get(name) if type(name) is str else None
        row = self._fields.rows[key] if key is not None else -1
        if row >= 0 and self._ready[row]:
            fields = self._fields
            start = fields.offsets[row]
            view = self._views[fields.shards[row]][start:start + fields.sizes[row]]
            if crc32c_buffer(view) == self._plain_crcs[row]:
                array: np.ndarray = np.ndarray(fields.dims[fields.shapes[row]],
                                               self._numpy_dtypes[fields.dtypes[row]], view)
                return array
        key = self._key(name)
        plain = self._plain_value(key, copy=False)
        if plain is not None:
            return plain
        if key in self._sliced:
            return self._assemble(name, key)
        return self._read_stored(name, self._fields[key], copy=False)

    def read(self, name: str) -> np.ndarray:
        """Like :meth:`get_tensor` but always an independent, writable array."""
        key = self._key(name)
        plain = self._plain_value(key, copy=True)
        if plain is not None:
            return plain
        if key in self._sliced:
            return self._assemble(name, key)
        return self._read_stored(name, self._fields[key], copy=True)

    def _read_all(self) -> dict[str, np.ndarray]:
        """Every tensor as by :meth:`read`; large fixed-size tensors are copied by one
        thread per core when there is enough of them (see :data:`_PARALLEL_COPY_BYTES`)."""
        if self._closed:
            raise InvalidArgumentError(f"checkpoint reader for {self._prefix!r} is closed")
        out: dict[str, Any] = {}
        large: list[_Stored] = []
        fields, sliced = self._fields, self._sliced
        plain_value = self._plain_value
        for name, key in self._names.items():
            plain = plain_value(key, copy=True)
            if plain is not None:
                out[name] = plain
                continue
            if key in sliced:
                out[name] = self._assemble(name, key)
                continue
            stored = self._locate(name, fields[key])
            if stored.row.is_string or len(stored.view) <= _COPY_PIECE_BYTES:
                out[name] = self._value(stored, copy=True)
            else:
                out[name] = None  # keeps the index order; filled in below
                large.append(stored)
        workers = min(_usable_cores(), len(large))
        if crc32c_backend != "crc32c" or sum(len(s.view) for s in large) < _PARALLEL_COPY_BYTES:
            workers = 1  # the pure-Python crc holds the GIL: threads would only take turns
        if workers > 1:
            from concurrent.futures import ThreadPoolExecutor  # ~10 ms to import: only here

            with ThreadPoolExecutor(workers, thread_name_prefix="pysavedmodel-read") as pool:
                for stored, array in zip(large, pool.map(self._copy_verified, large)):
                    out[stored.name] = array
        else:
            for stored in large:
                out[stored.name] = self._copy_verified(stored)
        return out

    # -- lifetime

    def close(self) -> None:
        """Release the data files (arrays already returned stay valid)."""
        self._ready = [False] * len(self._ready)
        self._views.clear()
        for data in self._files.values():
            data.close()
        self._files.clear()
        self._closed = True

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CheckpointReader({self._prefix!r}, {len(self._names)} tensors)"


_DECODE_KEY = methodcaller("decode", "utf-8", "surrogateescape")


class _FieldTable(Mapping[bytes, EntryFields]):
    """Every index entry's fields by key, kept as columns (one list per field, filled by
    :func:`.bundle_entry.decode_entries`) instead of a tuple per entry: with many
    entries, building (and garbage-collecting) tuples would cost more than decoding.
    Rows decoded one by one are kept whole (:meth:`set`)."""

    def __init__(self, keys: list[bytes], decoded: DecodedEntries) -> None:
        self.rows = dict(zip(keys, range(len(keys))))
        """Index row of each key (the last row if a corrupt index lists a key twice)."""
        self.dtypes: list[int] = decoded.dtype.tolist()
        self.dims = decoded.dims
        self.shapes: list[int] = decoded.shape.tolist()
        self.shards: list[int] = decoded.shard.tolist()
        self.offsets: list[int] = decoded.offset.tolist()
        self.sizes: list[int] = decoded.size.tolist()
        self.crcs: list[int] = decoded.crc.tolist()
        self._whole: dict[int, EntryFields] = {}

    def set(self, row: int, fields: EntryFields) -> None:
        self._whole[row] = fields
        self.shards[row] = fields[3]
        self.offsets[row] = fields[4]
        self.sizes[row] = fields[5]

    def row(self, key: bytes) -> int:
        return self.rows[key]

    def __getitem__(self, key: bytes) -> EntryFields:
        row = self.rows[key]
        whole = self._whole.get(row)
        if whole is not None:
            return whole
        return (self.dtypes[row], self.dims[self.shapes[row]], False, self.shards[row],
                self.offsets[row], self.sizes[row], self.crcs[row])

    def __contains__(self, key: object) -> bool:
        return key in self.rows

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _describe(index: tuple[slice, ...]) -> str:
    return "[" + ", ".join(f"{part.start}:{part.stop}" for part in index) + "]"


def read_checkpoint(prefix: PathLike) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint at ``prefix`` as independent numpy arrays.

    Strings are object arrays of bytes, bfloat16 is ``ml_dtypes.bfloat16``, partitioned
    tensors are assembled into their full value (their slice keys are not returned).
    """
    with CheckpointReader(prefix) as reader:
        return reader._read_all()
