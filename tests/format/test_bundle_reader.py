"""The reader's protobuf-free decoding of index entries agrees with protobuf."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pysavedmodel._proto import tensor_bundle_pb2
from pysavedmodel.format.bundle import write_checkpoint
from pysavedmodel.format.bundle_reader import _decode_plain, _fields_of
from pysavedmodel.format.table import TableReader

INT32 = st.integers(-(1 << 31), (1 << 31) - 1)
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
SMALL = st.integers(0, 1 << 40)


@st.composite
def entries(draw: Any) -> bytes:
    entry = tensor_bundle_pb2.BundleEntryProto()
    entry.dtype = draw(st.one_of(st.integers(0, 30), INT32))  # type: ignore[assignment]
    for size in draw(st.lists(st.one_of(SMALL, INT64), max_size=5)):
        dim = entry.shape.dim.add()
        dim.size = size
        if draw(st.integers(0, 9)) == 0:
            dim.name = "d"
    entry.shape.unknown_rank = draw(st.integers(0, 9)) == 0
    entry.shard_id = draw(st.one_of(st.integers(0, 8), INT32))
    entry.offset = draw(st.one_of(SMALL, INT64))
    entry.size = draw(st.one_of(SMALL, INT64))
    entry.crc32c = draw(st.integers(0, (1 << 32) - 1))
    if draw(st.integers(0, 9)) == 0:
        entry.slices.add().extent.add(start=0, length=1)
    encoded = entry.SerializeToString()
    # Also what no writer produces: fields repeated, truncated, bytes changed.
    mode = draw(st.integers(0, 3))
    if mode == 1:
        encoded += draw(st.sampled_from([b"\x08\x01", b"\x20\x05", b"\x35\0\0\0\0",
                                         b"\x12\x02\x12\x00"]))
    elif mode == 2 and encoded:
        encoded = encoded[:draw(st.integers(0, len(encoded) - 1))]
    elif mode == 3 and encoded:
        at = draw(st.integers(0, len(encoded) - 1))
        encoded = encoded[:at] + bytes([draw(st.integers(0, 255))]) + encoded[at + 1:]
    return encoded


def parsed_fields(encoded: bytes) -> Any:
    entry = tensor_bundle_pb2.BundleEntryProto()
    try:
        entry.ParseFromString(encoded)
    except Exception:
        return "unparseable"
    return _fields_of(entry)


@settings(max_examples=600, deadline=None)
@given(entries())
def test_plain_decoding_equals_protobuf_or_declines(encoded: bytes) -> None:
    fields = _decode_plain(encoded, {})
    if fields is not None:
        assert fields == parsed_fields(encoded)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_plain_decoding_of_any_bytes_equals_protobuf_or_declines(encoded: bytes) -> None:
    fields = _decode_plain(encoded, {})
    if fields is not None:
        assert fields == parsed_fields(encoded)


def test_remembered_shapes_give_the_same_fields() -> None:
    shapes: dict[bytes, tuple[int, ...]] = {}
    entry = tensor_bundle_pb2.BundleEntryProto(dtype=1, offset=7, size=24, crc32c=5)
    for size in (2, 3):
        entry.shape.dim.add().size = size
    encoded = entry.SerializeToString()
    first = _decode_plain(encoded, shapes)
    assert first == _decode_plain(encoded, shapes) == _fields_of(entry)
    assert list(shapes.values()) == [(2, 3)]


def test_the_writers_entries_are_decoded_without_protobuf(tmp_path: Any) -> None:
    import numpy as np

    write_checkpoint(tmp_path / "m", {"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                                      "b": np.zeros((), np.int64),
                                      "c": np.zeros((0, 4), np.float64),
                                      "s": np.array([b"x", b"yz"], dtype=object)})
    table = TableReader((tmp_path / "m.index").read_bytes(), path="m.index")
    values = [value for key, value in table.items() if key]
    assert len(values) == 4
    for value in values:
        fields = _decode_plain(value, {})
        assert fields is not None
        assert fields == parsed_fields(value)


def test_a_damaged_tensor_after_good_ones_still_fails_its_checksum(tmp_path: Any) -> None:
    import numpy as np
    import pytest

    from pysavedmodel.errors import ChecksumError
    from pysavedmodel.format.bundle import CheckpointReader

    values = {f"t{i}": np.full(4, i, np.float32) for i in range(3)}
    write_checkpoint(tmp_path / "m", values)
    with CheckpointReader(tmp_path / "m") as reader:
        for name in ("t0", "t1"):  # dtype, shape and data file now known good
            np.testing.assert_array_equal(reader.get_tensor(name), values[name])
        offset = reader.entry("t2").offset
        data = next(tmp_path.glob("m.data-*"))
        with open(data, "r+b") as f:  # the reader's mapping sees the change
            f.seek(offset)
            f.write(np.full(4, 9, np.float32).tobytes())
        for read in (reader.get_tensor, reader.read):
            with pytest.raises(ChecksumError, match="t2"):
                read("t2")
        np.testing.assert_array_equal(reader.read("t1"), values["t1"])
