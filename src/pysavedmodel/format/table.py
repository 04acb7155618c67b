"""LevelDB-style immutable sorted tables: the format of a TensorBundle ``.index`` file.

File layout (all integers little-endian)::

    data block 0 | trailer        a data block holds sorted key/value entries
    ...
    data block n | trailer
    metaindex block | trailer     always the empty block here
    index block | trailer         separator key -> BlockHandle of each data block
    footer (48 bytes)

Block contents::

    entry*                        varint32 shared | varint32 non_shared | varint32 value_len
                                  | key[shared:] (non_shared bytes) | value (value_len bytes)
    restart offset*               "<I" each: offsets of entries stored with shared == 0
    restart count                 "<I"

Trailer (5 bytes, ``_TRAILER``, "<BI"): compression type (0 = none, 1 = snappy),
then ``mask(crc32c(block contents + type byte))``.

BlockHandle: varint64 offset | varint64 size (size excludes the trailer).

Footer (48 bytes): metaindex handle | index handle | zero padding to 40 bytes |
magic 0xdb4775248b80fb57 as ``"<II"`` (low 32-bit word first).
"""

from __future__ import annotations

import mmap
import struct
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Union

import numpy as np

from pysavedmodel.errors import ChecksumError, CorruptCheckpointError, InvalidArgumentError
from pysavedmodel.format.crc32c import crc32c, mask, unmask
from pysavedmodel.format.varint import (
    decode_varint32,
    decode_varint64,
    encode_varint64,
    varint_columns,
)

__all__ = [
    "TableWriter",
    "TableReader",
    "BLOCK_SIZE",
    "DATA_RESTART_INTERVAL",
    "INDEX_RESTART_INTERVAL",
    "TABLE_MAGIC",
    "RowParts",
    "pack_rows",
    "stack_rows",
    "take_rows",
    "row_bytes",
    "key_order",
]

BLOCK_SIZE = 262144
DATA_RESTART_INTERVAL = 16
INDEX_RESTART_INTERVAL = 1
TABLE_MAGIC = 0xDB4775248B80FB57

_NO_COMPRESSION = 0
_SNAPPY_COMPRESSION = 1
_U32 = struct.Struct("<I")
_TRAILER = struct.Struct("<BI")  # compression type byte, masked crc32c
_TRAILER_SIZE = _TRAILER.size  # 5
_MAGIC_WORDS = struct.Struct("<II")  # magic low word, high word
_FOOTER_SIZE = 48
_HANDLES_SIZE = 40  # two BlockHandles of at most 2 * 10 bytes each, zero padded
# An entry larger than this many block sizes starts a block of its own.
_OVERLY_LARGE_BLOCK_RATIO = 2
# Prefix compression lets a few bytes stand for a long key, so a hostile block could
# decode to keys far larger than itself.  Within one restart group every key is at most
# as long as the group's bytes, so a table restarting every 16 entries (as TensorFlow
# and LevelDB write them) decodes to at most 16x its block's size in keys; twice that
# is refused.
_MAX_KEY_EXPANSION = 2 * DATA_RESTART_INTERVAL

Buffer = Union[bytes, bytearray, memoryview]
BlockHandle = tuple[int, int]  # (offset, size)

RowParts = list[tuple[np.ndarray, np.ndarray]]
"""Many byte strings at once, as parts side by side: each part is a ``(matrix, lengths)``
pair (a ``uint8`` matrix with one row per string, and an int array), and string ``i``
is the concatenation over the parts of ``matrix[i, :lengths[i]]``.  Writers of many
entries build them with numpy instead of one ``bytes`` object per entry."""

_MAX_BATCH_CELLS = 1 << 26
""":meth:`TableWriter.add_many` packs keys into a matrix as wide as the longest key; past
this many cells (a few very long keys) it adds the entries one by one instead."""


def pack_rows(items: Sequence[bytes]) -> RowParts:
    """``items`` as :data:`RowParts` (one part)."""
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    width = int(lengths.max()) if len(items) else 0
    matrix = np.zeros((len(items), width), np.uint8)
    matrix[np.arange(width) < lengths[:, None]] = np.frombuffer(b"".join(items), np.uint8)
    return [(matrix, lengths)]


def stack_rows(first: RowParts, second: RowParts) -> RowParts:
    """The rows of ``first`` followed by those of ``second`` (parts need not match)."""
    n1 = len(first[0][1]) if first else 0
    n2 = len(second[0][1]) if second else 0
    out: RowParts = []
    for parts, before, after in ((first, 0, n2), (second, n1, 0)):
        for matrix, lengths in parts:
            width = matrix.shape[1]
            out.append((
                np.concatenate([np.zeros((before, width), np.uint8), matrix,
                                np.zeros((after, width), np.uint8)]),
                np.concatenate([np.zeros(before, np.int64), lengths,
                                np.zeros(after, np.int64)])))
    return out


def key_order(keys: list[bytes]) -> np.ndarray | None:
    """The permutation that sorts distinct ``keys`` bytewise, or None if they already are.

    Sorted by numpy as fixed-width byte strings, whose order is the bytewise order except
    that keys differing only in trailing zero bytes compare equal; those (and keys too
    long to pack) are sorted by Python instead."""
    n = len(keys)
    if n < 2:
        return None
    width = max(map(len, keys))
    if 0 < width and n * width <= _MAX_BATCH_CELLS:
        packed = np.array(keys, dtype=f"S{width}")
        if bool((packed[1:] > packed[:-1]).all()):
            return None
        order: np.ndarray = np.argsort(packed, kind="stable")
        ordered = packed[order]
        if bool((ordered[1:] > ordered[:-1]).all()):
            return order
    indices = sorted(range(n), key=keys.__getitem__)
    return None if indices == list(range(n)) else np.array(indices, np.intp)


def take_rows(parts: RowParts, order: np.ndarray | slice) -> RowParts:
    """The rows ``order`` (indices or a slice) of ``parts``."""
    return [(matrix[order], lengths[order]) for matrix, lengths in parts]


def row_bytes(parts: RowParts, i: int) -> bytes:
    """String ``i`` of ``parts``."""
    return b"".join([matrix[i, :lengths[i]].tobytes() for matrix, lengths in parts])


def _joined(parts: RowParts, masks: list[np.ndarray]) -> bytes:
    """The strings of ``parts`` (each part's bytes selected by its mask), concatenated."""
    if len(parts) == 1:
        joined: bytes = parts[0][0][masks[0]].tobytes()
    else:
        joined = np.hstack([m for m, _ in parts])[np.hstack(masks)].tobytes()
    return joined


# --------------------------------------------------------------------------- writing


_from_bytes = int.from_bytes


def _common_prefix_length(a: bytes, b: bytes) -> int:
    n = len(a) if len(a) <= len(b) else len(b)
    # Read both prefixes as big-endian integers: the highest bit set in their XOR lies
    # in the first byte that differs, so its bit length counts the bytes from there on.
    difference = _from_bytes(a[:n], "big") ^ _from_bytes(b[:n], "big")
    return n - (difference.bit_length() + 7) // 8


def _shortest_separator(last: bytes, following: bytes) -> bytes:
    """A short key ``k`` with ``last <= k < following`` (TF's rule; keeps ``last`` when unsure)."""
    i = _common_prefix_length(last, following)
    if i >= min(len(last), len(following)):
        return last  # one is a prefix of the other
    byte = last[i]
    if byte < 0xFF and byte + 1 < following[i]:
        return last[:i] + bytes((byte + 1,))
    return last


def _short_successor(key: bytes) -> bytes:
    """A short key ``>= key``: the first byte that is not 0xff incremented, the rest dropped."""
    for i, byte in enumerate(key):
        if byte != 0xFF:
            return key[:i] + bytes((byte + 1,))
    return key


def _encode_handle(handle: BlockHandle) -> bytes:
    return encode_varint64(handle[0]) + encode_varint64(handle[1])


class _BlockBuilder:
    """Accumulates prefix-compressed entries of one block."""

    def __init__(self, restart_interval: int) -> None:
        self._restart_interval = restart_interval
        self._entries = bytearray()
        self._restarts = [0]
        self._since_restart = 0
        self._last_key = b""

    @property
    def empty(self) -> bool:
        return not self._entries

    def size_estimate(self) -> int:
        """Size of the finished block if it were finished now."""
        return len(self._entries) + 4 * len(self._restarts) + 4

    def add(self, key: bytes, value: bytes) -> int:
        """Append an entry; return :meth:`size_estimate` after it."""
        entries = self._entries
        if self._since_restart < self._restart_interval:
            shared = _common_prefix_length(self._last_key, key)
        else:
            self._restarts.append(len(entries))
            self._since_restart = 0
            shared = 0
        non_shared = len(key) - shared
        value_len = len(value)
        if shared < 0x80 and non_shared < 0x80 and value_len < 0x80:  # one-byte varints
            entries += bytes((shared, non_shared, value_len))
        else:
            entries += _encode_entry_header(shared, non_shared, value_len)
        entries += key[shared:]
        entries += value
        self._last_key = key
        self._since_restart += 1
        return len(entries) + 4 * len(self._restarts) + 4

    def finish(self) -> bytes:
        restarts = struct.pack(f"<{len(self._restarts)}I", *self._restarts)
        return bytes(self._entries) + restarts + _U32.pack(len(self._restarts))


def _encode_entry_header(shared: int, non_shared: int, value_len: int) -> bytes:
    if shared < 0x80 and non_shared < 0x80 and value_len < 0x80:
        return bytes((shared, non_shared, value_len))
    for n in (shared, non_shared, value_len):
        if n >= 1 << 32:
            raise InvalidArgumentError(f"table key or value of {n} bytes exceeds the 4 GiB limit")
    out = bytearray()
    for n in (shared, non_shared, value_len):
        while n >= 0x80:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        out.append(n)
    return bytes(out)


class TableWriter:
    """Writes a table to a binary file object, byte-identical to TensorFlow's TableBuilder.

    Keys must be added in strictly increasing bytewise order. Nothing is written
    past the data blocks until :meth:`finish`, which returns the total bytes written.
    The file object is not closed.
    """

    def __init__(
        self,
        fileobj: BinaryIO,
        *,
        block_size: int = BLOCK_SIZE,
        restart_interval: int = DATA_RESTART_INTERVAL,
    ) -> None:
        if block_size <= 0 or restart_interval <= 0:
            raise InvalidArgumentError(
                f"block_size ({block_size}) and restart_interval ({restart_interval}) must be "
                "positive"
            )
        self._file = fileobj
        self._block_size = block_size
        self._large_entry_size = _OVERLY_LARGE_BLOCK_RATIO * block_size
        self._restart_interval = restart_interval
        self._data_block = _BlockBuilder(restart_interval)
        self._index_block = _BlockBuilder(INDEX_RESTART_INTERVAL)
        self._offset = 0
        self._last_key = b""
        self._num_entries = 0
        self._pending_handle: BlockHandle | None = None
        self._finished = False

    @property
    def num_entries(self) -> int:
        """Number of entries added so far."""
        return self._num_entries

    def add(self, key: Buffer, value: Buffer) -> None:
        """Append an entry; ``key`` must be greater than every key added before."""
        if self._finished:
            raise InvalidArgumentError("TableWriter.add() called after finish()")
        if type(key) is not bytes or type(value) is not bytes:
            if isinstance(key, str) or isinstance(value, str):
                raise InvalidArgumentError(
                    f"table keys and values must be bytes, got {type(key).__name__} key "
                    f"and {type(value).__name__} value"
                )
            key = bytes(key)
            value = bytes(value)
        if self._num_entries:
            if key <= self._last_key:
                raise InvalidArgumentError(
                    f"table keys must be strictly increasing: {key!r} added after "
                    f"{self._last_key!r}"
                )
            if len(key) + len(value) >= self._large_entry_size:
                self._flush()
        if self._pending_handle is not None:
            separator = _shortest_separator(self._last_key, key)
            self._index_block.add(separator, _encode_handle(self._pending_handle))
            self._pending_handle = None
        self._last_key = key
        self._num_entries += 1
        if self._data_block.add(key, value) >= self._block_size:
            self._flush()

    def add_many(self, keys: Sequence[bytes], values: RowParts) -> None:
        """Append ``len(keys)`` entries at once: the same file as :meth:`add` called for
        each ``(keys[i], value i of values)``, in a few numpy steps per data block.

        ``keys``: ``bytes`` in strictly increasing order, after every key added before;
        ``values``: their values as :data:`RowParts`.
        """
        if self._finished:
            raise InvalidArgumentError("TableWriter.add_many() called after finish()")
        n = len(keys)
        if n == 0:
            return
        if set(map(type, keys)) != {bytes}:
            raise InvalidArgumentError("table keys must be bytes")
        value_lengths = values[0][1].copy()
        for _, lengths in values[1:]:
            value_lengths += lengths
        key_lengths = np.fromiter(map(len, keys), dtype=np.int64, count=n)
        width = int(key_lengths.max())
        if (n * max(width, 1) > _MAX_BATCH_CELLS
                or int((key_lengths + value_lengths).max()) >= self._large_entry_size):
            for i in range(n):  # rare layouts: the entry-by-entry way
                self.add(keys[i], row_bytes(values, i))
            return
        key_matrix = np.zeros((n, width), np.uint8)
        key_matrix[np.arange(width) < key_lengths[:, None]] = np.frombuffer(
            b"".join(keys), np.uint8)
        # shared[i]: bytes key i has in common with key i - 1; the order is checked too
        shared = np.zeros(n, np.int64)
        if n > 1:
            before, after = key_matrix[:-1], key_matrix[1:]
            differ = before != after
            first = differ.argmax(axis=1)
            rows = np.arange(n - 1)
            first[~differ[rows, first]] = width
            shortest = np.minimum(key_lengths[:-1], key_lengths[1:])
            common = np.minimum(first, shortest)
            at = np.minimum(common, max(width - 1, 0))
            increasing = np.where(common < shortest, after[rows, at] > before[rows, at],
                                  key_lengths[1:] > key_lengths[:-1])
            if not increasing.all():
                i = int(np.argmin(increasing)) + 1
                raise InvalidArgumentError(
                    f"table keys must be strictly increasing: {keys[i]!r} added after "
                    f"{keys[i - 1]!r}")
            shared[1:] = common
        if self._num_entries and keys[0] <= self._last_key:
            raise InvalidArgumentError(
                f"table keys must be strictly increasing: {keys[0]!r} added after "
                f"{self._last_key!r}")
        # a lower bound of each entry's bytes (3 length bytes and its value)
        floor = np.cumsum(value_lengths + 3)
        interval = self._restart_interval
        start = 0
        while start < n:
            if self._pending_handle is not None:
                separator = _shortest_separator(self._last_key, keys[start])
                self._index_block.add(separator, _encode_handle(self._pending_handle))
                self._pending_handle = None
            block = self._data_block
            used = len(block._entries)
            since = block._since_restart
            base = int(floor[start - 1]) if start else 0
            stop = min(n, int(np.searchsorted(floor, base + self._block_size)) + 1)
            count = stop - start
            position = since + np.arange(count)
            restart = (position % interval == 0) & (position >= interval)
            share = shared[start:stop].copy()
            share[0] = _common_prefix_length(block._last_key, keys[start])
            share[restart] = 0
            key_len = key_lengths[start:stop]
            value_len = value_lengths[start:stop]
            header = [varint_columns(share), varint_columns(key_len - share),
                      varint_columns(value_len)]
            sizes = sum(lengths for _, lengths in header) + (key_len - share) + value_len
            ends = np.cumsum(sizes)
            restarts = len(block._restarts) + np.cumsum(restart)
            estimate = used + ends + 4 * restarts + 4
            full = estimate >= self._block_size
            take = int(np.argmax(full)) + 1 if full.any() else count
            columns = np.arange(width)
            masks = [np.arange(m.shape[1]) < lengths[:take, None] for m, lengths in header]
            masks.append((columns >= share[:take, None]) & (columns < key_len[:take, None]))
            masks += [np.arange(m.shape[1]) < lengths[start:start + take, None]
                      for m, lengths in values]
            parts = [(m[:take], lengths[:take]) for m, lengths in header]
            parts.append((key_matrix[start:start + take], key_len[:take]))
            parts += [(m[start:start + take], lengths[start:start + take])
                      for m, lengths in values]
            block._entries += _joined(parts, masks)
            offsets = used + ends[:take] - sizes[:take]
            block._restarts.extend(offsets[restart[:take]].tolist())
            last = since + take - 1
            block._since_restart = last % interval + 1 if last >= interval else last + 1
            block._last_key = keys[start + take - 1]
            self._last_key = block._last_key
            self._num_entries += take
            start += take
            if take < count or bool(full[take - 1]):
                self._flush()

    def finish(self) -> int:
        """Write the remaining blocks and the footer; return the file's total size in bytes."""
        if self._finished:
            raise InvalidArgumentError("TableWriter.finish() called twice")
        self._flush()
        self._finished = True
        metaindex_handle = self._write_block(_BlockBuilder(self._restart_interval).finish())
        if self._pending_handle is not None:
            successor = _short_successor(self._last_key)
            self._index_block.add(successor, _encode_handle(self._pending_handle))
            self._pending_handle = None
        index_handle = self._write_block(self._index_block.finish())
        handles = _encode_handle(metaindex_handle) + _encode_handle(index_handle)
        footer = handles.ljust(_HANDLES_SIZE, b"\0") + _MAGIC_WORDS.pack(
            TABLE_MAGIC & 0xFFFFFFFF, TABLE_MAGIC >> 32
        )
        self._file.write(footer)
        self._offset += len(footer)
        return self._offset

    def _flush(self) -> None:
        if self._data_block.empty:
            return
        self._pending_handle = self._write_block(self._data_block.finish())
        self._data_block = _BlockBuilder(self._restart_interval)

    def _write_block(self, contents: bytes) -> BlockHandle:
        handle = (self._offset, len(contents))
        type_byte = bytes((_NO_COMPRESSION,))
        checksum = mask(crc32c(type_byte, crc32c(contents)))
        self._file.write(contents)
        self._file.write(_TRAILER.pack(_NO_COMPRESSION, checksum))
        self._offset += len(contents) + _TRAILER_SIZE
        return handle


# --------------------------------------------------------------------------- reading


class TableReader:
    """Reads a table from ``bytes``, ``mmap`` or ``memoryview`` (kept by reference, not copied).

    Every block's checksum is verified when the block is first read (the index and
    metaindex blocks on construction).  Errors name ``path`` and the byte offset.
    :meth:`close` (or leaving a ``with`` block) releases the buffer, so that an
    ``mmap`` given to the reader can be closed.
    """

    def __init__(self, data: Buffer | mmap.mmap, *, path: str = "<table>") -> None:
        view = memoryview(data)
        self._views = [view]
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
            self._views.append(view)
        self._data = view
        self._path = path
        self._blocks: dict[int, tuple[list[bytes], list[bytes]]] = {}
        self._length: int | None = None
        metaindex_handle, index_handle = self._read_footer()
        self._read_block(metaindex_handle, "metaindex block")
        index_keys, index_values = self._parse_block(
            self._read_block(index_handle, "index block"), index_handle[0]
        )
        self._index_keys = index_keys
        self._handles = [self._decode_handle(v, index_handle[0]) for v in index_values]

    # -- public API

    @property
    def path(self) -> str:
        """The name used in error messages."""
        return self._path

    @property
    def index_entries(self) -> list[tuple[bytes, BlockHandle]]:
        """``(separator key, (offset, size))`` of each data block, in file order."""
        return list(zip(self._index_keys, self._handles))

    def get(self, key: Buffer) -> bytes | None:
        """The value stored under ``key``, or None if the table has no such key."""
        if isinstance(key, str):
            raise InvalidArgumentError(f"table keys are bytes, got str {key!r}")
        key = bytes(key)
        block = bisect_left(self._index_keys, key)
        if block == len(self._index_keys):
            return None
        keys, values = self._block(block)
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            return values[i]
        return None

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """All ``(key, value)`` pairs in key order."""
        for block in range(len(self._handles)):
            keys, values = self._block(block)
            yield from zip(keys, values)

    def keys(self) -> Iterator[bytes]:
        """All keys in order."""
        for key, _ in self.items():
            yield key

    def __iter__(self) -> Iterator[bytes]:
        return self.keys()

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (bytes, bytearray, memoryview)):
            return False
        return self.get(key) is not None

    def __len__(self) -> int:
        if self._length is None:
            self._length = sum(len(self._block(i)[0]) for i in range(len(self._handles)))
        return self._length

    def close(self) -> None:
        """Release the underlying buffer; later reads raise InvalidArgumentError."""
        for view in reversed(self._views):
            view.release()
        self._views = []
        self._blocks.clear()

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals

    def _corrupt(self, offset: int, message: str) -> CorruptCheckpointError:
        return CorruptCheckpointError(f"{self._path}: corrupt table at offset {offset}: {message}")

    def _read_footer(self) -> tuple[BlockHandle, BlockHandle]:
        size = len(self._data)
        if size < _FOOTER_SIZE:
            raise CorruptCheckpointError(
                f"{self._path}: file is {size} bytes, shorter than the {_FOOTER_SIZE}-byte table "
                "footer (truncated or not a table)"
            )
        start = size - _FOOTER_SIZE
        low, high = _MAGIC_WORDS.unpack_from(self._data, size - _MAGIC_WORDS.size)
        magic = (high << 32) | low
        if magic != TABLE_MAGIC:
            raise CorruptCheckpointError(
                f"{self._path}: bad table magic 0x{magic:016x} at offset {size - 8} "
                f"(expected 0x{TABLE_MAGIC:016x}; truncated or not a table file)"
            )
        footer = self._data[start:start + _HANDLES_SIZE]
        try:
            meta_offset, pos = decode_varint64(footer, 0)
            meta_size, pos = decode_varint64(footer, pos)
            index_offset, pos = decode_varint64(footer, pos)
            index_size, pos = decode_varint64(footer, pos)
        except CorruptCheckpointError as exc:
            raise self._corrupt(start, f"bad footer ({exc})") from None
        return (meta_offset, meta_size), (index_offset, index_size)

    def _decode_handle(self, encoded: bytes, index_offset: int) -> BlockHandle:
        try:
            offset, pos = decode_varint64(encoded, 0)
            size, pos = decode_varint64(encoded, pos)
        except CorruptCheckpointError as exc:
            raise self._corrupt(index_offset, f"bad block handle in index block ({exc})") from None
        if pos != len(encoded):
            raise self._corrupt(index_offset,
                                "trailing bytes after a block handle in the index block")
        return offset, size

    def _read_block(self, handle: BlockHandle, what: str) -> bytes:
        if not self._views:
            raise InvalidArgumentError(f"{self._path}: table reader used after close()")
        offset, size = handle
        end = offset + size
        if end + _TRAILER_SIZE > len(self._data) - _FOOTER_SIZE:
            raise self._corrupt(
                offset,
                f"{what} of {size} bytes (+{_TRAILER_SIZE}-byte trailer) extends past the data "
                f"({len(self._data)} bytes in the file; truncated?)",
            )
        contents = self._data[offset:end]
        type_byte, stored = _TRAILER.unpack_from(self._data, end)
        actual = crc32c(self._data[end:end + 1], crc32c(contents))
        if unmask(stored) != actual:
            raise ChecksumError(
                f"{self._path}: checksum mismatch in {what} at offset {offset} "
                f"(stored masked crc32c 0x{stored:08x}, computed 0x{mask(actual):08x})"
            )
        if type_byte == _NO_COMPRESSION:
            return bytes(contents)
        if type_byte == _SNAPPY_COMPRESSION:
            try:
                return snappy_decompress(contents)
            except CorruptCheckpointError as exc:
                raise self._corrupt(offset, f"bad snappy data in {what}: {exc}") from None
        raise self._corrupt(
            offset, f"unknown block compression type {type_byte} in {what} (expected 0 or 1)")

    def _block(self, block: int) -> tuple[list[bytes], list[bytes]]:
        cached = self._blocks.get(block)
        if cached is None:
            handle = self._handles[block]
            cached = self._parse_block(self._read_block(handle, f"data block {block}"), handle[0])
            self._blocks[block] = cached
        return cached

    def _parse_block(self, contents: bytes, offset: int) -> tuple[list[bytes], list[bytes]]:
        """Decode all entries of a block whose contents start at file ``offset``."""
        keys, starts, lengths = self._scan_block(contents, offset)
        return keys, [contents[a:a + n] for a, n in zip(starts, lengths)]

    def items_in_bulk(self, max_width: int = 256
                      ) -> tuple[list[bytes], np.ndarray, np.ndarray, dict[int, bytes]]:
        """All keys in order and their values, for readers of many entries, without a
        ``bytes`` object per value: ``(keys, matrix, lengths, long)``.  Value ``i`` is
        ``matrix[i, :lengths[i]]`` when it has at most ``max_width`` bytes, else
        ``long[i]`` (the matrix is at most ``max_width`` wide)."""
        keys: list[bytes] = []
        pieces: list[tuple[np.ndarray, np.ndarray]] = []
        long: dict[int, bytes] = {}
        for block in range(len(self._handles)):
            handle = self._handles[block]
            contents = self._read_block(handle, f"data block {block}")
            block_keys, starts, lengths = self._scan_block(contents, handle[0])
            start = np.array(starts, np.int64)
            length = np.array(lengths, np.int64)
            for i in np.flatnonzero(length > max_width).tolist():
                long[len(keys) + i] = contents[starts[i]:starts[i] + lengths[i]]
            keys += block_keys
            width = min(int(length.max()) if len(length) else 0, max_width)
            columns = np.arange(width)
            inside = columns < length[:, None]
            matrix = np.zeros((len(length), width), np.uint8)
            if len(contents):
                data = np.frombuffer(contents, np.uint8)
                matrix[inside] = data[(start[:, None] + columns)[inside]]
            pieces.append((matrix, length))
        width = max([m.shape[1] for m, _ in pieces], default=0)
        matrix = np.zeros((len(keys), width), np.uint8)
        row = 0
        for m, _ in pieces:
            matrix[row:row + len(m), :m.shape[1]] = m
            row += len(m)
        all_lengths: np.ndarray = (np.concatenate([n for _, n in pieces]) if pieces
                                   else np.zeros(0, np.int64))
        return keys, matrix, all_lengths, long

    def _scan_block(self, contents: bytes, offset: int) -> tuple[list[bytes], list[int],
                                                                   list[int]]:
        """Keys of all entries of a block whose contents start at file ``offset``, and
        where each value starts in ``contents`` and how long it is."""
        scanned = _scan_block_in_bulk(contents)
        if scanned is not None:
            return scanned
        return self._scan_block_one_by_one(contents, offset)

    def _scan_block_one_by_one(self, contents: bytes, offset: int
                               ) -> tuple[list[bytes], list[int], list[int]]:
        """:meth:`_scan_block` entry after entry, with every check and its error."""
        size = len(contents)
        if size < 4:
            raise self._corrupt(offset, f"block of {size} bytes is too short for its restart count")
        (num_restarts,) = _U32.unpack_from(contents, size - 4)
        if num_restarts > (size - 4) // 4:
            raise self._corrupt(
                offset, f"block claims {num_restarts} restart points in {size} bytes")
        limit = size - 4 - 4 * num_restarts
        keys: list[bytes] = []
        starts: list[int] = []
        lengths: list[int] = []
        key = b""
        pos = 0
        key_budget = _MAX_KEY_EXPANSION * size
        try:
            while pos < limit:
                entry = pos
                shared = contents[pos]
                non_shared = contents[pos + 1]
                value_len = contents[pos + 2]  # the restart array follows: no IndexError
                if shared < 0x80 and non_shared < 0x80 and value_len < 0x80:
                    pos += 3  # three one-byte varints, the common case
                else:
                    shared, pos = _fast_varint32(contents, pos)
                    non_shared, pos = _fast_varint32(contents, pos)
                    value_len, pos = _fast_varint32(contents, pos)
                if shared > len(key) or pos + non_shared + value_len > limit:
                    raise CorruptCheckpointError(f"bad entry at block offset {entry}")
                key_budget -= shared + non_shared
                if key_budget < 0:  # checked before the key is built
                    raise CorruptCheckpointError(
                        f"keys decoded up to block offset {entry} exceed {_MAX_KEY_EXPANSION}x "
                        f"the block's {size} bytes (prefix compression bomb?)")
                key = key[:shared] + contents[pos:pos + non_shared]
                pos += non_shared
                keys.append(key)
                starts.append(pos)
                lengths.append(value_len)
                pos += value_len
        except CorruptCheckpointError as exc:
            raise self._corrupt(offset, str(exc)) from None
        return keys, starts, lengths


_MAX_GROUP_ENTRIES = 64
""":func:`_scan_block_in_bulk` declines blocks with more entries between restart points."""


def _scan_block_in_bulk(contents: bytes) -> tuple[list[bytes], list[int], list[int]] | None:
    """:meth:`TableReader._scan_block` for the blocks writers produce, with numpy: all
    restart groups are walked side by side, one entry of each per step, and the keys
    are rebuilt in a matrix.  None for anything else (a length of 128 or more, a
    restart entry sharing bytes, entries not ending where the next group starts, more
    than :data:`_MAX_GROUP_ENTRIES` entries per group, keys beyond the expansion bound):
    the entry-by-entry scan then decides, errors included."""
    size = len(contents)
    if size < 8:
        return None
    (num_restarts,) = _U32.unpack_from(contents, size - 4)
    if num_restarts < 1 or num_restarts > (size - 4) // 4:
        return None
    limit = size - 4 - 4 * num_restarts
    data = np.frombuffer(contents, np.uint8)
    restarts = np.frombuffer(contents, "<u4", num_restarts, limit).astype(np.int64)
    if restarts[0] != 0 or (num_restarts > 1 and bool((np.diff(restarts) <= 0).any())) \
            or int(restarts[-1]) >= max(limit, 1):
        return None
    if limit == 0:
        return None
    group_ends = np.append(restarts[1:], limit)
    pos = restarts.copy()
    active = np.ones(num_restarts, bool)
    found_pos: list[np.ndarray] = []
    found_step: list[np.ndarray] = []
    for step in range(_MAX_GROUP_ENTRIES + 1):
        if not active.any():
            break
        if step == _MAX_GROUP_ENTRIES:
            return None
        where = pos[active]
        if int(where.max()) + 3 > limit:
            return None
        found_pos.append(where)
        found_step.append(np.full(len(where), step, np.int64))
        lengths = data[where[:, None] + np.arange(3)].astype(np.int64)
        if int(lengths.max()) >= 0x80:
            return None
        pos[active] = where + 3 + lengths[:, 1] + lengths[:, 2]
        active &= pos < group_ends
    if not bool((pos == group_ends).all()):
        return None
    starts = np.concatenate(found_pos)
    steps = np.concatenate(found_step)
    order = np.argsort(starts, kind="stable")
    starts, steps = starts[order], steps[order]
    header = data[starts[:, None] + np.arange(3)].astype(np.int64)
    shared, non_shared, value_len = header[:, 0], header[:, 1], header[:, 2]
    if bool((shared[steps == 0] != 0).any()):
        return None
    key_len = shared + non_shared
    if int(key_len.sum()) > _MAX_KEY_EXPANSION * size:
        return None
    n = len(starts)
    width = int(key_len.max())
    if n * max(width, 1) > _MAX_BATCH_CELLS or bool((shared[1:] > key_len[:-1]).any()):
        return None
    keys_matrix = np.zeros((n, width), np.uint8)
    columns = np.arange(width)
    suffix_start = starts + 3
    for step in range(int(steps.max()) + 1):
        rows = np.flatnonzero(steps == step)
        own = (columns >= shared[rows, None]) & (columns < key_len[rows, None])
        source = np.minimum(suffix_start[rows, None] + columns - shared[rows, None], size - 1)
        block = np.where(own, data[np.maximum(source, 0)], 0).astype(np.uint8)
        if step:
            inherited = columns < shared[rows, None]
            block = np.where(inherited, keys_matrix[rows - 1], block)
        keys_matrix[rows] = block
    flat = keys_matrix.tobytes()
    ends = (np.arange(n) * width + key_len).tolist()
    begins = (np.arange(n) * width).tolist()
    keys = [flat[a:b] for a, b in zip(begins, ends)]
    value_starts = suffix_start + non_shared
    return keys, value_starts.tolist(), value_len.tolist()


def _fast_varint32(buf: bytes, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    return decode_varint32(buf, pos)


# --------------------------------------------------------------------------- snappy


def snappy_decompress(data: Buffer) -> bytes:
    """Decompress a raw snappy block (the format LevelDB uses for compression type 1).

    Layout: varint32 uncompressed length, then elements whose tag byte's low two bits
    select a literal (0) or a back-reference copy with a 1-, 2- or 4-byte offset (1, 2, 3).
    """
    src = bytes(data)
    expected, pos = decode_varint32(src, 0)
    out = bytearray()
    end = len(src)
    while pos < end:
        tag = src[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                if pos + extra > end:
                    raise CorruptCheckpointError(f"truncated literal length at {pos}")
                length = int.from_bytes(src[pos:pos + extra], "little")
                pos += extra
            length += 1
            if pos + length > end:
                raise CorruptCheckpointError(
                    f"literal of {length} bytes at {pos} runs past the input")
            out += src[pos:pos + length]
            pos += length
            continue
        if kind == 1:
            if pos + 1 > end:
                raise CorruptCheckpointError(f"truncated copy at {pos}")
            length = 4 + ((tag >> 2) & 7)
            distance = ((tag >> 5) << 8) | src[pos]
            pos += 1
        else:
            width = 2 if kind == 2 else 4
            if pos + width > end:
                raise CorruptCheckpointError(f"truncated copy at {pos}")
            length = (tag >> 2) + 1
            distance = int.from_bytes(src[pos:pos + width], "little")
            pos += width
        if distance == 0 or distance > len(out):
            raise CorruptCheckpointError(
                f"copy offset {distance} outside the {len(out)} bytes decoded")
        start = len(out) - distance
        if distance >= length:
            out += out[start:start + length]
        else:  # overlapping copy repeats the last `distance` bytes
            pattern = bytes(out[start:])
            out += (pattern * (length // distance + 1))[:length]
        if len(out) > expected:
            break
    if len(out) != expected:
        raise CorruptCheckpointError(f"decoded {len(out)} bytes, header says {expected}")
    return bytes(out)
