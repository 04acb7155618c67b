"""The hand-written BundleEntryProto encoder and the writer's small-tensor fast paths."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysavedmodel._proto import tensor_bundle_pb2
from pysavedmodel.dtypes import DTYPES
from pysavedmodel.errors import InvalidArgumentError
from pysavedmodel.format import tensor_data
from pysavedmodel.format.bundle import read_checkpoint, write_checkpoint
from pysavedmodel.format.bundle_entry import (
    EntryEncoder,
    EntryGroups,
    decode_entry,
    encode_entry,
    encode_shape,
    entry_fields,
)
from pysavedmodel.format.crc32c import mask, unmask
from pysavedmodel.format.table import TableReader, _common_prefix_length, row_bytes
from pysavedmodel.format.tensor_data import prepare_tensor, small_tensor_bytes
from pysavedmodel.format.varint import (
    decode_varint64,
    encode_varint32,
    encode_varint64,
    varint_columns,
)

INT64_MAX = (1 << 63) - 1

# Values around every varint length boundary, plus 0 (a field proto3 leaves out).
boundary_ints = st.sampled_from([0, 1, 127, 128, 16383, 16384, (1 << 21) - 1, 1 << 21,
                                 (1 << 31) - 1, 1 << 35, INT64_MAX])
int64s = st.one_of(boundary_ints, st.integers(0, INT64_MAX))
entries = st.tuples(
    st.sampled_from(sorted(DTYPES)),                          # dtype
    st.lists(st.one_of(st.integers(0, 5), int64s), max_size=5).map(tuple),  # shape
    st.one_of(st.sampled_from([0, 1, 127, 128]), st.integers(0, (1 << 31) - 1)),  # shard_id
    int64s,                                                   # offset
    int64s,                                                   # size
    st.one_of(st.sampled_from([0, 1, 0xFFFFFFFF]), st.integers(0, 0xFFFFFFFF)),  # crc32c
)
Entry = tuple[int, tuple[int, ...], int, int, int, int]


def protobuf_bytes(dtype: int, shape: tuple[int, ...], shard_id: int, offset: int, size: int,
                   crc32c: int) -> bytes:
    proto = tensor_bundle_pb2.BundleEntryProto(dtype=dtype, shard_id=shard_id, offset=offset,
                                               size=size, crc32c=crc32c)
    proto.shape.SetInParent()  # TensorFlow always sets the shape, even for a scalar
    for dim in shape:
        proto.shape.dim.add().size = dim
    return proto.SerializeToString(deterministic=True)


@settings(max_examples=300, deadline=None)
@given(entries)
def test_encode_entry_equals_protobuf(entry: Entry) -> None:
    assert encode_entry(*entry) == protobuf_bytes(*entry)


@settings(max_examples=100, deadline=None)
@given(st.lists(entries, min_size=1, max_size=20), st.randoms(use_true_random=False))
def test_entry_encoder_memo_never_mixes_entries(batch: list[Entry], rnd: Any) -> None:
    # Repeat entries with shared (dtype, shape, shard, size) but other offsets/crcs, so the
    # memo is hit, and check every encoding against protobuf's.
    encoder = EntryEncoder()
    variants = batch + [(d, s, sh, rnd.randint(0, INT64_MAX), sz, rnd.randint(0, 0xFFFFFFFF))
                        for d, s, sh, _, sz, _ in batch]
    rnd.shuffle(variants)
    for entry in variants:
        assert encoder.encode(*entry) == protobuf_bytes(*entry)


def test_scalar_entry_keeps_an_empty_shape_and_leaves_out_zero_fields() -> None:
    # dtype 1, shape present but empty, everything else 0 -> left out.
    assert encode_entry(1, (), 0, 0, 0, 0) == b"\x08\x01\x12\x00"
    assert encode_shape([0, 3]) == b"\x12\x06" + b"\x12\x00" + b"\x12\x02\x08\x03"


def test_encoder_rejects_values_outside_uint64() -> None:
    with pytest.raises(InvalidArgumentError, match="outside"):
        encode_entry(1, (2,), 0, -5, 8, 0)
    with pytest.raises(InvalidArgumentError, match="outside"):
        encode_varint64(1 << 64)
    with pytest.raises(InvalidArgumentError, match="varint32"):
        encode_varint32(1 << 32)


@given(st.integers(0, (1 << 64) - 1))
def test_varint64_round_trips(value: int) -> None:
    encoded = encode_varint64(value)
    assert decode_varint64(encoded + b"\xff", 0) == (value, len(encoded))
    assert len(encoded) == max(1, (value.bit_length() + 6) // 7)


def naive_common_prefix(a: bytes, b: bytes) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@settings(max_examples=300)
@given(st.binary(max_size=40), st.binary(max_size=40), st.binary(max_size=10))
def test_common_prefix_length_matches_a_byte_by_byte_scan(prefix: bytes, a: bytes,
                                                          b: bytes) -> None:
    for x, y in ((prefix + a, prefix + b), (prefix + a, prefix), (prefix, prefix + b)):
        assert _common_prefix_length(x, y) == naive_common_prefix(x, y)


def test_common_prefix_length_with_leading_zero_bytes() -> None:
    # Leading zero bytes vanish in an integer: they must still count as shared.
    assert _common_prefix_length(b"\x00\x00\x01", b"\x00\x00\x02") == 2
    assert _common_prefix_length(b"\x00\x00", b"\x00\x00\x00") == 2
    assert _common_prefix_length(b"\x00", b"\x01") == 0


@pytest.mark.parametrize("make", [
    lambda a: a,
    lambda a: np.asfortranarray(a),
    lambda a: a.astype(">f4"),
    lambda a: a[:, ::2],
    lambda a: a[0, 0],                      # 0-d
])
def test_small_tensor_bytes_are_row_major_little_endian(make: Any) -> None:
    value = make(np.arange(24, dtype=np.float32).reshape(4, 6))
    tensor = prepare_tensor("t", value)
    expected = np.ascontiguousarray(value, dtype="<f4").tobytes()
    assert small_tensor_bytes(tensor) == expected


def test_small_tensor_bytes_skips_strings_and_large_tensors() -> None:
    assert small_tensor_bytes(prepare_tensor("s", np.array([b"a"], dtype=object))) is None
    limit = tensor_data.SMALL_TENSOR_BYTES
    assert small_tensor_bytes(prepare_tensor("edge", np.zeros(limit, np.uint8))) is not None
    assert small_tensor_bytes(prepare_tensor("big", np.zeros(limit + 1, np.uint8))) is None


def test_small_and_streamed_paths_write_the_same_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    limit = tensor_data.SMALL_TENSOR_BYTES
    tensors = {
        "a_small": rng.standard_normal((3, 5)).astype(np.float32),
        "b_big_endian": np.arange(10, dtype=">i8"),
        "c_at_limit": rng.integers(0, 255, limit, dtype=np.uint8),
        "d_over_limit": rng.integers(0, 255, limit + 1, dtype=np.uint8),
        "e_strided": rng.standard_normal((8, 8))[::2, ::3],
        "f_strings": np.array([b"x", b"yz"], dtype=object),
        "g_scalar": np.float64(2.5),
        "h_empty": np.zeros((0, 3), np.int32),
    }
    write_checkpoint(tmp_path / "fast" / "ck", tensors, num_shards=2)
    monkeypatch.setattr(tensor_data, "SMALL_TENSOR_BYTES", -1)  # everything streamed
    write_checkpoint(tmp_path / "streamed" / "ck", tensors, num_shards=2)
    for name in ("ck.index", "ck.data-00000-of-00002", "ck.data-00001-of-00002"):
        assert (tmp_path / "fast" / name).read_bytes() == \
            (tmp_path / "streamed" / name).read_bytes(), name
    back = read_checkpoint(tmp_path / "fast" / "ck")
    for name, value in tensors.items():
        assert back[name].shape == np.shape(value)
        assert back[name].tolist() == np.asarray(value).tolist()


def test_resized_array_after_add_is_detected(tmp_path: Path) -> None:
    from pysavedmodel.format.bundle import CheckpointWriter

    value = np.zeros(8, np.float32)
    writer = CheckpointWriter(tmp_path / "ck")
    writer.add("v", value)
    value.resize(4, refcheck=False)  # the caller broke the "do not modify" contract
    with pytest.raises(InvalidArgumentError, match="expected 32"):
        writer.finish()
    assert list(tmp_path.iterdir()) == []


# -- decoding

INT32 = st.integers(-(1 << 31), (1 << 31) - 1)
INT64 = st.integers(-(1 << 63), (1 << 63) - 1)
SMALL = st.integers(0, 1 << 40)


@st.composite
def raw_entries(draw: Any) -> bytes:
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
    return entry_fields(entry)


@settings(max_examples=600, deadline=None)
@given(raw_entries())
def test_plain_decoding_equals_protobuf_or_declines(encoded: bytes) -> None:
    shapes: dict[bytes, tuple[int, ...]] = {}
    for _ in range(2):  # the second time with the shape remembered (the straight path)
        fields = decode_entry(encoded, shapes)
        if fields is not None:
            assert fields == parsed_fields(encoded)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_plain_decoding_of_any_bytes_equals_protobuf_or_declines(encoded: bytes) -> None:
    shapes: dict[bytes, tuple[int, ...]] = {}
    for _ in range(2):
        fields = decode_entry(encoded, shapes)
        if fields is not None:
            assert fields == parsed_fields(encoded)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([b"", b"\x12\x02\x08\x04", b"\x12\x00\x12\x02\x08\x03"]),
       st.binary(max_size=24))
def test_decoding_after_a_remembered_shape_equals_protobuf_or_declines(
        shape: bytes, tail: bytes) -> None:
    shapes: dict[bytes, tuple[int, ...]] = {}
    assert decode_entry(b"\x08\x01\x12" + bytes([len(shape)]) + shape, shapes) is not None
    encoded = b"\x08\x01\x12" + bytes([len(shape)]) + shape + tail
    fields = decode_entry(encoded, shapes)
    if fields is not None:
        assert fields == parsed_fields(encoded)


def test_remembered_shapes_give_the_same_fields() -> None:
    shapes: dict[bytes, tuple[int, ...]] = {}
    entry = tensor_bundle_pb2.BundleEntryProto(dtype=1, offset=7, size=24, crc32c=5)
    for size in (2, 3):
        entry.shape.dim.add().size = size
    encoded = entry.SerializeToString()
    first = decode_entry(encoded, shapes)
    assert first == decode_entry(encoded, shapes) == entry_fields(entry)
    assert list(shapes.values()) == [(2, 3)]


def test_the_writers_entries_are_decoded_without_protobuf(tmp_path: Any) -> None:
    write_checkpoint(tmp_path / "m", {"a": np.arange(6, dtype=np.float32).reshape(2, 3),
                                      "b": np.zeros((), np.int64),
                                      "c": np.zeros((0, 4), np.float64),
                                      "s": np.array([b"x", b"yz"], dtype=object)})
    table = TableReader((tmp_path / "m.index").read_bytes(), path="m.index")
    values = [value for key, value in table.items() if key]
    assert len(values) == 4
    for value in values:
        fields = decode_entry(value, {})
        assert fields is not None
        assert fields == parsed_fields(value)


# -- many entries at once (checkpoints of many small tensors)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(boundary_ints, st.integers(0, (1 << 64) - 1)), max_size=50))
def test_varint_columns_equal_encode_varint64(values: list[int]) -> None:
    matrix, lengths = varint_columns(np.array(values, dtype=np.uint64))
    assert [matrix[i, :lengths[i]].tobytes() for i in range(len(values))] == \
        [encode_varint64(v) for v in values]


@settings(max_examples=100, deadline=None)
@given(st.lists(entries, min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_entry_groups_encode_equals_protobuf(batch: list[Entry], rnd: Any) -> None:
    groups = EntryGroups()
    numbers, offsets, crcs, expected = [], [], [], []
    for dtype, shape, shard, offset, size, _ in batch * 2:
        crc = rnd.choice([0, unmask(0), rnd.randint(0, 0xFFFFFFFF)])  # unmask(0): masked 0
        offset = rnd.choice([0, offset])
        numbers.append(groups.group(dtype, shape, shard, size))
        offsets.append(offset)
        crcs.append(crc)
        expected.append(protobuf_bytes(dtype, shape, shard, offset, size, mask(crc)))
    parts = groups.encode(np.array(numbers), np.array(offsets, np.uint64),
                          np.array(crcs, np.uint64))
    assert [row_bytes(parts, i) for i in range(len(expected))] == expected


class _ListingTwice(Mapping[str, Any]):
    """A (broken) mapping whose iteration lists one name twice."""

    def __getitem__(self, name: str) -> Any:
        return np.zeros(2, np.float32)

    def __iter__(self) -> Iterator[str]:
        return iter(["a", "b", "a"])

    def __len__(self) -> int:
        return 3


def test_a_name_listed_twice_is_refused_as_one_at_a_time(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="'a' was already added"):
        write_checkpoint(tmp_path / "ck", _ListingTwice())
    assert list(tmp_path.iterdir()) == []


def _mixed_tensors() -> dict[str, Any]:
    rng = np.random.default_rng(5)
    limit = tensor_data.SMALL_TENSOR_BYTES
    tensors: dict[str, Any] = {}
    for i in range(300):  # names out of key order: the index sorts them
        tensors[f"run/{(i * 37) % 300:03d}/{'é' if i % 7 == 0 else 'w'}"] = \
            rng.standard_normal(i % 5).astype([np.float32, np.int64, np.float16][i % 3])
    tensors.update({
        "x/bool": np.array([True, False]),
        "x/complex": np.array([1 + 2j], np.complex64),
        "x/empty": np.zeros((0, 3), np.int32),
        "x/scalar": np.float64(2.5),            # numpy scalar, not an array: one at a time
        "x/list": [1.0, 2.0],                    # a list: one at a time
        "x/big_endian": np.arange(10, dtype=">i8"),
        "x/strided": rng.standard_normal((8, 8))[::2, ::3],
        "x/fortran": np.asfortranarray(rng.standard_normal((3, 4))),
        "x/strings": np.array([b"x", b"yz"], dtype=object),
        "x/at_limit": rng.integers(0, 255, limit, dtype=np.uint8),
        "x/over_limit": rng.integers(0, 255, limit + 1, dtype=np.uint8),
        "x/surrogate\udc80": np.zeros(1),        # not UTF-8: refused one at a time
    })
    return tensors


@pytest.mark.parametrize("run_bytes", [1 << 20, 40])
def test_runs_of_small_tensors_write_the_bytes_of_one_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_bytes: int) -> None:
    from pysavedmodel.format import writer as writer_module

    monkeypatch.setattr(writer_module, "_RUN_BYTES", run_bytes)  # 40: many short runs
    tensors = _mixed_tensors()
    bad = "x/surrogate\udc80"
    with pytest.raises(InvalidArgumentError, match="surrogate"):
        write_checkpoint(tmp_path / "bad" / "ck", tensors)
    del tensors[bad]
    fast = writer_module.CheckpointWriter(tmp_path / "fast" / "ck")
    fast._add_all(tensors)
    segments = fast._segments
    assert segments is not None
    runs = [s for s in segments if isinstance(s, writer_module._SmallRun)]
    singles = [s.name for s in segments if not isinstance(s, writer_module._SmallRun)]
    # the fast path took the plain small arrays and declined everything else
    assert sorted(singles) == ["x/big_endian", "x/fortran", "x/list", "x/over_limit",
                               "x/scalar", "x/strided", "x/strings"]
    assert sum(len(run.keys) for run in runs) == len(tensors) - len(singles)
    assert (len(runs) > 20) == (run_bytes == 40)
    fast.finish()
    slow = writer_module.CheckpointWriter(tmp_path / "slow" / "ck")
    for name, value in tensors.items():  # add() never makes runs
        slow.add(name, value)
    slow.finish()
    for name in ("ck.index", "ck.data-00000-of-00001"):
        assert (tmp_path / "fast" / name).read_bytes() == \
            (tmp_path / "slow" / name).read_bytes(), name
    back = read_checkpoint(tmp_path / "fast" / "ck")
    assert list(back) == sorted(tensors, key=lambda n: n.encode())
    for name, value in tensors.items():
        assert back[name].dtype == np.asarray(value).dtype.newbyteorder("=")
        assert back[name].tolist() == np.asarray(value).tolist()


def test_several_shards_turn_runs_back_into_single_tensors(tmp_path: Path) -> None:
    from pysavedmodel.format import writer as writer_module

    tensors = _mixed_tensors()
    del tensors["x/surrogate\udc80"]
    write_checkpoint(tmp_path / "bulk" / "ck", tensors, num_shards=3)
    slow = writer_module.CheckpointWriter(tmp_path / "slow" / "ck", num_shards=3)
    for name, value in tensors.items():
        slow.add(name, value)
    slow.finish()
    for path in sorted((tmp_path / "slow").iterdir()):
        assert (tmp_path / "bulk" / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("run_bytes", [1 << 20, 40])
def test_checkpoints_of_only_small_tensors_write_the_bytes_of_one_at_a_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_bytes: int) -> None:
    from pysavedmodel.format import writer as writer_module

    monkeypatch.setattr(writer_module, "_RUN_BYTES", run_bytes)
    rng = np.random.default_rng(9)
    tensors = {f"t/{(i * 53) % 500:03d}": rng.standard_normal((i % 3, 2)).astype(
        [np.float32, np.int16, np.float64][i % 3]) for i in range(500)}
    fast = writer_module.CheckpointWriter(tmp_path / "fast" / "ck")
    fast._add_all(tensors)
    assert fast._segments is not None
    assert all(isinstance(s, writer_module._SmallRun) for s in fast._segments)
    assert (len(fast._segments) > 50) == (run_bytes == 40)
    fast.finish()
    slow = writer_module.CheckpointWriter(tmp_path / "slow" / "ck")
    for name, value in tensors.items():
        slow.add(name, value)
    slow.finish()
    for name in ("ck.index", "ck.data-00000-of-00001"):
        assert (tmp_path / "fast" / name).read_bytes() == \
            (tmp_path / "slow" / name).read_bytes(), name


def test_runs_beside_a_tensor_in_many_slices_write_the_bytes_of_one_at_a_time(
        tmp_path: Path) -> None:
    from pysavedmodel.format import writer as writer_module

    tensors = {f"small/{i:03d}": np.full(3, i, np.float32) for i in range(200)}
    files = {}
    for way in ("bulk", "slow"):
        writer = writer_module.CheckpointWriter(tmp_path / way / "ck")
        if way == "bulk":
            writer._add_all(tensors)
            with pytest.raises(InvalidArgumentError, match="'small/007' was already added"):
                writer.add("small/007", np.zeros(1))  # the runs' names are known
        else:
            for name, value in tensors.items():
                writer.add(name, value)
        for i in range(60):  # a full-name entry of > 256 bytes: not added in bulk
            writer.add_slice("sliced", (60, 2), f"{i},1:-", np.full((1, 2), i, np.int32))
        writer.finish()
        files[way] = [(tmp_path / way / n).read_bytes()
                      for n in ("ck.index", "ck.data-00000-of-00001")]
    assert files["bulk"] == files["slow"]
    back = read_checkpoint(tmp_path / "bulk" / "ck")
    assert back["sliced"][:, 0].tolist() == list(range(60))
    assert back["small/199"].tolist() == [199.0] * 3
