"""Checkpoints written by many workers: shard bundles and their merge.

TensorFlow's sharded save has each device write its tensors as a complete bundle of
its own at a temporary prefix, ``PREFIX_temp/part-NNNNN-of-MMMMM``, then
``MergeV2Checkpoints`` renames every shard's data file to
``PREFIX.data-NNNNN-of-MMMMM`` and writes the one ``PREFIX.index`` listing all entries
(docs/format/tensorbundle.md, "Shards and merging").  The merge reads only the small
index files, so it is cheap however large the data.  This module does the same:

* :func:`write_shard` writes one shard bundle (on any worker);
* :func:`merge_shards` merges shard bundles into the final prefix, byte-identical to
  ``MergeV2Checkpoints``;
* :func:`write_checkpoint_distributed` spreads the shards over any
  ``concurrent.futures.Executor`` (a process pool, ``dask.distributed``'s
  ``Client.get_executor()``, Ray's executor...) and merges them.

Workers write to the path they are given, so the prefix's directory must be storage
every worker sees under the same path (a local disk for a process pool on one host;
NFS, Lustre, a FUSE-mounted bucket... across hosts), and the shard bundles must live
on the same filesystem as the final prefix: the merge renames files, it never copies.

Remote prefixes (``s3://bucket/ckpt/model``; :mod:`pysavedmodel.remote`): each worker
writes its shard locally and uploads it under ``PREFIX_temp/``; the merge downloads
only the shard indexes, moves the data objects to their final names on the store
(a server-side copy and delete on object stores) and uploads ``PREFIX.index`` last.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pysavedmodel._proto import tensor_bundle_pb2
from pysavedmodel.errors import CorruptCheckpointError, InvalidArgumentError, NotFoundError

from .. import remote
from ..aliases import Location, PathLike, ProgressCallback
from ..fileio import atomic_file, make_parents, remove_dirs
from .bundle_entry import DecodedEntries, EntryGroups, decode_entries
from .naming import data_filename, index_filename
from .sharding import balance_shards, check_num_shards, check_tensor_name, explicit_shards
from .table import (
    RowParts,
    TableReader,
    TableWriter,
    key_order,
    pack_rows,
    row_bytes,
    stack_rows,
    take_rows,
)
from .tensor_data import prepare_tensor
from .writer import write_local_checkpoint

__all__ = ["shard_prefix", "write_shard", "merge_shards", "write_checkpoint_distributed"]


_Header = tensor_bundle_pb2.BundleHeaderProto
_Entry = tensor_bundle_pb2.BundleEntryProto


# -- naming

def shard_prefix(prefix: PathLike, shard: int, num_shards: int) -> Location:
    """Where shard ``shard`` of ``num_shards`` of the checkpoint ``prefix`` is written:
    ``PREFIX_temp/part-%05d-of-%05d``, the name TensorFlow's sharded save uses (a
    ``Path``; a URL ``str`` for a URL prefix).

    Deterministic, so workers that never talk to each other agree on it.
    """
    _check_shard(shard, num_shards)
    text = _prefix_text(prefix)
    if remote.is_remote(text):
        return f"{text}_temp/part-{shard:05d}-of-{num_shards:05d}"
    return Path(f"{text}_temp") / f"part-{shard:05d}-of-{num_shards:05d}"


def _prefix_text(prefix: Any) -> str:
    """The prefix as a string (a ``file://`` URL as its path)."""
    text = os.fspath(prefix) if isinstance(prefix, (str, os.PathLike)) else None
    if not isinstance(text, str) or text == "":
        raise InvalidArgumentError(f"checkpoint prefix must be a non-empty path, got {prefix!r}")
    return str(remote.local_location(text))


def _check_shard(shard: Any, num_shards: Any) -> None:
    check_num_shards(num_shards)
    if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard < num_shards:
        raise InvalidArgumentError(
            f"shard must be an int in [0, {num_shards}), got {shard!r}")


# -- one shard (runs on a worker)

def _load(value: Any) -> Any:
    """A value, or what a zero-argument loader returns."""
    return value() if callable(value) else value


def write_shard(prefix: PathLike, tensors: Mapping[str, Any], *, shard: int,
                num_shards: int) -> list[Location]:
    """Write shard ``shard`` of ``num_shards`` of the checkpoint ``prefix`` as a bundle of
    its own at :func:`shard_prefix` (``PREFIX_temp/part-...``), as TensorFlow's SaveV2
    does for each device of a sharded save; :func:`merge_shards` joins the shards.

    ``tensors`` maps names to arrays, or to zero-argument callables returning an
    array (called here, so a worker can load its own data).  Tensors are written in
    the mapping's order.  A shard must hold at least one tensor.  Returns the paths
    written (data file, then index); URLs for a URL prefix (written locally, then
    uploaded, the index last).
    """
    if not isinstance(tensors, Mapping):
        raise InvalidArgumentError(
            f"tensors must be a mapping of name -> array, got {type(tensors).__name__}")
    target = shard_prefix(prefix, shard, num_shards)
    if not tensors:
        raise InvalidArgumentError(
            f"shard {shard} of {num_shards} of checkpoint {os.fspath(prefix)!r} holds no "
            f"tensors; every shard needs at least one")
    values = _Loading(tensors)  # loaders called as the writer reads them
    if isinstance(target, str):  # a URL
        return list(remote.staged_checkpoint(
            target, lambda local: write_local_checkpoint(local, values)))
    return list(write_local_checkpoint(target, values))


class _Loading(Mapping[str, Any]):
    """``tensors`` with each loader called when its value is read (the writer reads each
    once), so that no loaded array is kept here while others are written."""

    def __init__(self, tensors: Mapping[str, Any]) -> None:
        self._tensors = tensors

    def __getitem__(self, name: str) -> Any:
        return _load(self._tensors[name])

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)


def _write_shard_task(prefix: str, shard: int, num_shards: int,
                      items: list[tuple[str, Any]]) -> int:
    """The task one worker runs: write its shard; return the bytes of tensor data."""
    paths = write_shard(prefix, dict(items), shard=shard, num_shards=num_shards)
    if isinstance(paths[0], str):
        return remote.object_size(paths[0])
    return os.path.getsize(paths[0])


# -- merging

class _ShardIndex:
    """A shard bundle's index: header, keys in order, and the entries read in bulk.

    Entries in the plain layout that re-encode to their own bytes (``fast``) are kept as
    decoded columns (:func:`.bundle_entry.decode_entries`) and re-encoded with their new
    shard id with numpy; any other entry (slices, unusual encodings) is parsed with
    protobuf (``entries``, by row) and re-serialized as MergeV2Checkpoints does.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.path = index_filename(prefix)
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"shard bundle index {self.path} does not exist") from None
        table = TableReader(data, path=str(self.path))
        keys, matrix, lengths, long = table.items_in_bulk()
        if not keys or keys[0] != b"":
            raise CorruptCheckpointError(f"{self.path}: no header entry (key '')")
        self.header = _Header()
        try:
            self.header.ParseFromString(
                long[0] if 0 in long else matrix[0, :lengths[0]].tobytes())
        except Exception as exc:  # protobuf's DecodeError and friends
            raise CorruptCheckpointError(f"{self.path}: unparsable entry: {exc}") from None
        self.keys = keys[1:]
        matrix, lengths = matrix[1:], lengths[1:]
        long = {row - 1: value for row, value in long.items() if row}
        self.decoded = decode_entries(matrix, lengths)
        self.decoded.ok[list(long)] = False
        self.fast = self.decoded.ok & _encodes_to_itself(self.decoded, matrix, lengths)
        self.entries: dict[int, _Entry] = {}
        self.shard_ids = self.decoded.shard.copy()
        try:
            for row in np.flatnonzero(~self.fast).tolist():
                value = long[row] if row in long else matrix[row, :lengths[row]].tobytes()
                entry = self.entries[row] = _Entry()
                entry.ParseFromString(value)
                self.shard_ids[row] = entry.shard_id
        except Exception as exc:  # protobuf's DecodeError and friends
            raise CorruptCheckpointError(f"{self.path}: unparsable entry: {exc}") from None
        if self.header.num_shards < 1:
            raise CorruptCheckpointError(
                f"{self.path}: header has num_shards {self.header.num_shards}, expected >= 1")


def _encodes_to_itself(decoded: DecodedEntries, matrix: np.ndarray, lengths: np.ndarray
                       ) -> np.ndarray:
    """Whether each entry decoded in bulk is exactly what encoding its fields gives (so
    re-encoding it with another shard id gives what protobuf would)."""
    if not len(lengths):
        return np.zeros(0, bool)
    groups = EntryGroups()
    numbers = groups.group_many(decoded.dtype, decoded.dims, decoded.shape, decoded.shard,
                                decoded.size)
    parts = groups.encode(numbers, decoded.offset, decoded.crc, masked=True)
    total: np.ndarray = np.sum([part_lengths for _, part_lengths in parts], axis=0)
    width = max(int(total.max()), matrix.shape[1])
    encoded = np.zeros((len(lengths), width), np.uint8)
    masks = [np.arange(m.shape[1]) < part_lengths[:, None] for m, part_lengths in parts]
    encoded[np.arange(width) < total[:, None]] = np.hstack([m for m, _ in parts])[
        np.hstack(masks)]
    original = np.zeros((len(lengths), width), np.uint8)
    original[:, :matrix.shape[1]] = matrix
    same: np.ndarray = (total == lengths) & (encoded == original).all(axis=1)
    return same


class _MergedIndex:
    """What MergeV2Checkpoints accumulates: entries by key, and each referenced data file
    with its new shard id (numbered in order of first reference)."""

    def __init__(self) -> None:
        self.num_shards = 0
        self.first: _ShardIndex | None = None
        self.entries: dict[bytes, _Entry] = {}  # parsed with protobuf
        self.fast: list[tuple[_ShardIndex, np.ndarray, np.ndarray]] = []  # rows, new ids
        self.seen: dict[bytes, None] = {}
        self.data_files: dict[str, int] = {}

    def add(self, shard: _ShardIndex) -> None:
        _check_merged_header(self, shard)
        self.num_shards += shard.header.num_shards
        keys = shard.keys
        new = np.ones(len(keys), bool)
        seen = self.seen
        if seen and not seen.keys().isdisjoint(keys):
            for row in [i for i, key in enumerate(keys) if key in seen]:
                new[row] = False
                key = keys[row]
                existing = self.entries.get(key)
                entry = shard.entries.get(row)
                if (existing is not None and entry is not None and existing.slices
                        and entry.slices):
                    # One partitioned tensor with slices in several shards: one entry
                    # listing all its slices (the first shard's entry, extended).
                    if existing.dtype != entry.dtype or existing.shape != entry.shape:
                        raise InvalidArgumentError(
                            f"cannot merge {shard.path}: partitioned tensor {_shown(key)} has "
                            f"dtype {entry.dtype} shape {_dims(entry)} there but dtype "
                            f"{existing.dtype} shape {_dims(existing)} in an earlier shard")
                    existing.slices.extend(entry.slices)
                else:
                    raise InvalidArgumentError(
                        f"cannot merge {shard.path}: duplicate tensor {_shown(key)} (also in "
                        f"an earlier shard bundle)")
        rows = np.flatnonzero(new)
        if not len(rows):
            return
        # this bundle's shard ids -> merged ones, numbered in order of first reference
        unique, first, inverse = np.unique(shard.shard_ids[rows], return_index=True,
                                           return_inverse=True)
        new_of_unique = np.zeros(len(unique), np.int64)
        for u in np.argsort(first, kind="stable").tolist():
            source = os.fspath(
                data_filename(shard.prefix, int(unique[u]), shard.header.num_shards))
            new_of_unique[u] = self.data_files.setdefault(source, len(self.data_files))
        new_ids = new_of_unique[inverse.reshape(-1)]
        fast = shard.fast[rows]
        self.fast.append((shard, rows[fast], new_ids[fast]))
        for row, new_id in zip(rows[~fast].tolist(), new_ids[~fast].tolist()):
            entry = shard.entries[row]
            entry.shard_id = new_id
            self.entries[keys[row]] = entry
        seen.update(dict.fromkeys(keys))

def _check_merged_header(merged: _MergedIndex, shard: _ShardIndex) -> None:
    if merged.first is None:
        merged.first = shard
        return
    first = merged.first.header
    if shard.header.endianness != first.endianness:
        raise InvalidArgumentError(
            f"cannot merge {shard.path}: its endianness "
            f"{_Header.Endianness.Name(shard.header.endianness)} differs from "
            f"{_Header.Endianness.Name(first.endianness)} in {merged.first.path}")
    if shard.header.version != first.version:
        raise InvalidArgumentError(
            f"cannot merge {shard.path}: its format version "
            f"({_version(shard.header)}) differs from ({_version(first)}) in "
            f"{merged.first.path}")


def _merged_header(merged: _MergedIndex) -> bytes:
    assert merged.first is not None
    header = _Header(num_shards=merged.num_shards)
    header.endianness = merged.first.header.endianness
    header.version.CopyFrom(merged.first.header.version)
    return header.SerializeToString(deterministic=True)


def _shown(key: bytes) -> str:
    return repr(key.decode("utf-8", "backslashreplace"))


def _dims(entry: _Entry) -> list[int]:
    return [d.size for d in entry.shape.dim]


def _version(header: _Header) -> str:
    v = header.version
    return f"producer {v.producer}, min_consumer {v.min_consumer}, " \
           f"bad_consumers {list(v.bad_consumers)}"


def merge_shards(shard_prefixes: Sequence[PathLike], prefix: PathLike, *,
                 delete_old: bool = True) -> list[Location]:
    """Merge shard bundles into the checkpoint ``prefix``, as MergeV2Checkpoints does.

    Reads each shard's index (in the order given), renames the data files to
    ``PREFIX.data-%05d-of-%05d`` (numbered in order of first reference), and writes
    ``PREFIX.index`` with every entry, byte-identical to TensorFlow's merge.  Shards must
    be on the same filesystem as ``prefix`` (files are renamed, not copied).  An
    existing ``PREFIX.index`` is removed first and the new one is written last, so a
    crash leaves no index rather than a wrong one.  ``delete_old`` removes the shards'
    index files and then their directories when empty.  Returns the data files, then
    the index.

    Raises NotFoundError for a missing shard index or data file, CorruptCheckpointError
    for an unreadable index, InvalidArgumentError for duplicate tensors or headers that
    disagree (endianness, format version); nothing is renamed before all checks pass.

    URL prefixes (all on one store): the shard indexes are downloaded, the data objects
    moved on the store, the merged index uploaded last; URLs are returned.
    """
    final = _prefix_text(prefix)
    if isinstance(shard_prefixes, (str, bytes, os.PathLike)) or not isinstance(
            shard_prefixes, Sequence) or not shard_prefixes:
        raise InvalidArgumentError(
            f"shard_prefixes must be a non-empty list of shard bundle prefixes, got "
            f"{shard_prefixes!r}")
    sources = [_prefix_text(p) for p in shard_prefixes]
    for source in sources:
        same = source == final if remote.is_remote(final) or remote.is_remote(source) \
            else os.path.abspath(source) == os.path.abspath(final)
        if same:
            raise InvalidArgumentError(
                f"shard bundle prefix {source!r} is the destination prefix; write shards "
                f"elsewhere (see shard_prefix())")
    if remote.is_remote(final) or any(remote.is_remote(source) for source in sources):
        return _merge_remote(sources, final, delete_old)
    shards = [_ShardIndex(source) for source in sources]
    merged = _merge(shards, final)
    count = len(merged.data_files)
    for source in merged.data_files:
        if not os.path.isfile(source):
            raise NotFoundError(f"shard data file {source} does not exist")
    targets = [data_filename(final, i, count) for i in range(count)]
    _write_merged(merged, final, targets)
    if delete_old:
        _delete_shard_indexes(shards, final)
    return [*targets, index_filename(final)]


def _merge(shards: list[_ShardIndex], final: str) -> _MergedIndex:
    """The shards' merged index; InvalidArgumentError when they cannot be merged."""
    merged = _MergedIndex()
    for shard in shards:
        merged.add(shard)
    count = len(merged.data_files)
    if count != merged.num_shards:
        raise InvalidArgumentError(
            f"cannot merge into {final!r}: the shard headers count {merged.num_shards} data "
            f"files but entries use {count}; a shard bundle without tensors cannot be merged")
    return merged


def _write_index(merged: _MergedIndex, out: Any) -> None:
    table = TableWriter(out)
    table.add(b"", _merged_header(merged))
    _add_merged_entries(table, merged)
    table.finish()


def _merge_remote(sources: list[str], final: str, delete_old: bool) -> list[Location]:
    """:func:`merge_shards` on a store reached through fsspec (see the module doc)."""
    if not (remote.is_remote(final) and all(remote.is_remote(s) for s in sources)):
        raise InvalidArgumentError(
            f"cannot merge into {final!r}: the shard bundles {sources} and the destination "
            f"must all be URLs on one store, or all local paths")
    staging = remote.Staging()
    try:
        shards: list[_ShardIndex] = []
        urls: dict[str, str] = {}  # local copy's data file name -> its URL
        for i, source in enumerate(sources):
            local = str(staging.root / f"shard{i}")
            remote.fetch_file(f"{source}.index", staging.root, name=f"shard{i}.index")
            shard = _ShardIndex(local)
            count = shard.header.num_shards
            for sid in range(count):
                urls[os.fspath(data_filename(local, sid, count))] = \
                    f"{source}.data-{sid:05d}-of-{count:05d}"
            shards.append(shard)
        merged = _merge(shards, final)
        count = len(merged.data_files)
        for local in merged.data_files:
            remote.object_size(urls[local])  # NotFoundError when missing
        index = staging.root / "merged.index"
        with open(index, "wb") as out:
            _write_index(merged, out)
        targets = [f"{final}.data-{i:05d}-of-{count:05d}" for i in range(count)]
        moves = [(urls[local], targets[new_id]) for local, new_id in merged.data_files.items()]
        remote.remove_if_exists(f"{final}.index")  # no old index over new data
        remote.move_urls(moves)
        try:
            remote.upload_file(index, f"{final}.index")
        except BaseException:
            remote.move_urls([(target, source) for source, target in reversed(moves)])
            raise
    finally:
        staging.cleanup()
    if delete_old:
        remote.remove_urls([f"{source}.index" for source in sources])
    return [*targets, f"{final}.index"]


def _write_merged(merged: _MergedIndex, final: str, targets: list[Path]) -> None:
    """Rename the data files into place, then write the index; undo on failure."""
    index_path = index_filename(final)
    created = make_parents(index_path)
    renamed: list[tuple[str, Path]] = []
    try:
        if index_path.exists():
            index_path.unlink()
        for source, new_id in merged.data_files.items():
            os.replace(source, targets[new_id])
            renamed.append((source, targets[new_id]))
        with atomic_file(index_path, hidden=False) as out:
            _write_index(merged, out)
    except BaseException as exc:
        for source, target in reversed(renamed):
            try:
                os.replace(target, source)
            except OSError:
                pass
        remove_dirs(created)
        if isinstance(exc, OSError) and exc.errno == errno.EXDEV:
            raise InvalidArgumentError(
                f"cannot merge into {final!r}: the shard bundles are on another filesystem "
                f"(files are renamed, not copied): {exc}") from None
        raise


def _add_merged_entries(table: TableWriter, merged: _MergedIndex) -> None:
    """Every entry in key order: the fast ones re-encoded with numpy, the others
    serialized by protobuf."""
    groups = EntryGroups()
    keys: list[bytes] = []
    numbers, offsets, crcs = [], [], []
    for shard, rows, new_ids in merged.fast:
        d = shard.decoded
        numbers.append(groups.group_many(d.dtype[rows], d.dims, d.shape[rows], new_ids,
                                         d.size[rows]))
        offsets.append(d.offset[rows])
        crcs.append(d.crc[rows])
        keys += (shard.keys if len(rows) == len(shard.keys)
                 else [shard.keys[row] for row in rows.tolist()])
    others = {key: entry.SerializeToString(deterministic=True)
              for key, entry in merged.entries.items()}
    parts: RowParts = []
    if keys:
        parts = groups.encode(np.concatenate(numbers), np.concatenate(offsets),
                              np.concatenate(crcs), masked=True)
    if not keys or any(len(value) > _BULK_ENTRY_BYTES for value in others.values()):
        everything = {key: row_bytes(parts, i) for i, key in enumerate(keys)}
        everything.update(others)
        for key in sorted(everything):
            table.add(key, everything[key])
        return
    if others:
        keys += list(others)
        parts = stack_rows(parts, pack_rows(list(others.values())))
    order = key_order(keys)
    if order is not None:
        keys = [keys[i] for i in order.tolist()]
        parts = take_rows(parts, order)
    table.add_many(keys, parts)


_BULK_ENTRY_BYTES = 256
"""Entries longer than this (a tensor in many slices) are added one by one."""


def _delete_shard_indexes(shards: list[_ShardIndex], final: str) -> None:
    final_dir = os.path.dirname(os.path.abspath(final))
    for shard in shards:
        try:
            shard.path.unlink()
        except OSError:
            pass
    for directory in dict.fromkeys(os.path.dirname(os.path.abspath(s.prefix)) for s in shards):
        if directory != final_dir:
            try:
                os.rmdir(directory)
            except OSError:
                pass  # not empty (other files) or already gone


# -- the whole checkpoint over an executor

def _assign(prefix: str, names: list[str], sizes: list[int | None], num_shards: int,
            shards: list[list[str]] | None) -> list[int]:
    """The shard of each name: explicit ``shards``; else balanced by bytes when every
    size is known (as write_checkpoint does); else round-robin in mapping order."""
    if shards is not None:
        shard_of = explicit_shards(shards, set(names), "which is not in tensors")
        assignment = [shard_of[n] for n in names]
    elif all(size is not None for size in sizes):
        assignment = balance_shards([int(size or 0) for size in sizes], num_shards)
    else:
        assignment = [i % num_shards for i in range(len(names))]
    empty = sorted(set(range(num_shards)) - set(assignment))
    if empty:
        raise InvalidArgumentError(
            f"checkpoint {prefix!r}: shard(s) {empty} of {num_shards} would hold no tensor "
            f"({len(names)} tensors); use fewer shards")
    return assignment


def _shard_count(num_shards: Any, shards: Any) -> tuple[int, list[list[str]] | None]:
    explicit: list[list[str]] | None = None
    if shards is not None:
        if isinstance(shards, (str, bytes)) or not isinstance(shards, Sequence) or any(
                isinstance(names, (str, bytes)) or not isinstance(names, Sequence)
                for names in shards):
            raise InvalidArgumentError(
                f"shards must be a list of name lists (one per shard), got {shards!r}")
        explicit = [list(names) for names in shards]
        if num_shards in (None, 1):
            num_shards = len(explicit)
    if num_shards is None:
        raise InvalidArgumentError("write_checkpoint_distributed needs num_shards or shards")
    check_num_shards(num_shards)
    if explicit is not None and len(explicit) != num_shards:
        raise InvalidArgumentError(
            f"shards lists {len(explicit)} shards but num_shards is {num_shards}")
    return num_shards, explicit


class _ProgressEstimate:
    """Bytes done over the total: exact when every size is known up front; otherwise
    the unknown shards are estimated from the bytes per tensor of the finished ones."""

    def __init__(self, known: list[int], unknown_counts: list[int]) -> None:
        self._known = known
        self._unknown = unknown_counts
        self._done: dict[int, int] = {}

    def finished(self, shard: int, nbytes: int) -> tuple[int, int]:
        self._done[shard] = nbytes
        done = sum(self._done.values())
        measured = [(self._done[s], self._unknown[s]) for s in self._done if self._unknown[s]]
        per_tensor = (sum(b for b, _ in measured) / sum(c for _, c in measured)
                      if measured else 0.0)
        pending = [s for s in range(len(self._known)) if s not in self._done]
        estimate = sum(self._known[s] + per_tensor * self._unknown[s] for s in pending)
        return done, done + int(estimate)


def write_checkpoint_distributed(
        prefix: PathLike, tensors: Mapping[str, Any], *, num_shards: int | None = None,
        shards: Sequence[Sequence[str]] | None = None,
        executor: concurrent.futures.Executor,
        progress: ProgressCallback | None = None) -> list[Location]:
    """Write ``tensors`` as a checkpoint at ``prefix``, one shard per task on ``executor``.

    ``executor``: any ``concurrent.futures.Executor`` (ProcessPoolExecutor,
    ``dask.distributed.Client(...).get_executor()``, Ray's executor, a thread pool).
    Values are arrays or zero-argument callables returning an array, called on the
    worker (with a process executor, callables and arrays must be picklable).  Each
    task writes :func:`write_shard` under ``PREFIX_temp/``; when all succeeded this
    process merges them (:func:`merge_shards`).  The prefix's directory must be shared
    storage that every worker sees under the same path.

    Shards (one task each; ``num_shards`` sets the parallelism): ``shards`` (name
    lists) fixes the assignment; else the tensors are split into ``num_shards`` groups,
    balanced by bytes when every value is an array (the same assignment, and so the
    same bytes, as :func:`~pysavedmodel.format.bundle.write_checkpoint` with
    ``num_shards``), round-robin in mapping order when some are callables.  Within a
    shard, tensors keep the mapping's order.

    ``progress(bytes_done, bytes_total)`` is called as shards finish (the total is
    estimated while loaders' sizes are unknown) and once, with ``bytes_done ==
    bytes_total``, when the checkpoint is complete.  If a task fails, the others are
    cancelled or awaited, every shard file is removed and the task's error is raised.
    A URL prefix works too (the workers upload their shards; see :func:`merge_shards`).
    """
    final = _prefix_text(prefix)
    if not isinstance(tensors, Mapping):
        raise InvalidArgumentError(
            f"tensors must be a mapping of name -> array, got {type(tensors).__name__}")
    if not isinstance(executor, concurrent.futures.Executor):
        raise InvalidArgumentError(
            f"executor must be a concurrent.futures.Executor (for dask.distributed: "
            f"client.get_executor()), got {type(executor).__name__}")
    if progress is not None and not callable(progress):
        raise InvalidArgumentError(
            f"progress must be a callable(bytes_done, bytes_total), got {progress!r}")
    count, explicit = _shard_count(num_shards, shards)
    names = list(tensors)
    if not names:
        raise InvalidArgumentError(f"checkpoint {final!r}: no tensors to write")
    sizes: list[int | None] = []
    for name in names:
        check_tensor_name(name)
        value = tensors[name]
        sizes.append(None if callable(value) else prepare_tensor(name, value).nbytes)
    assignment = _assign(final, names, sizes, count, explicit)
    groups: list[list[tuple[str, Any]]] = [[] for _ in range(count)]
    known = [0] * count
    unknown = [0] * count
    for name, size, shard in zip(names, sizes, assignment):
        groups[shard].append((name, tensors[name]))
        if size is None:
            unknown[shard] += 1
        else:
            known[shard] += size
    first = shard_prefix(final, 0, count)
    created = [] if isinstance(first, str) else make_parents(first)
    futures: dict[concurrent.futures.Future[int], int] = {}
    done = 0
    try:
        for shard, items in enumerate(groups):
            futures[executor.submit(_write_shard_task, final, shard, count, items)] = shard
        estimate = _ProgressEstimate(known, unknown)
        for finished, future in enumerate(concurrent.futures.as_completed(futures), 1):
            nbytes = future.result()  # re-raises the worker's error
            done, total = estimate.finished(futures[future], nbytes)
            if progress is not None and finished < count:
                progress(done, total)
        written = merge_shards([shard_prefix(final, s, count) for s in range(count)], final)
    except BaseException:
        for future in futures:
            future.cancel()
        if futures:
            concurrent.futures.wait(futures)  # no worker may still be writing when we clean
        _remove_shards(final, count, created)
        raise
    if progress is not None:
        progress(done, done)
    return written


def _remove_shards(final: str, count: int, created: list[Path]) -> None:
    if remote.is_remote(final):
        remote.remove_urls([f"{shard_prefix(final, shard, count)}{suffix}"
                            for shard in range(count)
                            for suffix in (".data-00000-of-00001", ".index")])
        return
    for shard in range(count):
        bundle = shard_prefix(final, shard, count)
        for path in (data_filename(bundle, 0, 1), index_filename(bundle)):
            try:
                path.unlink()
            except OSError:
                pass
    try:
        Path(shard_prefix(final, 0, count)).parent.rmdir()
    except OSError:
        pass
    remove_dirs(created)
