"""Hostile checkpoint files: every case raises a pysavedmodel.Error naming the file,
offset or tensor; none crashes, hangs or allocates what the file claims instead of
what it holds.

Damage is targeted (each case builds exactly one lie into a valid checkpoint, the
index re-checksummed so the lie gets past the CRCs); the random damage lives in
test_reader_fuzz.py and scripts/fuzz.py.  Allocation bounds are proved two ways:
``tracemalloc`` peaks in-process, and a subprocess whose address space is capped
(``RLIMIT_AS``) a little above what it uses, so any large allocation would be a
MemoryError there instead of an Error.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from pysavedmodel._proto import tensor_bundle_pb2
from pysavedmodel.errors import ChecksumError, CorruptCheckpointError, Error, NotFoundError
from pysavedmodel.format import table as table_module
from pysavedmodel.format.bundle import CheckpointReader, read_checkpoint, write_checkpoint
from pysavedmodel.format.crc32c import crc32c, mask
from pysavedmodel.format.table import TableReader, TableWriter
from pysavedmodel.format.varint import decode_varint64
from tests.support.alarm import time_limit

REPO = Path(__file__).resolve().parents[2]

TENSORS: dict[str, np.ndarray] = {
    "a": np.arange(12, dtype=np.float32).reshape(3, 4),
    "b": np.arange(5, dtype=np.int64),
    "s": np.array([b"one", b"three", b""], dtype=object),
}

Entries = dict[bytes, bytes]


# --------------------------------------------------------------------------- helpers


def _checkpoint(tmp_path: Path, tensors: dict[str, np.ndarray] | None = None) -> Path:
    prefix = tmp_path / "ck"
    write_checkpoint(prefix, TENSORS if tensors is None else tensors)
    return prefix


def _index(prefix: Path) -> Path:
    return Path(f"{prefix}.index")


def _data(prefix: Path, shard: int = 0, num_shards: int = 1) -> Path:
    return Path(f"{prefix}.data-{shard:05d}-of-{num_shards:05d}")


def _table_bytes(entries: Entries) -> bytes:
    out = io.BytesIO()
    writer = TableWriter(out)
    for key in sorted(entries):
        writer.add(key, entries[key])
    writer.finish()
    return out.getvalue()


def _edit_index(prefix: Path, edit: Callable[[Entries], None]) -> None:
    """Rewrite the index (valid table, valid CRCs) after ``edit`` changed its entries."""
    entries = dict(TableReader(_index(prefix).read_bytes()).items())
    edit(entries)
    _index(prefix).write_bytes(_table_bytes(entries))


def _edit_entry(prefix: Path, name: str,
                edit: Callable[[tensor_bundle_pb2.BundleEntryProto], None]) -> None:
    def change(entries: Entries) -> None:
        entry = tensor_bundle_pb2.BundleEntryProto.FromString(entries[name.encode()])
        edit(entry)
        entries[name.encode()] = entry.SerializeToString(deterministic=True)
    _edit_index(prefix, change)


def _read_all(prefix: Path) -> dict[str, np.ndarray]:
    with CheckpointReader(prefix) as reader:
        return {name: reader.read(name) for name in reader.keys()}


@contextmanager
def _peak_below(limit: int) -> Iterator[None]:
    """Assert the traced (Python + numpy) allocation peak of the block stays below limit."""
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit, f"peak allocation {peak} bytes, expected < {limit}"


_LIMITED_CHILD = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from pysavedmodel.errors import Error
    from pysavedmodel.format.bundle import CheckpointReader
    def vm_bytes():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    limit = vm_bytes() + int(sys.argv[2]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        with CheckpointReader(sys.argv[1]) as reader:
            for name in reader.keys():
                reader.read(name)
        print(json.dumps({"result": "read"}))
    except Error as exc:
        print(json.dumps({"result": type(exc).__name__, "message": str(exc)}))
""")


def _read_with_capped_address_space(prefix: Path, headroom_mb: int = 200) -> dict[str, str]:
    """Read every tensor in a child whose address space may grow by ``headroom_mb`` only."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _LIMITED_CHILD, str(prefix), str(headroom_mb)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"reader failed ({proc.returncode}): {proc.stderr[-2000:]}"
    result: dict[str, str] = json.loads(proc.stdout.splitlines()[-1])
    return result


# --------------------------------------------------------------------------- truncation, bits


def test_index_truncated_at_every_length_is_corrupt(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    whole = _index(prefix).read_bytes()
    for length in range(len(whole)):
        _index(prefix).write_bytes(whole[:length])
        with pytest.raises(CorruptCheckpointError, match=r"ck\.index") as info:
            CheckpointReader(prefix)
        assert "offset" in str(info.value) or "shorter than" in str(info.value)


def test_data_truncated_at_every_length_names_tensor_file_and_offset(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    whole = _data(prefix).read_bytes()
    for length in range(len(whole)):
        _data(prefix).write_bytes(whole[:length])
        with pytest.raises(CorruptCheckpointError,
                           match=r"tensor '\w' in .*data-00000-of-00001 at offset \d+.*truncated"):
            _read_all(prefix)


def test_every_flipped_index_bit_is_caught_or_harmless(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    whole = _index(prefix).read_bytes()
    caught = 0
    for offset in range(len(whole)):
        for bit in (0x01, 0x80):
            damaged = bytearray(whole)
            damaged[offset] ^= bit
            _index(prefix).write_bytes(damaged)
            try:
                values = _read_all(prefix)
            except CorruptCheckpointError as exc:  # ChecksumError included
                assert "ck.index" in str(exc) or "ck.data" in str(exc), exc
                caught += 1
                continue
            # Only the footer may change without an error (its zero padding, which TensorFlow
            # ignores too), and then the values must be intact.
            assert all(np.array_equal(values[k], v) for k, v in TENSORS.items()), offset
            assert offset >= len(whole) - 48, offset
    assert caught >= 2 * (len(whole) - 48)


def test_every_flipped_data_bit_is_a_checksum_error_naming_the_tensor(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    whole = _data(prefix).read_bytes()
    for offset in range(len(whole)):
        damaged = bytearray(whole)
        damaged[offset] ^= 0x10
        _data(prefix).write_bytes(damaged)
        with pytest.raises(CorruptCheckpointError, match=r"tensor '\w' in .*at offset"):
            _read_all(prefix)


# --------------------------------------------------------------------------- table structure


def test_wrong_table_magic(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    data = bytearray(_index(prefix).read_bytes())
    data[-8:] = struct.pack("<Q", 0x0123456789ABCDEF)
    _index(prefix).write_bytes(data)
    with pytest.raises(CorruptCheckpointError,
                       match=r"ck\.index: bad table magic 0x0123456789abcdef at offset \d+"):
        CheckpointReader(prefix)


def _with_footer_handles(table: bytes, meta: tuple[int, int], index: tuple[int, int]) -> bytes:
    handles = table_module._encode_handle(meta) + table_module._encode_handle(index)
    return table[:-48] + handles.ljust(40, b"\0") + table[-8:]


def _footer_handles(table: bytes) -> tuple[tuple[int, int], tuple[int, int]]:
    footer = table[-48:]
    values = []
    pos = 0
    for _ in range(4):
        value, pos = decode_varint64(footer, pos)
        values.append(value)
    return (values[0], values[1]), (values[2], values[3])


@pytest.mark.parametrize("handle", [(10**6, 10), (0, 10**6), (2**64 - 1, 2**64 - 1),
                                    (2**63, 1)])
def test_footer_block_handles_past_the_end(tmp_path: Path, handle: tuple[int, int]) -> None:
    prefix = _checkpoint(tmp_path)
    table = _index(prefix).read_bytes()
    meta, _ = _footer_handles(table)
    _index(prefix).write_bytes(_with_footer_handles(table, meta, handle))
    with pytest.raises(CorruptCheckpointError,
                       match=rf"ck\.index: corrupt table at offset {handle[0]}: index block .* "
                             "extends past the data"):
        CheckpointReader(prefix)


def test_footer_varint_that_never_ends(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    table = _index(prefix).read_bytes()
    _index(prefix).write_bytes(table[:-48] + b"\xff" * 40 + table[-8:])
    with pytest.raises(CorruptCheckpointError, match=r"bad footer .*longer than 10 bytes"):
        CheckpointReader(prefix)


def _table_with_block(block: bytes) -> bytes:
    """A table whose single data block has exactly these contents (and a valid CRC)."""
    out = io.BytesIO()

    def write_block(contents: bytes) -> tuple[int, int]:
        handle = (out.tell(), len(contents))
        out.write(contents + struct.pack(
            "<BI", 0, mask(crc32c(b"\0", crc32c(contents)))))
        return handle

    data_handle = write_block(block)
    meta_handle = write_block(struct.pack("<II", 0, 1))
    index = table_module._BlockBuilder(1)
    index.add(b"\xff", table_module._encode_handle(data_handle))
    index_handle = write_block(index.finish())
    handles = table_module._encode_handle(meta_handle) + table_module._encode_handle(index_handle)
    out.write(handles.ljust(40, b"\0") + struct.pack(
        "<II", table_module.TABLE_MAGIC & 0xFFFFFFFF, table_module.TABLE_MAGIC >> 32))
    return out.getvalue()


def _read_table(data: bytes) -> list[tuple[bytes, bytes]]:
    with TableReader(data, path="hostile.index") as table:
        return list(table.items())


def test_restart_array_overflowing_the_block() -> None:
    block = b"\x00\x01\x01ab" + struct.pack("<I", 0) + struct.pack("<I", 2**32 - 1)
    with pytest.raises(CorruptCheckpointError,
                       match=r"hostile.index: corrupt table at offset 0: block claims "
                             r"4294967295 restart points in 13 bytes"):
        _read_table(_table_with_block(block))


def test_block_entry_varint_that_never_ends() -> None:
    block = b"\xff" * 12 + struct.pack("<II", 0, 1)
    with pytest.raises(CorruptCheckpointError, match=r"offset 0: varint32 at offset 0 is longer"):
        _read_table(_table_with_block(block))


def test_block_entry_running_past_the_entries() -> None:
    block = b"\x00\x05\x00ab" + struct.pack("<II", 0, 1)
    with pytest.raises(CorruptCheckpointError, match="bad entry at block offset 0"):
        _read_table(_table_with_block(block))


def test_unknown_compression_type() -> None:
    table = bytearray(_table_with_block(struct.pack("<II", 0, 1)))
    contents = bytes(table[:8])
    table[8:13] = struct.pack("<BI", 7, mask(crc32c(b"\x07", crc32c(contents))))
    with pytest.raises(CorruptCheckpointError, match="unknown block compression type 7"):
        _read_table(bytes(table))


def test_prefix_compression_bomb_is_refused_before_the_keys_are_built() -> None:
    # One 200 KB key, then 100,000 six-byte entries that each reuse all but its last
    # byte: 1.2 MB of block decoding to 20 GB of keys if every key were materialized.
    first = 200_000
    body = bytearray(b"\x00" + bytes([0x80 | (first & 0x7F), (first >> 7) & 0x7F | 0x80,
                                      first >> 14]) + b"\x00" + b"k" * first)
    shared = bytes([0x80 | ((first - 1) & 0x7F), ((first - 1) >> 7) & 0x7F | 0x80,
                    (first - 1) >> 14])
    for i in range(100_000):
        body += shared + b"\x01\x00" + bytes((i & 0xFF,))
    block = bytes(body) + struct.pack("<II", 0, 1)
    start = time.perf_counter()
    with _peak_below(64 * 2**20), pytest.raises(
            CorruptCheckpointError, match=r"hostile.index.*prefix compression bomb"):
        _read_table(_table_with_block(block))
    assert time.perf_counter() - start < 10


def test_tf_written_index_is_within_the_key_expansion_bound(fixtures_dir: Path) -> None:
    # The bound is not tight for real files: every fixture index decodes fine.
    indexes = sorted(fixtures_dir.glob("*/variables.index")) + sorted(
        fixtures_dir.glob("*/variables/variables.index"))
    assert len(indexes) >= 5
    for path in indexes:
        assert _read_table(path.read_bytes())


def test_3gb_sparse_index_fails_fast_without_reading(tmp_path: Path) -> None:
    prefix = tmp_path / "ck"
    with open(_index(prefix), "wb") as f:
        f.truncate(3 * 2**30)
    start = time.perf_counter()
    with _peak_below(2**20), pytest.raises(CorruptCheckpointError, match="bad table magic"):
        CheckpointReader(prefix)
    assert time.perf_counter() - start < 1


# --------------------------------------------------------------------------- header


def _set_header(prefix: Path, raw: bytes) -> None:
    def change(entries: Entries) -> None:
        entries[b""] = raw
    _edit_index(prefix, change)


def test_header_with_2_31_minus_1_shards_does_not_touch_every_shard(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    header = tensor_bundle_pb2.BundleHeaderProto(num_shards=2**31 - 1)
    _set_header(prefix, header.SerializeToString())
    start = time.perf_counter()
    with _peak_below(2**20):
        reader = CheckpointReader(prefix)
        with pytest.raises(NotFoundError,
                           match=r"tensor 'a': data file .*ck\.data-00000-of-2147483647 does not"):
            reader.get_tensor("a")
    assert time.perf_counter() - start < 1


def test_header_with_num_shards_2_31_wraps_negative_and_is_refused(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    # num_shards is an int32: the varint of 2**31 reads back as -2**31.
    raw = b"\x08" + bytes([0x80, 0x80, 0x80, 0x80, 0x08])
    _set_header(prefix, raw)
    with pytest.raises(CorruptCheckpointError,
                       match=r"ck\.index: header has num_shards -2147483648, expected >= 1"):
        CheckpointReader(prefix)


def test_header_that_is_not_a_proto(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    _set_header(prefix, b"\x0a\xff\xff")
    with pytest.raises(CorruptCheckpointError, match=r"ck\.index: unparsable header"):
        CheckpointReader(prefix)


# --------------------------------------------------------------------------- entries


def test_shard_id_beyond_num_shards(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)

    def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        entry.shard_id = 1
    _edit_entry(prefix, "a", edit)
    with pytest.raises(CorruptCheckpointError,
                       match=r"tensor 'a' in .*ck\.index: shard_id 1 is outside \[0, 1\)"):
        _read_all(prefix)


@pytest.mark.parametrize("offset", [None, 10**6, 2**62, -1])
def test_offset_plus_size_past_the_data_file(tmp_path: Path, offset: int | None) -> None:
    prefix = _checkpoint(tmp_path)
    if offset is None:  # the entry's last byte one past the end of the file
        offset = _data(prefix).stat().st_size - TENSORS["b"].nbytes + 1

    def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        entry.offset = offset
    _edit_entry(prefix, "b", edit)
    with pytest.raises(CorruptCheckpointError,
                       match=rf"tensor 'b' in .*data-00000-of-00001 at offset {offset}: the entry "
                             r"needs bytes"):
        _read_all(prefix)


@pytest.mark.parametrize("dims", [[2**40, 2**40], [2**62, 2**62, 2**62], [2**63 - 1, 2]])
def test_shapes_whose_element_count_overflows_int64(tmp_path: Path, dims: list[int]) -> None:
    prefix = _checkpoint(tmp_path)

    def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        del entry.shape.dim[:]
        for d in dims:
            entry.shape.dim.add().size = d
    _edit_entry(prefix, "a", edit)
    with _peak_below(2**20), pytest.raises(CorruptCheckpointError,
                                          match=r"tensor 'a' in .*too large for an array"):
        _read_all(prefix)


def test_shape_whose_bytes_exceed_the_data_file_is_refused_before_allocating(
        tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)

    def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        del entry.shape.dim[:]
        entry.shape.dim.add().size = 2**30
        entry.shape.dim.add().size = 64  # 256 GiB of float32
        entry.size = 4 * 2**36  # consistent with the shape, so only the file size disagrees
    _edit_entry(prefix, "a", edit)
    with _peak_below(2**20), pytest.raises(
            CorruptCheckpointError,
            match=r"tensor 'a' in .*at offset 0: the entry needs bytes \[0, 274877906944\) but "
                  r".*holds \d+ bytes"):
        _read_all(prefix)
    result = _read_with_capped_address_space(prefix)
    assert result["result"] == "CorruptCheckpointError", result


def test_negative_dimension(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)

    def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        entry.shape.dim[0].size = -3
    _edit_entry(prefix, "a", edit)
    with pytest.raises(CorruptCheckpointError,
                       match=r"tensor 'a' .*invalid tensor shape \[-3, 4\]"):
        CheckpointReader(prefix).shape("a")


def test_string_lengths_pointing_past_the_end(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)
    data = bytearray(_data(prefix).read_bytes())
    entry = tensor_bundle_pb2.BundleEntryProto.FromString(
        TableReader(_index(prefix).read_bytes()).get(b"s") or b"")
    data[entry.offset] = 0x7F  # first element claims 127 bytes; the entry holds far fewer
    _data(prefix).write_bytes(data)
    with pytest.raises(CorruptCheckpointError, match=r"tensor 's' in .*at offset \d+: string"):
        _read_all(prefix)


def test_string_length_varint_that_never_ends(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path, {"s": np.array([b"x" * 40], dtype=object)})
    data = bytearray(_data(prefix).read_bytes())
    data[0:12] = b"\xff" * 12
    _data(prefix).write_bytes(data)
    with pytest.raises(CorruptCheckpointError,
                       match=r"tensor 's' .*bad string length: varint64 at offset 0 is longer"):
        _read_all(prefix)


def test_string_element_count_larger_than_its_bytes(tmp_path: Path) -> None:
    prefix = _checkpoint(tmp_path)

    def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        entry.shape.dim[0].size = 2**40
    _edit_entry(prefix, "s", edit)
    with _peak_below(2**20), pytest.raises(
            CorruptCheckpointError, match=r"tensor 's' .*expected at least 1099511627776"):
        _read_all(prefix)


# --------------------------------------------------------------------------- partitioned entries


def _sliced_checkpoint(tmp_path: Path) -> Path:
    from pysavedmodel.format.bundle import CheckpointWriter

    prefix = tmp_path / "ck"
    with CheckpointWriter(prefix) as writer:
        writer.add_slice("p", (4, 3), "0,2:-", np.ones((2, 3), np.float32))
        writer.add_slice("p", (4, 3), "2,2:-", np.zeros((2, 3), np.float32))
    return prefix


def _edit_full_entry(prefix: Path, edit: Callable[[tensor_bundle_pb2.BundleEntryProto], None]
                     ) -> None:
    _edit_entry(prefix, "p", edit)


def test_sliced_fixture_reads(tmp_path: Path) -> None:
    prefix = _sliced_checkpoint(tmp_path)
    expected = np.concatenate([np.ones((2, 3)), np.zeros((2, 3))]).astype(np.float32)
    assert np.array_equal(read_checkpoint(prefix)["p"], expected)


def test_slice_outside_the_full_shape(tmp_path: Path) -> None:
    prefix = _sliced_checkpoint(tmp_path)

    def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        entry.slices[1].extent[0].start = 3
    _edit_full_entry(prefix, edit)
    with pytest.raises(CorruptCheckpointError,
                       match=r"tensor 'p' .*invalid stored slice: .*outside \[0, 4\)"):
        CheckpointReader(prefix)


def test_slice_without_its_entry(tmp_path: Path) -> None:
    prefix = _sliced_checkpoint(tmp_path)

    def drop(entries: Entries) -> None:
        slice_keys = [k for k in entries if k not in (b"", b"p")]
        del entries[max(slice_keys)]
    _edit_index(prefix, drop)
    with pytest.raises(CorruptCheckpointError, match=r"tensor 'p' .*has no entry"):
        _read_all(prefix)


def test_overlapping_slices(tmp_path: Path) -> None:
    prefix = _sliced_checkpoint(tmp_path)

    def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        entry.slices[1].extent[0].start = 1  # rows 1..2 overlap rows 0..1; row 3 missing
    _edit_full_entry(prefix, edit)

    def alias(entries: Entries) -> None:  # give the moved slice an entry of the right shape
        from pysavedmodel.format.ordered_code import slice_key

        keys = [k for k in entries if k not in (b"", b"p")]
        entries[slice_key("p", [(1, 2), (0, -1)])] = entries[keys[0]]
    _edit_index(prefix, alias)
    with pytest.raises(CorruptCheckpointError, match=r"tensor 'p' .*overlap at \[1:3, 0:3\]"):
        _read_all(prefix)


def test_one_slice_listed_twice(tmp_path: Path) -> None:
    prefix = _sliced_checkpoint(tmp_path)

    def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
        entry.slices.add().CopyFrom(entry.slices[0])
    _edit_full_entry(prefix, edit)
    with pytest.raises(CorruptCheckpointError,
                       match=r"tensor 'p' .*slice \[\(0, 2\), \(0, -1\)\] is listed twice"):
        _read_all(prefix)


def test_slices_aliasing_one_stored_row_cannot_allocate_the_claimed_shape(
        tmp_path: Path) -> None:
    # 4,000 distinct one-row slices whose entries all point at the same stored row
    # (valid CRC each) "cover" a [4000, 500000] float32 tensor: 8 GB from a 4 MB
    # data file unless the bytes are bounded before the tensor is allocated.
    from pysavedmodel.format.bundle import CheckpointWriter
    from pysavedmodel.format.ordered_code import slice_key

    rows, cols = 4_000, 500_000
    prefix = tmp_path / "ck"
    with CheckpointWriter(prefix) as writer:
        writer.add_slice("p", (2, cols), "0,1:-", np.ones((1, cols), np.float32))
        writer.add_slice("p", (2, cols), "1,1:-", np.ones((1, cols), np.float32))

    def alias(entries: Entries) -> None:
        full = tensor_bundle_pb2.BundleEntryProto.FromString(entries[b"p"])
        row0 = entries[slice_key("p", [(0, 1), (0, -1)])]
        full.shape.dim[0].size = rows
        del full.slices[:]
        for i in range(rows):
            extent = full.slices.add()
            extent.extent.add(start=i, length=1)
            extent.extent.add()
            entries[slice_key("p", [(i, 1), (0, -1)])] = row0
        entries[b"p"] = full.SerializeToString(deterministic=True)
    _edit_index(prefix, alias)
    start = time.perf_counter()
    with _peak_below(128 * 2**20), pytest.raises(
            CorruptCheckpointError,
            match=r"tensor 'p' .*needs 8000000000 bytes, more than the 4000000 bytes"):
        CheckpointReader(prefix).get_tensor("p")
    assert time.perf_counter() - start < 20
    result = _read_with_capped_address_space(prefix)
    assert result["result"] == "CorruptCheckpointError", result


def test_every_error_above_is_in_the_family() -> None:
    for cls in (CorruptCheckpointError, ChecksumError, NotFoundError):
        assert issubclass(cls, Error)


# --------------------------------------------------------------------------- odd files


def _no_hang(seconds: float) -> AbstractContextManager[None]:
    return time_limit(seconds, TimeoutError, f"still blocked after {seconds} s")


@pytest.mark.parametrize("which", ["index", "data"])
def test_fifo_instead_of_a_checkpoint_file_is_refused_without_blocking(
        tmp_path: Path, which: str) -> None:
    prefix = _checkpoint(tmp_path)
    path = _index(prefix) if which == "index" else _data(prefix)
    path.unlink()
    os.mkfifo(path)
    with _no_hang(5), pytest.raises(CorruptCheckpointError,
                                    match=rf"{path.name} is not a regular file"):
        _read_all(prefix)


@pytest.mark.parametrize("which", ["index", "data"])
def test_directory_instead_of_a_checkpoint_file(tmp_path: Path, which: str) -> None:
    prefix = _checkpoint(tmp_path)
    path = _index(prefix) if which == "index" else _data(prefix)
    path.unlink()
    path.mkdir()
    with pytest.raises(Error, match=rf"{path.name}"):
        _read_all(prefix)


@pytest.mark.parametrize("which", ["index", "data"])
def test_device_instead_of_a_checkpoint_file(tmp_path: Path, which: str) -> None:
    # /dev/zero reads (and maps) endless zeros: it must be refused, not read.
    prefix = _checkpoint(tmp_path)
    path = _index(prefix) if which == "index" else _data(prefix)
    path.unlink()
    path.symlink_to("/dev/zero")
    with _peak_below(2**20), pytest.raises(CorruptCheckpointError,
                                          match=rf"{path.name} is not a regular file"):
        _read_all(prefix)
