"""Writing TensorBundle checkpoints in this process: :class:`CheckpointWriter`.

The public entry point is :func:`pysavedmodel.format.bundle.write_checkpoint`; this
module holds the writer behind it (data layout, CRCs, parallel shard writing) and
:func:`write_local_checkpoint`.  File names come from :mod:`.naming`, shard
assignment from :mod:`.sharding`, atomic publishing from :mod:`pysavedmodel.fileio`.
The format itself is described in :mod:`.bundle` and docs/format/tensorbundle.md.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from operator import attrgetter
from pathlib import Path
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    BinaryIO,
    Callable,
    Union,
    cast,
)

import numpy as np

from pysavedmodel._proto import tensor_bundle_pb2, tensor_shape_pb2, types_pb2
from pysavedmodel.dtypes import DTYPES, DType
from pysavedmodel.errors import BuilderStateError, InvalidArgumentError, UnsupportedDTypeError

from ..aliases import PathLike, ProgressCallback
from ..fileio import AtomicGroup
from . import slices as slicing
from .bundle_entry import EntryEncoder, EntryGroups
from .crc32c import BACKEND as crc32c_backend
from .crc32c import crc32c, crc32c_each, mask
from .naming import data_filename, index_filename
from .ordered_code import slice_key
from .sharding import balance_shards, check_num_shards, check_tensor_name, explicit_shards
from .table import TableWriter, key_order, pack_rows, row_bytes, stack_rows, take_rows
from .tensor_data import (
    SMALL_TENSOR_BYTES,
    PreparedTensor,
    checkpoint_row,
    direct_tensor_bytes,
    iter_tensor_bytes,
    prepare_tensor,
    release_mapped_pages,
    small_tensor_bytes,
)

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["CheckpointWriter", "write_local_checkpoint", "BUNDLE_VERSION"]


BUNDLE_VERSION = 1
"""``VersionDef.producer`` TensorFlow writes into a bundle header (min_consumer 0)."""


class _DataItem(PreparedTensor):
    """One run of bytes in a data file: a whole tensor or one slice of a partitioned one.

    The prepared value (``name`` is the tensor it belongs to; shard assignment works on
    names) plus its index ``key``, and once its bytes are written its ``shard`` and
    ``entry`` (the serialized ``BundleEntryProto``).  A single object per tensor: with
    many small tensors every object kept alive costs, also in cyclic GC time.
    """

    __slots__ = ("key", "shard", "entry")

    key: bytes
    shard: int
    entry: bytes


class _Partitioned:
    """The full-name entry of a partitioned tensor (``entry`` is set once its slices are
    written)."""

    __slots__ = ("key", "dtype", "full_shape", "extents", "items", "entry")

    def __init__(self, key: bytes, dtype: DType, full_shape: tuple[int, ...]) -> None:
        self.key = key
        self.dtype = dtype
        self.full_shape = full_shape
        self.extents: list[tuple[slicing.Extent, ...]] = []
        self.items: list[_DataItem] = []
        self.entry = b""


_Indexed = Union[_DataItem, _Partitioned]
"""What has an index entry: its ``key`` and serialized ``entry``."""


class _SmallRun:
    """Consecutive small tensors written and indexed together (checkpoints of many small
    tensors): C-contiguous arrays of a fixed-size dtype stored as they are in memory,
    each of at most :data:`SMALL_TENSOR_BYTES`.  Their bytes are joined and written with
    one call, their checksums taken in one loop, their entries encoded with numpy
    (:class:`.bundle_entry.EntryGroups`) and added to the index in bulk.  Only for
    one-shard checkpoints; ``offsets`` and ``crcs`` are set once the run is written.
    """

    __slots__ = ("names", "keys", "arrays", "groups", "sizes", "nbytes", "offsets", "crcs")

    def __init__(self, names: list[str], keys: list[bytes], arrays: list[np.ndarray],
                 groups: np.ndarray, group_sizes: np.ndarray) -> None:
        self.names = names
        self.keys = keys
        self.arrays = arrays
        self.groups = groups
        self.sizes: np.ndarray = group_sizes[groups]
        self.nbytes = int(self.sizes.sum())
        self.offsets: np.ndarray = np.zeros(0, np.uint64)
        self.crcs: np.ndarray = np.zeros(0, np.uint64)


_Segment = Union[_DataItem, _SmallRun]
"""What a data file holds, in order: single tensors and runs of small ones."""

_UNSEEN = (-1, -1)

_RELEASED = np.empty(0, np.uint8)
"""Stands for a value once its bytes are written: a memory-mapped input (a loader's
``np.load(..., mmap_mode="r")``) is unmapped as soon as nothing else holds it, so a
writer streaming many such inputs keeps at most one mapped at a time."""

_BULK_ENTRY_BYTES = 256
"""Index entries longer than this are not added in bulk (all rows are as wide as the
longest)."""

_RUN_BYTES = 4 << 20
"""A run of small tensors is closed at this many bytes: its joined copy stays small."""

_key_of = attrgetter("key")

_WRITE_BUFFER_BYTES = 256 << 10
"""Buffer of each data file: gathers the writes of small tensors into few system calls.
Writes larger than the buffer go straight to the file, without a copy."""

_WRITE_PIECE_BYTES = 16 << 20
"""Large tensors whose checksum a helper thread computes are written in pieces of this
size (the steps progress is reported in)."""

_CRC_PIECE_BYTES = 1 << 20
"""Without that helper (several shards, one core, the pure-Python crc), a large tensor is
written and checksummed in turn in pieces of this size: each piece is checksummed while
it is still in the CPU cache, instead of reading the whole tensor from memory twice
(with every core writing, memory bandwidth is what a second pass costs)."""

_PROGRESS_STEP_BYTES = 4 << 20
"""A progress callback is called at most once per this many bytes written (and at the end)."""

_OVERLAP_CRC_BYTES = 1 << 20
"""Tensors at least this large get their checksum computed by a helper thread while their
bytes are being written: both the ``crc32c`` package and file writes release the GIL
on large buffers, so on two or more cores the checksum costs no time."""

_PARALLEL_SHARDS_BYTES = 32 << 20
"""Several shards are written by parallel threads (one per core) when the checkpoint
holds at least this many bytes; below that, starting threads costs more than it saves."""

_BATCH_BYTES = 32 << 20
"""Large tensors are written in batches of about this many bytes (:class:`_Batches`): one
system call each, and the steps progress is reported in."""

_BATCH_BUFFERS = 512
"""At most this many tensors per batch (``os.writev`` takes at most IOV_MAX buffers, 1024
on Linux)."""

_HAVE_WRITEV = hasattr(os, "writev")

_POLL_SECONDS = 0.1
"""How often the calling thread reports progress while shard threads write."""



class _Progress:
    """Counts the data bytes written and forwards the count to a user callback, at most
    once per :data:`_PROGRESS_STEP_BYTES`, and once at the end."""

    __slots__ = ("callback", "total", "done", "_reported")

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.done = 0
        self._reported = 0

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        if self.callback is not None and self.done - self._reported >= _PROGRESS_STEP_BYTES:
            self._reported = self.done
            self.callback(self.done, self.total)

    def update(self, done: int) -> None:
        """Set the count (from shard threads' counters) and report it if it moved enough."""
        self.done = 0
        self.advance(done)

    def finish(self) -> None:
        if self.callback is not None:
            self.callback(self.total, self.total)


def _shape_proto(shape: Sequence[int]) -> tensor_shape_pb2.TensorShapeProto:
    proto = tensor_shape_pb2.TensorShapeProto()
    for dim in shape:
        proto.dim.add().size = int(dim)
    return proto


def _header(num_shards: int) -> bytes:
    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=num_shards)
    header.endianness = tensor_bundle_pb2.BundleHeaderProto.LITTLE
    header.version.producer = BUNDLE_VERSION
    return header.SerializeToString(deterministic=True)


class CheckpointWriter:
    """The local checkpoint writer: collects tensors and slices, writes one checkpoint on
    :meth:`finish`.  The public :class:`pysavedmodel.format.bundle.CheckpointWriter` wraps
    it (adding URL prefixes) and documents the arguments: ``num_shards`` / ``shards``,
    ``progress(bytes_done, bytes_total)``, ``durable``; nothing touches the disk before
    :meth:`finish`, values are kept by reference, and as a context manager it discards
    everything if the block raises.
    """

    def __init__(self, prefix: PathLike, *, num_shards: int = 1,
                 shards: Sequence[Sequence[str]] | None = None,
                 progress: ProgressCallback | None = None, durable: bool = False) -> None:
        if not isinstance(durable, bool):
            raise InvalidArgumentError(f"durable must be True or False, got {durable!r}")
        self._durable = durable
        if progress is not None and not callable(progress):
            raise InvalidArgumentError(
                f"progress must be a callable(bytes_done, bytes_total), got {progress!r}")
        self._progress = progress
        self._prefix = os.fspath(prefix)
        if not isinstance(self._prefix, str) or self._prefix == "":
            raise InvalidArgumentError(
                f"checkpoint prefix must be a non-empty path, got {prefix!r}")
        if shards is not None and (isinstance(shards, (str, bytes)) or any(
                isinstance(names, (str, bytes)) for names in shards)):
            raise InvalidArgumentError(
                f"shards must be a list of name lists (one per shard), got {shards!r}")
        self._shards = None if shards is None else [list(names) for names in shards]
        if num_shards == 1 and self._shards is not None:
            num_shards = len(self._shards)  # the explicit assignment decides
        check_num_shards(num_shards)
        if self._shards is not None and len(self._shards) != num_shards:
            raise InvalidArgumentError(
                f"shards lists {len(self._shards)} shards but num_shards is {num_shards}")
        self._num_shards = num_shards
        self._items: list[_DataItem] = []
        self._segments: list[_Segment] | None = None  # set by _add_all: items and runs
        self._entry_groups = EntryGroups()
        self._keys: dict[bytes, str] = {}
        self._plain: dict[str, _DataItem] = {}
        self._partitioned: dict[str, _Partitioned] = {}
        self._finished = False

    # -- collecting

    def _check_open(self) -> None:
        if self._finished:
            raise BuilderStateError(f"checkpoint {self._prefix!r} was already finished")

    def _claim_key(self, key: bytes, name: str) -> None:
        if key in self._keys:
            raise InvalidArgumentError(
                f"tensor {name!r}: duplicate key {key!r} (already used by {self._keys[key]!r})")
        self._keys[key] = name

    def add(self, name: str, value: Any) -> None:
        """Add a whole tensor (numpy array or anything ``numpy.asarray`` accepts)."""
        if self._finished:
            self._check_open()  # raises
        if self._segments is not None:
            self._expand_runs()
        key = check_tensor_name(name)
        if key in self._keys:  # one lookup on the common path; the message is worked out here
            if name in self._plain or name in self._partitioned:
                raise InvalidArgumentError(f"tensor {name!r} was already added")
            self._claim_key(key, name)
        item = prepare_tensor(name, value, _DataItem)
        item.key = key
        self._keys[key] = name
        self._plain[name] = item
        self._items.append(item)

    def _add_all(self, tensors: Mapping[str, Any]) -> None:
        """:meth:`add` for every tensor of a mapping (the writer must be new, and is
        finished next).  Small C-contiguous tensors of a fixed-size dtype, stored as they
        are in memory, go into :class:`_SmallRun` s with a few steps each; every other
        value takes :meth:`add` (which raises for bad names and values)."""
        if self._items or self._partitioned or self._segments is not None:
            for name, value in tensors.items():
                self.add(name, value)
            return
        if type(tensors) is dict:
            names, values = list(tensors), list(tensors.values())
        else:
            pairs = list(tensors.items())
            names, values = [n for n, _ in pairs], [v for _, v in pairs]
        segments = self._all_small(names, values)
        if segments is None:
            segments = self._some_small(names, values)
        keys = [] if type(tensors) is dict else [  # a dict's str keys are distinct bytes
            key for segment in segments
            for key in (segment.keys if isinstance(segment, _SmallRun) else (segment.key,))]
        if keys and len(set(keys)) != len(names):  # a mapping listing a name twice
            self.__init__(self._prefix, num_shards=self._num_shards,  # type: ignore[misc]
                          shards=self._shards, progress=self._progress, durable=self._durable)
            for name, value in tensors.items():
                self.add(name, value)
            return
        self._segments = segments

    def _all_small(self, names: list[str], values: list[Any]) -> list[_Segment] | None:
        """Runs of every tensor when all can go in runs (a few list-wide steps), else None."""
        if not names or set(map(type, names)) != {str} or set(map(type, values)) != {
                np.ndarray} or not all(names):
            return None
        try:
            keys = [name.encode("utf-8") for name in names]
        except UnicodeEncodeError:
            return None
        memo: dict[tuple[np.dtype, tuple[int, ...]], tuple[int, int] | None] = {}
        small = self._small_group
        for value in values:  # fills the memo, normally from the first few tensors
            shape_key = (value.dtype, value.shape)
            if shape_key not in memo:
                memo[shape_key] = small(value)
                if memo[shape_key] is None:
                    return None
            elif len(memo) == 1:
                break
        get = memo.get
        infos = [get((value.dtype, value.shape)) for value in values]
        if None in infos or not all([value.flags.c_contiguous for value in values]):
            return None
        groups = np.array([info[0] for info in infos], np.intp)  # type: ignore[index]
        group_sizes = self._entry_groups.sizes()
        ends = np.cumsum(group_sizes[groups])
        cuts = [0, *np.searchsorted(ends, np.arange(_RUN_BYTES, int(ends[-1]), _RUN_BYTES),
                                    side="right").tolist(), len(names)]
        return [_SmallRun(names[a:b], keys[a:b], values[a:b], groups[a:b], group_sizes)
                for a, b in zip(cuts, cuts[1:]) if a < b]

    def _some_small(self, names: list[str], values: list[Any]) -> list[_Segment]:
        """Runs of the tensors that can go in runs, :meth:`add` for the others."""
        segments: list[_Segment] = []
        small: dict[tuple[np.dtype, tuple[int, ...]], tuple[int, int] | None] = {}
        run_names: list[str] = []
        run_keys: list[bytes] = []
        run_arrays: list[np.ndarray] = []
        run_groups: list[int] = []
        run_bytes = 0

        def close() -> None:
            nonlocal run_names, run_keys, run_arrays, run_groups, run_bytes
            if run_keys:
                segments.append(_SmallRun(run_names, run_keys, run_arrays,
                                          np.array(run_groups, np.intp),
                                          self._entry_groups.sizes()))
                run_names, run_keys, run_arrays, run_groups, run_bytes = [], [], [], [], 0

        ndarray = np.ndarray
        for name, value in zip(names, values):
            if type(name) is str and type(value) is ndarray and name:
                shape = value.shape
                info = small.get((value.dtype, shape), _UNSEEN)
                if info is _UNSEEN:
                    info = small[(value.dtype, shape)] = self._small_group(value)
                if info is not None and value.flags.c_contiguous:
                    try:
                        key = name.encode("utf-8")
                    except UnicodeEncodeError:
                        key = b""
                    if key:
                        if run_bytes + info[1] > _RUN_BYTES:
                            close()
                        run_names.append(name)
                        run_keys.append(key)
                        run_arrays.append(value)
                        run_groups.append(info[0])
                        run_bytes += info[1]
                        continue
            close()
            self.add(name, value)
            segments.append(self._items[-1])
        close()
        return segments

    def _small_group(self, value: np.ndarray) -> tuple[int, int] | None:
        """(entry group, bytes) of tensors of ``value``'s dtype and shape when they can
        go into a :class:`_SmallRun`, else None."""
        row = checkpoint_row(value.dtype)
        if (row is None or row.is_string or row.numpy != value.dtype
                or value.nbytes > SMALL_TENSOR_BYTES):
            return None
        return self._entry_groups.group(row.enum, tuple(value.shape), 0, value.nbytes), \
            value.nbytes

    def _expand_runs(self) -> None:
        """Turn the runs back into single items, as :meth:`add` would have made them
        (for several shards, or more tensors added after :meth:`_add_all`)."""
        if self._segments is None:
            return
        items: list[_DataItem] = []
        for segment in self._segments:
            if isinstance(segment, _SmallRun):
                for name, key, array in zip(segment.names, segment.keys, segment.arrays):
                    item = prepare_tensor(name, array, _DataItem)
                    item.key = key
                    items.append(item)
                    self._keys[key] = name
                    self._plain[name] = item
            else:
                items.append(segment)
        self._items = items
        self._segments = None

    def add_slice(self, name: str, full_shape: Sequence[int], slice_spec: slicing.SliceSpec,
                  value: Any) -> None:
        """Add one slice of the partitioned tensor ``name`` whose full shape is ``full_shape``.

        ``slice_spec``: TF's ``"0,4:-"`` (or ``"6 4 0,4:-"``, checked against ``full_shape``)
        or a sequence of ``(start, length)`` with ``length == -1`` for a whole dimension.
        The value's shape must equal the slice's extent; slices of one name must share
        the dtype and full shape and must not overlap.  A slice covering the whole tensor
        is stored as a plain tensor, as TensorFlow does.
        """
        self._check_open()
        if self._segments is not None:
            self._expand_runs()
        key = check_tensor_name(name)
        try:
            shape = tuple(int(d) for d in full_shape)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"tensor {name!r}: full_shape {full_shape!r} is not a sequence of ints") from None
        extents = slicing.normalize_slice(shape, slice_spec)
        item = prepare_tensor(name, value, _DataItem)
        expected = slicing.slice_shape(shape, extents)
        if item.shape != expected:
            raise InvalidArgumentError(
                f"tensor {name!r}: slice {slice_spec!r} of shape {list(shape)} holds shape "
                f"{list(expected)}, but the value has shape {list(item.shape)}")
        if name in self._plain:
            raise InvalidArgumentError(f"tensor {name!r} was already added as a whole tensor")
        if slicing.is_full_slice(shape, extents):
            if name in self._partitioned:
                raise InvalidArgumentError(
                    f"tensor {name!r}: slice {slice_spec!r} covers the whole tensor, which "
                    f"overlaps the slices already added")
            self.add(name, item.array)
            return
        if item.dtype.enum not in slicing.ASSEMBLABLE_DTYPES:
            raise UnsupportedDTypeError(
                f"tensor {name!r}: TensorFlow cannot restore partitioned {item.dtype.name} "
                f"tensors; save it whole (supported for slices: "
                f"{', '.join(sorted(DTYPES[e].name for e in slicing.ASSEMBLABLE_DTYPES))})")
        record = self._partitioned.get(name)
        if record is None:
            record = _Partitioned(key, item.dtype, shape)
        else:
            if record.dtype != item.dtype:
                raise InvalidArgumentError(
                    f"tensor {name!r}: slice dtype {item.dtype.name} differs from the "
                    f"{record.dtype.name} of its earlier slices")
            if record.full_shape != shape:
                raise InvalidArgumentError(
                    f"tensor {name!r}: full_shape {list(shape)} differs from the "
                    f"{list(record.full_shape)} given with its earlier slices")
            for other in record.extents:
                if slicing.slices_overlap(shape, extents, other):
                    raise InvalidArgumentError(
                        f"tensor {name!r}: slice {slice_spec!r} overlaps the earlier slice "
                        f"{list(other)}")
        item.key = slice_key(name, extents)
        if name not in self._partitioned:
            self._claim_key(key, name)
            self._partitioned[name] = record
        self._claim_key(item.key, name)
        record.extents.append(extents)
        record.items.append(item)
        self._items.append(item)

    # -- writing

    def _assignment(self) -> list[int]:
        """The shard of every item in ``self._items``."""
        if self._shards is not None:
            shard_of_name = explicit_shards(self._shards, {item.name for item in self._items},
                                             "which was not added")
            assignment = [shard_of_name[item.name] for item in self._items]
        elif self._num_shards == 1:
            assignment = [0] * len(self._items)
        else:
            assignment = balance_shards([item.nbytes for item in self._items],
                                        self._num_shards)
        if self._num_shards > 1:
            empty = sorted(set(range(self._num_shards)) - set(assignment))
            if empty:
                raise InvalidArgumentError(
                    f"checkpoint {self._prefix!r}: shard(s) {empty} of {self._num_shards} would "
                    f"hold no tensor ({len(self._items)} data entries); use fewer shards")
        return assignment

    def _index_entries(self) -> list[_Indexed]:
        """Everything the index lists (``.key``, ``.entry``) sorted by key, as
        BundleWriter/MergeV2Checkpoints do; called once the data entries are written."""
        for record in self._partitioned.values():
            record.entry = self._partitioned_entry(record)
        stored: list[_Indexed] = [*self._items, *self._partitioned.values()]
        stored.sort(key=_key_of)
        return stored

    @staticmethod
    def _partitioned_entry(record: _Partitioned) -> bytes:
        # A sharded save keeps one full-name entry per shard; merging keeps the first
        # shard's entry (its shard_id renumbered) and appends the later shards' slices.
        shards = [item.shard for item in record.items]
        order = sorted(range(len(record.items)), key=lambda j: shards[j])
        entry = tensor_bundle_pb2.BundleEntryProto(
            dtype=cast("types_pb2.DataType", record.dtype.enum))
        entry.shape.CopyFrom(_shape_proto(record.full_shape))
        entry.shard_id = shards[order[0]]
        for j in order:
            entry.slices.add().CopyFrom(slicing.to_proto(record.extents[j]))
        return entry.SerializeToString(deterministic=True)

    def finish(self) -> list[Path]:
        """Write the data files and the index; return their paths (data files, then index)."""
        self._check_open()
        if self._num_shards > 1 or self._shards is not None:
            self._expand_runs()
        assignment = self._assignment()
        self._finished = True
        return _write_files(self._prefix, self._num_shards, self._items, assignment,
                            self._index_entries, self._progress, self._durable,
                            self._segments, self._entry_groups)

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            if not self._finished:
                self.finish()
        else:
            self._finished = True


class _ShardOutput:
    """A data file being written: buffered, counted for progress, and with an optional
    helper thread that checksums large tensors while their bytes are written."""

    __slots__ = ("_file", "_progress", "checksummer")

    def __init__(self, file: BinaryIO, progress: _Progress,
                 checksummer: ThreadPoolExecutor | None) -> None:
        self._file = file
        self._progress = progress
        self.checksummer = checksummer

    def write(self, data: bytes | memoryview) -> None:
        self._file.write(data)
        self._progress.advance(len(data))


def _write_data(out: _ShardOutput, tensor: PreparedTensor) -> tuple[int, int]:
    """Append a tensor's bytes; return (size, unmasked crc32c)."""
    small = small_tensor_bytes(tensor)
    if small is not None:
        out.write(small)
        size = len(small)
        crc = crc32c(small)
    else:
        crc = 0
        size = 0
        for chunk, covered in iter_tensor_bytes(tensor):
            length = len(chunk)
            if chunk is not covered:  # a string tensor's lengths: small
                out.write(chunk)
                crc = crc32c(covered, crc)
            elif out.checksummer is not None and length >= _OVERLAP_CRC_BYTES:
                pending = out.checksummer.submit(crc32c, covered, crc)
                for start in range(0, length, _WRITE_PIECE_BYTES):
                    out.write(chunk[start:start + _WRITE_PIECE_BYTES])
                crc = pending.result()
            else:
                for start in range(0, length, _CRC_PIECE_BYTES):
                    piece = chunk[start:start + _CRC_PIECE_BYTES]
                    out.write(piece)
                    crc = crc32c(piece, crc)  # while the piece is still in the CPU cache
            size += length
    if size != tensor.nbytes:  # guards against the array changing after it was added
        raise InvalidArgumentError(
            f"tensor {tensor.name!r}: wrote {size} bytes, expected {tensor.nbytes}")
    return size, crc


def _write_run(out: _ShardOutput, run: _SmallRun, offset: int) -> int:
    """Append a run's bytes; set its ``offsets`` and ``crcs``; return the bytes written."""
    data = b"".join(cast("list[memoryview]", run.arrays))  # numpy arrays are buffers
    if len(data) != run.nbytes:  # guards against an array changing after it was added
        raise InvalidArgumentError(
            f"tensors {run.names[0]!r}...{run.names[-1]!r}: wrote {len(data)} bytes, "
            f"expected {run.nbytes}")
    out.write(data)
    sizes = run.sizes.astype(np.uint64)
    ends = np.cumsum(sizes)
    run.offsets = ends - sizes + np.uint64(offset)
    run.crcs = np.array(crc32c_each(run.arrays), np.uint64)
    return len(data)


def _write_shard(path: Path, shard: int, items: Sequence[_Segment], progress: _Progress,
                 checksummer: ThreadPoolExecutor | None = None,
                 abort: threading.Event | None = None) -> None:
    """Write one data file holding ``items`` in order and set their ``shard`` and ``entry``
    (runs: ``offsets`` and ``crcs``).  With a ``checksummer``, large tensors go out in
    batches (:class:`_Batches`)."""
    encode_entry = EntryEncoder().encode
    with open(path, "wb", buffering=_WRITE_BUFFER_BYTES) as file:
        out = _ShardOutput(file, progress, checksummer)
        batches = _Batches(file, progress, checksummer, shard) \
            if checksummer is not None and _HAVE_WRITEV else None
        offset = 0
        for item in items:
            if abort is not None and abort.is_set():
                return  # another shard failed; its error is raised by the caller
            if isinstance(item, _SmallRun):
                if batches is not None:
                    batches.flush()
                offset += _write_run(out, item, offset)
                continue
            if batches is not None:
                view = direct_tensor_bytes(item)
                if view is not None and len(view):  # (an empty one takes the plain path)
                    batches.add(item, view, offset)
                    offset += item.nbytes
                    continue
                batches.flush()
            size, crc = _write_data(out, item)
            release_mapped_pages(item.array)
            _record_written(item, encode_entry, shard, offset, size, crc)
            offset += size
        if batches is not None:
            batches.flush()
            batches.finish()


class _Batches:
    """Large tensors of one data file written by ``os.writev`` in batches of up to
    :data:`_BATCH_BYTES` (a larger tensor in pieces of that size), while the helper
    thread checksums them.

    Few system calls matter beyond their own cost: each call releases the GIL and must
    take it back, and while another thread runs Python (the builder fingerprinting
    ``saved_model.pb``, say) taking it back waits up to the interpreter's switch interval
    (5 ms).  Written a tensor at a time, the file advanced by one tensor per switch
    interval whenever the other thread was busy: no overlap at all.

    A tensor is settled (entry encoded, value released) once written and checksummed;
    beyond two batches (:data:`_BATCH_BYTES`) of written values waiting for their
    checksums, the writer waits (a memory-mapped value's pages stay resident until it is
    released: a stream of 64 MiB tensors from ``np.load(mmap_mode="r")`` peaks at ~175 MB
    of RSS per process, against 256 MB allowed)."""

    __slots__ = ("_file", "_fd", "_progress", "_checksummer", "_shard", "_views", "_bytes",
                 "_queued_end", "_written_end", "_unsettled", "_unsettled_bytes", "_encode")

    def __init__(self, file: BinaryIO, progress: _Progress, checksummer: ThreadPoolExecutor,
                 shard: int) -> None:
        self._file = file
        self._fd = file.fileno()
        self._progress = progress
        self._checksummer = checksummer
        self._shard = shard
        self._views: list[memoryview] = []  # queued, not yet written
        self._bytes = 0
        self._queued_end = self._written_end = 0  # file offsets
        # item, offset, size, crc (an int or the helper's Future of it)
        self._unsettled: deque[tuple[_DataItem, int, int, Any]] = deque()
        self._unsettled_bytes = 0
        self._encode = EntryEncoder().encode

    def add(self, item: _DataItem, view: memoryview, offset: int) -> None:
        """Queue ``item`` (``view``: its bytes) to be written at ``offset``."""
        size = len(view)
        # a small tensor is checksummed here: cheaper than a task for the helper
        crc = self._checksummer.submit(crc32c, view) if size >= _OVERLAP_CRC_BYTES else \
            crc32c(view)
        self._unsettled.append((item, offset, size, crc))
        self._unsettled_bytes += size
        for start in range(0, size, _BATCH_BYTES):
            piece = view[start:start + _BATCH_BYTES]
            self._views.append(piece)
            self._bytes += len(piece)
            self._queued_end = offset + start + len(piece)
            if self._bytes >= _BATCH_BYTES or len(self._views) >= _BATCH_BUFFERS:
                self._write()
        self._settle(wait=self._unsettled_bytes > 2 * _BATCH_BYTES)

    def flush(self) -> None:
        """Write the queued bytes (before anything else is written to the file)."""
        self._write()
        self._settle(wait=False)

    def _write(self) -> None:
        if self._views:
            views, self._views, self._bytes = self._views, [], 0
            self._file.flush()  # what the buffered file holds goes first
            _writev_all(self._fd, views)
            self._written_end = self._queued_end
            self._progress.advance(sum(len(view) for view in views))

    def finish(self) -> None:
        """Wait for the checksums; give every written tensor its entry."""
        self._settle(wait=True)

    def _settle(self, wait: bool) -> None:
        """Settle the written tensors whose checksum is done (``wait``: wait for it)."""
        while self._unsettled:
            item, offset, size, crc = self._unsettled[0]
            if offset + size > self._written_end or not (
                    wait or isinstance(crc, int) or crc.done()):
                return  # bytes still queued, or still being checksummed
            self._unsettled.popleft()
            self._unsettled_bytes -= size
            if size != item.nbytes:  # guards against the array changing after it was added
                raise InvalidArgumentError(
                    f"tensor {item.name!r}: wrote {size} bytes, expected {item.nbytes}")
            if size >= _OVERLAP_CRC_BYTES:  # the helper has time to spare: it unmaps
                self._checksummer.submit(release_mapped_pages, item.array)
            else:
                release_mapped_pages(item.array)
            _record_written(item, self._encode, self._shard, offset, size,
                            crc if isinstance(crc, int) else crc.result())


def _record_written(item: _DataItem, encode: Callable[..., bytes], shard: int, offset: int,
                    size: int, crc: int) -> None:
    """A written tensor's index entry; the writer no longer keeps its value alive."""
    item.shard = shard
    item.entry = encode(item.dtype.enum, item.array.shape, shard, offset, size, mask(crc))
    item.array = _RELEASED


def _writev_all(fd: int, views: list[memoryview]) -> None:
    """Write ``views`` in order to ``fd`` with ``os.writev``, resuming after short writes."""
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views = views[1:]
        if written:
            views = [views[0][written:], *views[1:]]


def _write_shards_serially(paths: list[Path], shard_items: Sequence[Sequence[_Segment]],
                           progress: _Progress) -> None:
    overlap = (crc32c_backend == "crc32c" and (os.cpu_count() or 1) > 1
               and any(isinstance(item, _DataItem) and item.nbytes >= _OVERLAP_CRC_BYTES
                       for items in shard_items for item in items))
    checksummer = None
    if overlap:
        from concurrent.futures import ThreadPoolExecutor  # only when used: ~10 ms to import

        checksummer = ThreadPoolExecutor(1, thread_name_prefix="pysavedmodel-crc")
    try:
        for shard, (path, items) in enumerate(zip(paths, shard_items)):
            _write_shard(path, shard, items, progress, checksummer)
    finally:
        if checksummer is not None:
            checksummer.shutdown(wait=True)


def _write_shards_in_parallel(paths: list[Path], shard_items: Sequence[Sequence[_Segment]],
                              progress: _Progress) -> None:
    """One thread per core, each writing whole shards; progress is reported from here, in
    the calling thread.  The first failure stops the other shards and is raised."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    counters = [_Progress(None, 0) for _ in paths]  # each written by one shard thread only
    abort = threading.Event()
    workers = min(len(paths), os.cpu_count() or 1)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="pysavedmodel-shard")
    try:
        pending = {pool.submit(_write_shard, path, shard, items, counters[shard], None, abort)
                   for shard, (path, items) in enumerate(zip(paths, shard_items))}
        while pending:
            done, pending = wait(pending, timeout=_POLL_SECONDS, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    raise error
            progress.update(sum(counter.done for counter in counters))
    except BaseException:
        abort.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # no thread writes once this returns


def _write_files(prefix: str, num_shards: int, items: list[_DataItem], assignment: list[int],
                 index_entries: Callable[[], list[_Indexed]],
                 progress_callback: ProgressCallback | None = None,
                 durable: bool = False, segments: list[_Segment] | None = None,
                 entry_groups: EntryGroups | None = None) -> list[Path]:
    """Write the data files and the index.  ``segments`` (one shard only): what the data
    file holds in order, ``items`` and runs of small tensors."""
    assert segments is None or num_shards == 1
    progress = _Progress(progress_callback, sum(item.nbytes for item in
                                                (items if segments is None else segments)))
    index_path = index_filename(prefix)
    shard_paths = [data_filename(prefix, s, num_shards) for s in range(num_shards)]
    # An index left from an earlier checkpoint goes first: interrupted from there on,
    # the prefix has no checkpoint rather than an old index over new data.  The new
    # index is renamed last: its presence means the checkpoint is whole.
    with AtomicGroup([*shard_paths, index_path], remove_first=[index_path], durable=durable,
                     lock=Path(f"{index_path}.lock")) as group:
        temp_paths = [group.temp(path) for path in shard_paths]
        shard_items: list[list[_Segment]] = [[] for _ in range(num_shards)]
        if segments is not None:
            shard_items[0] = segments
        else:
            for item, shard in zip(items, assignment):
                shard_items[shard].append(item)
        if (num_shards > 1 and progress.total >= _PARALLEL_SHARDS_BYTES
                and (os.cpu_count() or 1) > 1):
            _write_shards_in_parallel(temp_paths, shard_items, progress)
        else:
            _write_shards_serially(temp_paths, shard_items, progress)
        with open(group.temp(index_path), "wb") as out:
            table = TableWriter(out)
            table.add(b"", _header(num_shards))
            runs = [s for s in segments or () if isinstance(s, _SmallRun)]
            if runs and entry_groups is not None:
                _add_entries_in_bulk(table, index_entries(), runs, entry_groups)
            else:
                for each in index_entries():
                    table.add(each.key, each.entry)
            table.finish()
        group.commit()
    progress.finish()
    return [*shard_paths, index_path]


def _add_entries_in_bulk(table: TableWriter, indexed: list[_Indexed], runs: list[_SmallRun],
                         entry_groups: EntryGroups) -> None:
    """Add the entries of ``runs`` (encoded with numpy) and ``indexed`` in key order."""
    keys = [key for run in runs for key in run.keys]
    parts = entry_groups.encode(
        np.concatenate([run.groups for run in runs]),
        np.concatenate([run.offsets for run in runs]),
        np.concatenate([run.crcs for run in runs]))
    if any(len(each.entry) > _BULK_ENTRY_BYTES for each in indexed):
        # a long entry (a tensor in many slices) would widen every row: one by one
        entries = {key: row_bytes(parts, i) for i, key in enumerate(keys)}
        entries.update((each.key, each.entry) for each in indexed)
        for key in sorted(entries):
            table.add(key, entries[key])
        return
    if indexed:
        keys += [each.key for each in indexed]
        parts = stack_rows(parts, pack_rows([each.entry for each in indexed]))
    order = key_order(keys)
    if order is not None:
        keys = [keys[i] for i in order.tolist()]
        parts = take_rows(parts, order)
    table.add_many(keys, parts)


def write_local_checkpoint(prefix: PathLike, tensors: Mapping[str, Any], *,
                           num_shards: int = 1,
                           shards: Sequence[Sequence[str]] | None = None,
                           progress: ProgressCallback | None = None,
                           durable: bool = False) -> list[Path]:
    """Write ``tensors`` as a checkpoint at ``prefix`` in this process.

    :func:`pysavedmodel.write_checkpoint` without ``executor`` (see there for the
    arguments, the files and the guarantees).
    """
    if not isinstance(tensors, Mapping):
        raise InvalidArgumentError(
            f"tensors must be a mapping of name -> array, got {type(tensors).__name__}")
    writer = CheckpointWriter(prefix, num_shards=num_shards, shards=shards, progress=progress,
                              durable=durable)
    writer._add_all(tensors)
    return writer.finish()
