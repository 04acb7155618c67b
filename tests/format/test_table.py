"""LevelDB-style table writer/reader: byte identity with TF, round trips, corruption."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysavedmodel.errors import ChecksumError, CorruptCheckpointError, InvalidArgumentError
from pysavedmodel.format.crc32c import crc32c, mask
from pysavedmodel.format.table import (
    BLOCK_SIZE,
    TableReader,
    TableWriter,
    key_order,
    pack_rows,
    row_bytes,
    snappy_decompress,
    stack_rows,
    take_rows,
)
from pysavedmodel.format.varint import encode_varint32, encode_varint64

FIXTURE_INDEXES = [
    "checkpoint_dtypes/variables.index",
    "checkpoint_many/variables.index",
    "checkpoint_sharded/variables.index",
    "checkpoint_sliced/variables.index",
    "savedmodel_v1_builder/variables/variables.index",
    "savedmodel_v2_module/variables/variables.index",
]


def write_table(items, **options) -> bytes:
    out = io.BytesIO()
    writer = TableWriter(out, **options)
    for key, value in items:
        writer.add(key, value)
    size = writer.finish()
    data = out.getvalue()
    assert size == len(data)
    return data


# --------------------------------------------------------------------------- TF fixtures


@pytest.mark.parametrize("relpath", FIXTURE_INDEXES)
def test_rewrite_of_tensorflow_index_is_byte_identical(fixtures_dir: Path, relpath: str) -> None:
    path = fixtures_dir / relpath
    original = path.read_bytes()
    reader = TableReader(original, path=str(path))
    items = list(reader.items())
    assert items[0][0] == b""  # the bundle header key
    assert [k for k, _ in items] == sorted(k for k, _ in items)
    assert len(reader) == len(items)
    assert write_table(items) == original


def test_many_fixture_spans_several_blocks(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "checkpoint_many" / "variables.index").read_bytes()
    reader = TableReader(data)
    assert len(reader) == 12001  # header + 12,000 tensors
    assert len(reader.index_entries) > 1


def test_fixture_lookups(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "checkpoint_many" / "variables.index").read_bytes()
    reader = TableReader(memoryview(data))
    items = list(reader.items())
    for key, value in items[::97] + items[-3:]:
        assert reader.get(key) == value
        assert key in reader
    present = {k for k, _ in items}
    for key, _ in items[1::500]:
        for probe in (key + b"\x00", key[:-1], key[:-1] + b"\xff\xff"):
            if probe not in present:
                assert reader.get(probe) is None
    assert reader.get(b"\xff" * 8) is None


def test_reader_accepts_mmap(fixtures_dir: Path) -> None:
    import mmap

    path = fixtures_dir / "checkpoint_dtypes" / "variables.index"
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        with TableReader(mapped, path=str(path)) as reader:
            items = list(reader.items())
        mapped.close()  # would raise BufferError if the reader still held a view
    assert items == list(TableReader(path.read_bytes()).items())
    with pytest.raises(InvalidArgumentError, match="after close"):
        reader.get(b"a")


# --------------------------------------------------------------------------- round trips

keys_strategy = st.lists(
    st.binary(max_size=12)
    | st.lists(st.sampled_from([0, 1, 0x7F, 0x80, 0xFE, 0xFF]), max_size=6).map(bytes),
    unique=True,
    max_size=80,
).map(sorted)
values_strategy = st.binary(max_size=40) | st.builds(
    lambda b, n: b * n, st.binary(min_size=1, max_size=3), st.integers(0, 3000)
)


def check_separators(reader: TableReader, items: list[tuple[bytes, bytes]]) -> None:
    """Each separator is >= every key of its block and < every key of the next blocks."""
    position = 0
    for separator, _handle in reader.index_entries:
        in_block = [k for k, _ in items[position:] if k <= separator]
        assert in_block, "empty data block"
        position += len(in_block)
        if position < len(items):
            assert separator < items[position][0]
    assert position == len(items)


@settings(max_examples=150, deadline=None)
@given(keys_strategy, st.data(), st.sampled_from([1, 32, 200, 4096, BLOCK_SIZE]),
       st.sampled_from([1, 2, 16]))
def test_round_trip(keys: list[bytes], data, block_size: int, restart_interval: int) -> None:
    items = [(k, data.draw(values_strategy)) for k in keys]
    blob = write_table(items, block_size=block_size, restart_interval=restart_interval)
    reader = TableReader(blob)
    assert list(reader.items()) == items
    assert len(reader) == len(items)
    for key, value in items:
        assert reader.get(key) == value
    present = set(keys)
    for probe in (b"", b"\x00", b"\xff", b"\xff" * 20, b"zz"):
        if probe not in present:
            assert reader.get(probe) is None
    if items:
        check_separators(reader, items)


def test_empty_table() -> None:
    blob = write_table([])
    # empty metaindex + empty index block (8 bytes + 5-byte trailer each) + 48-byte footer
    assert len(blob) == 13 + 13 + 48
    reader = TableReader(blob)
    assert len(reader) == 0 and list(reader.items()) == [] and reader.get(b"") is None


def test_empty_key_and_0xff_keys() -> None:
    items = [(b"", b"header"), (b"\x00", b""), (b"\xff", b"x"), (b"\xff\xff\xff", b"y" * 1000)]
    reader = TableReader(write_table(items))
    assert list(reader.items()) == items
    # the final block's index key is the short successor of the last key: all 0xff -> unchanged
    assert reader.index_entries[-1][0] == b"\xff\xff\xff"


def test_final_index_key_is_short_successor() -> None:
    reader = TableReader(write_table([(b"abc", b"1"), (b"az\xff\x05", b"2")]))
    assert reader.index_entries[-1][0] == b"b"


def test_large_values_force_multi_block_tables() -> None:
    big = bytes(range(256)) * 2400  # 614,400 bytes >= 2 * block size
    items = [
        (b"a", b"small"),
        (b"b", big),
        (b"c", b"small"),
        (b"d", big[:200000]),
        (b"e", big[:100000]),
        (b"f", b"small"),
    ]
    blob = write_table(items)
    reader = TableReader(blob)
    assert list(reader.items()) == items
    # "b" is overly large: "a" is flushed before it, and "b" alone fills a block;
    # "c", "d", "e" together reach the block size; "f" ends up alone in the last block.
    separators = [sep for sep, _ in reader.index_entries]
    assert separators == [b"a", b"b", b"e", b"g"]
    sizes = [size for _, (_, size) in reader.index_entries]
    assert sizes[1] > len(big) and sizes[2] > 300000 and sizes[3] < 100


def test_restart_points_every_16_entries() -> None:
    items = [(b"key%03d" % i, b"v") for i in range(40)]
    blob = write_table(items)
    offset, size = TableReader(blob).index_entries[0][1]
    block = blob[offset:offset + size]
    (count,) = struct.unpack_from("<I", block, size - 4)
    restarts = struct.unpack_from(f"<{count}I", block, size - 4 - 4 * count)
    assert count == 3 and restarts[0] == 0
    # an entry at a restart point stores its whole key (shared == 0)
    for at, i in zip(restarts, (0, 16, 32)):
        assert block[at:at + 3] == bytes((0, 6, 1)) and block[at + 3:at + 9] == items[i][0]


def test_writer_rejects_unsorted_or_duplicate_keys() -> None:
    writer = TableWriter(io.BytesIO())
    writer.add(b"b", b"")
    with pytest.raises(InvalidArgumentError, match="strictly increasing.*'a'.*'b'"):
        writer.add(b"a", b"")
    with pytest.raises(InvalidArgumentError, match="strictly increasing"):
        writer.add(b"b", b"")
    writer.add(b"b\x00", b"")  # longer key with the same prefix sorts after
    with pytest.raises(InvalidArgumentError, match="bytes"):
        writer.add("c", b"")  # type: ignore[arg-type]
    writer.finish()
    with pytest.raises(InvalidArgumentError, match="after finish"):
        writer.add(b"z", b"")


# --------------------------------------------------------------------------- corruption


@pytest.fixture
def three_block_table() -> bytes:
    items = [(b"k%05d" % i, b"%05d" % i * 20) for i in range(2500)]
    blob = write_table(items, block_size=100000)
    assert len(TableReader(blob).index_entries) == 3
    return blob


def test_flipped_data_byte_raises_checksum_error_naming_offset(three_block_table: bytes) -> None:
    reader = TableReader(three_block_table)
    offset, size = reader.index_entries[1][1]
    corrupted = bytearray(three_block_table)
    corrupted[offset + size // 2] ^= 0x01
    reader = TableReader(bytes(corrupted), path="model/variables.index")
    assert reader.get(b"k00000") is not None  # block 0 is intact
    with pytest.raises(ChecksumError, match=f"model/variables.index.*offset {offset}"):
        list(reader.items())


def test_flipped_trailer_byte_raises_checksum_error(three_block_table: bytes) -> None:
    offset, size = TableReader(three_block_table).index_entries[0][1]
    corrupted = bytearray(three_block_table)
    corrupted[offset + size + 2] ^= 0x80  # inside the stored crc
    with pytest.raises(ChecksumError, match="offset 0"):
        TableReader(bytes(corrupted), path="x.index").get(b"k00001")


def test_flipped_index_byte_fails_on_open(three_block_table: bytes) -> None:
    corrupted = bytearray(three_block_table)
    corrupted[-48 - 5 - 3] ^= 0x10  # inside the index block (just before its trailer)
    with pytest.raises(ChecksumError, match="x.index.*index block"):
        TableReader(bytes(corrupted), path="x.index")


@pytest.mark.parametrize("keep", [0, 10, 47])
def test_file_shorter_than_footer(three_block_table: bytes, keep: int) -> None:
    with pytest.raises(CorruptCheckpointError, match="x.index.*shorter than the 48-byte"):
        TableReader(three_block_table[:keep], path="x.index")


def test_truncated_file_reports_bad_magic(three_block_table: bytes) -> None:
    with pytest.raises(CorruptCheckpointError, match="x.index.*magic"):
        TableReader(three_block_table[:-7], path="x.index")


def test_bad_magic(three_block_table: bytes) -> None:
    corrupted = three_block_table[:-1] + b"\x00"
    with pytest.raises(CorruptCheckpointError, match="bad table magic 0x00"):
        TableReader(corrupted)


def test_truncated_front_reports_block_past_end(three_block_table: bytes) -> None:
    # keep the footer but drop bytes before it: handles now point past the data
    cut = three_block_table[:1000] + three_block_table[-48:]
    with pytest.raises(CorruptCheckpointError, match="extends past"):
        TableReader(cut, path="x.index")


# --------------------------------------------------------------------------- compression


def assemble_single_block_table(contents: bytes, block_type: int, separator: bytes) -> bytes:
    """Build a one-data-block table by hand from raw block contents (independent of the writer)."""

    def with_trailer(block: bytes, kind: int) -> bytes:
        return block + bytes((kind,)) + struct.pack("<I", mask(crc32c(block + bytes((kind,)))))

    data = with_trailer(contents, block_type)
    empty = struct.pack("<II", 0, 1)
    meta_at = len(data)
    data += with_trailer(empty, 0)
    handle = encode_varint64(0) + encode_varint64(len(contents))
    index = (
        bytes((0,)) + encode_varint32(len(separator)) + encode_varint32(len(handle))
        + separator + handle + struct.pack("<II", 0, 1)
    )
    index_at = len(data)
    data += with_trailer(index, 0)
    footer = (
        encode_varint64(meta_at) + encode_varint64(len(empty))
        + encode_varint64(index_at) + encode_varint64(len(index))
    )
    return data + footer.ljust(40, b"\0") + struct.pack("<II", 0x8B80FB57, 0xDB477524)


def snappy_literals(raw: bytes) -> bytes:
    """Snappy encoding made only of literal elements (up to 256 bytes each)."""
    out = bytearray(encode_varint32(len(raw)))
    for i in range(0, len(raw), 256):
        chunk = raw[i:i + 256]
        if len(chunk) <= 60:
            out.append((len(chunk) - 1) << 2)
        else:
            out += bytes((60 << 2, len(chunk) - 1))
        out += chunk
    return bytes(out)


def test_hand_assembled_table_matches_writer() -> None:
    items = [(b"alpha", b"1"), (b"beta", b"22")]
    blob = write_table(items)
    offset, size = TableReader(blob).index_entries[0][1]
    assert assemble_single_block_table(blob[offset:offset + size], 0, b"c") == blob


def test_snappy_compressed_block_is_read() -> None:
    items = [(b"alpha", b"1" * 300), (b"beta", b"22")]
    plain = write_table(items)
    offset, size = TableReader(plain).index_entries[0][1]
    contents = plain[offset:offset + size]
    blob = assemble_single_block_table(snappy_literals(contents), 1, b"c")
    assert list(TableReader(blob).items()) == items


def test_unknown_compression_type() -> None:
    blob = assemble_single_block_table(write_table([])[:8], 2, b"a")
    with pytest.raises(CorruptCheckpointError, match="compression type 2"):
        list(TableReader(blob, path="t.index").items())


def test_snappy_copies() -> None:
    # literal "abc", then a 1-byte-offset copy of 9 bytes at distance 3 (overlapping),
    # then a 2-byte-offset copy of 5 bytes at distance 12
    stream = bytes((17, 2 << 2)) + b"abc" + bytes((1 | (5 << 2), 3)) + bytes((2 | (4 << 2), 12, 0))
    assert snappy_decompress(stream) == b"abcabcabcabc" + b"abcab"
    # 4-byte offset form
    compressed = bytes((6, 0 << 2)) + b"x" + bytes((3 | (4 << 2),)) + struct.pack("<I", 1)
    assert snappy_decompress(compressed) == b"x" * 6


@pytest.mark.parametrize(
    "stream",
    [
        bytes((5, 1 | (0 << 2), 1)),  # copy before any output
        bytes((3, 0 << 2)) + b"a",  # decodes 1 byte, header says 3
        bytes((1, 2 << 2)) + b"a",  # literal runs past the input
    ],
)
def test_snappy_rejects_bad_streams(stream: bytes) -> None:
    with pytest.raises(CorruptCheckpointError):
        snappy_decompress(stream)


# --------------------------------------------------------------------------- add_many


def write_table_in_bulk(items, split: int, **options) -> bytes:
    """``items`` added one by one up to ``split``, the rest with add_many in two calls."""
    out = io.BytesIO()
    writer = TableWriter(out, **options)
    for key, value in items[:split]:
        writer.add(key, value)
    middle = (split + len(items)) // 2
    for chunk in (items[split:middle], items[middle:]):
        writer.add_many([k for k, _ in chunk], pack_rows([v for _, v in chunk]))
    size = writer.finish()
    assert size == len(out.getvalue())
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(st.sets(st.binary(max_size=12), max_size=400),
       st.lists(st.binary(max_size=300), min_size=1, max_size=5),
       st.sampled_from([40, 300, 4096, BLOCK_SIZE]), st.sampled_from([1, 2, 16]),
       st.integers(0, 400))
def test_add_many_writes_the_bytes_of_add(keys: set[bytes], values: list[bytes],
                                          block_size: int, restart_interval: int,
                                          split: int) -> None:
    items = [(key, values[i % len(values)]) for i, key in enumerate(sorted(keys))]
    options = {"block_size": block_size, "restart_interval": restart_interval}
    assert write_table_in_bulk(items, min(split, len(items)), **options) == \
        write_table(items, **options)


def test_add_many_with_entries_larger_than_blocks_takes_the_one_by_one_way() -> None:
    items = [(b"a", b"x" * 10), (b"b", b"y" * 1000), (b"c" * 500, b"z"), (b"d", b"")]
    options = {"block_size": 64}
    assert write_table_in_bulk(items, 0, **options) == write_table(items, **options)


def test_add_many_refuses_keys_out_of_order() -> None:
    writer = TableWriter(io.BytesIO())
    with pytest.raises(InvalidArgumentError, match="strictly increasing: b'ab' added after"):
        writer.add_many([b"a", b"abc", b"ab"], pack_rows([b"1", b"2", b"3"]))
    writer = TableWriter(io.BytesIO())
    writer.add(b"m", b"")
    with pytest.raises(InvalidArgumentError, match="strictly increasing: b'm' added after"):
        writer.add_many([b"m", b"n"], pack_rows([b"1", b"2"]))
    writer = TableWriter(io.BytesIO())
    with pytest.raises(InvalidArgumentError, match="strictly increasing"):
        writer.add_many([b"a", b"a"], pack_rows([b"1", b"2"]))


def test_row_parts_stack_and_take() -> None:
    first = pack_rows([b"ab", b"", b"cde"])
    second = pack_rows([b"x", b"yz"])
    stacked = stack_rows(first, second)
    assert [row_bytes(stacked, i) for i in range(5)] == [b"ab", b"", b"cde", b"x", b"yz"]
    taken = take_rows(stacked, np.array([4, 0, 2]))
    assert [row_bytes(taken, i) for i in range(3)] == [b"yz", b"ab", b"cde"]


@settings(max_examples=200, deadline=None)
@given(st.sets(st.binary(max_size=6), max_size=60), st.randoms(use_true_random=False))
def test_key_order_sorts_bytewise(keys: set[bytes], rnd: Any) -> None:
    listed = list(keys)
    rnd.shuffle(listed)
    listed += [b"z", b"z\x00", b"z\x00\x00"][:rnd.randint(0, 3)]  # equal as numpy bytes
    order = key_order(listed)
    ordered = listed if order is None else [listed[i] for i in order.tolist()]
    assert ordered == sorted(listed)
    assert (order is None) == (listed == sorted(listed))
