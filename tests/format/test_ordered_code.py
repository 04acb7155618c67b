"""OrderedCode encodings and slice keys, checked against TF-written slice keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pysavedmodel.errors import CorruptCheckpointError, InvalidArgumentError
from pysavedmodel.format.ordered_code import (
    parse_slice_key,
    read_num_increasing,
    read_signed_num_increasing,
    read_string,
    slice_key,
    write_num_increasing,
    write_signed_num_increasing,
    write_string,
)
from pysavedmodel.format.table import TableReader

INT64 = st.integers(-(2**63), 2**63 - 1)
UINT64 = st.integers(0, 2**64 - 1)
# Bias towards the edges of every encoding length as well as uniformly wide values.
EDGES = st.integers(0, 63).flatmap(
    lambda b: st.sampled_from([2**b - 1, 2**b, -(2**b), -(2**b) - 1])
).filter(lambda v: -(2**63) <= v < 2**63)
SIGNED = INT64 | EDGES | st.integers(-300, 300)


def parse_tf_slice_spec(spec: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Split a SaveV2 shape_and_slice string "d0 d1 s,l:-" into shape and (start, length)s."""
    *dims, slices = spec.split(" ")
    extents = []
    for part in slices.split(":"):
        if part == "-":
            extents.append((0, -1))
        else:
            start, length = part.split(",")
            extents.append((int(start), int(length)))
    return [int(d) for d in dims], extents


# --------------------------------------------------------------------------- TF fixture


def test_slice_keys_match_tensorflow(fixtures_dir: Path) -> None:
    folder = fixtures_dir / "checkpoint_sliced"
    manifest = json.loads((folder / "manifest.json").read_text())
    expected = set()
    for save in manifest["saves"]:
        if save["shape_and_slice"]:
            _, extents = parse_tf_slice_spec(save["shape_and_slice"])
            expected.add(slice_key(save["name"], extents))
    stored = {key for key, _ in TableReader((folder / "variables.index").read_bytes()).items()}
    slice_keys = {key for key in stored if key.startswith(b"\x00")}
    assert len(expected) == 5
    assert slice_keys == expected
    for key in slice_keys:
        name, extents = parse_slice_key(key)
        assert name.encode() in stored  # the full-name entry sits beside its slices
        assert slice_key(name, extents) == key


def test_slice_key_exact_bytes() -> None:
    # "6 4 4,2:-": rows 4..5 of part/rows, all columns
    assert slice_key("part/rows", [(4, 2), (0, -1)]) == bytes.fromhex(
        "00706172742f726f7773000101028482807f")


# --------------------------------------------------------------------------- NumIncreasing


@pytest.mark.parametrize(
    "value,encoded",
    [(0, "00"), (1, "0101"), (255, "01ff"), (256, "020100"), (0x123456, "03123456"),
     (2**64 - 1, "08" + "ff" * 8)],
)
def test_num_increasing_vectors(value: int, encoded: str) -> None:
    assert write_num_increasing(value).hex() == encoded
    assert read_num_increasing(bytes.fromhex(encoded) + b"rest") == (value, b"rest")


@given(UINT64, UINT64)
def test_num_increasing_preserves_order(a: int, b: int) -> None:
    assert (write_num_increasing(a) < write_num_increasing(b)) == (a < b)
    assert read_num_increasing(write_num_increasing(a)) == (a, b"")


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, True, "3"])
def test_num_increasing_rejects(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        write_num_increasing(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("data", ["", "02ff", "09" + "01" * 9])
def test_num_increasing_bad_input(data: str) -> None:
    with pytest.raises(CorruptCheckpointError, match="NumIncreasing"):
        read_num_increasing(bytes.fromhex(data))


# --------------------------------------------------------------------------- String


@pytest.mark.parametrize(
    "raw,encoded",
    [
        (b"", "0001"),
        (b"foo", "666f6f0001"),
        (b"\x00\x13\xff", "00ff13ff000001"),
        (b"\xff\x00", "ff0000ff0001"),
        (b"\x01\xfe", "01fe0001"),
    ],
)
def test_string_vectors(raw: bytes, encoded: str) -> None:
    assert write_string(raw).hex() == encoded
    assert read_string(bytes.fromhex(encoded) + b"\x00\x01tail") == (raw, b"\x00\x01tail")


@given(st.binary(max_size=40), st.binary(max_size=40), st.binary(max_size=8))
def test_string_round_trip_and_order(a: bytes, b: bytes, tail: bytes) -> None:
    assert read_string(write_string(a) + tail) == (a, tail)
    assert (write_string(a) < write_string(b)) == (a < b)
    # concatenated encodings sort like the tuples they encode
    ab, ba = write_string(a) + write_string(b), write_string(b) + write_string(a)
    assert (ab < ba) == ((a, b) < (b, a))


@pytest.mark.parametrize("data", ["", "6161", "616100", "0002", "ff01", "ff"])
def test_string_bad_input(data: str) -> None:
    with pytest.raises(CorruptCheckpointError, match="String"):
        read_string(bytes.fromhex(data))


def test_string_rejects_str() -> None:
    with pytest.raises(InvalidArgumentError, match="bytes"):
        write_string("name")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- SignedNumIncreasing


@pytest.mark.parametrize("value", range(-64, 64))
def test_signed_single_byte(value: int) -> None:
    assert write_signed_num_increasing(value) == bytes((0x80 ^ (value & 0xFF),))


@pytest.mark.parametrize(
    "value,encoded",
    [
        (0x424242, "f0424242"),  # the two examples TF documents
        (-0x800, "3800"),
        (64, "c040"),
        (-65, "3fbf"),
        (2**63 - 1, "ffc07fffffffffffffff"),
        (-(2**63), "003f8000000000000000"),
    ],
)
def test_signed_vectors(value: int, encoded: str) -> None:
    assert write_signed_num_increasing(value).hex() == encoded
    assert read_signed_num_increasing(bytes.fromhex(encoded) + b"\x80") == (value, b"\x80")


@pytest.mark.parametrize("length", range(1, 11))
def test_signed_length_boundaries(length: int) -> None:
    # n bytes hold exactly [-2**(7n-1), 2**(7n-1)) (the 10-byte form covers the rest of int64)
    low, high = -(2 ** (7 * length - 1)), 2 ** (7 * length - 1) - 1
    for value in (max(low, -(2**63)), min(high, 2**63 - 1)):
        assert len(write_signed_num_increasing(value)) == length
    if length < 10:
        assert len(write_signed_num_increasing(high + 1)) == length + 1
        assert len(write_signed_num_increasing(low - 1)) == length + 1


@given(SIGNED, SIGNED, st.binary(max_size=4))
def test_signed_round_trip_and_order(a: int, b: int, tail: bytes) -> None:
    ea, eb = write_signed_num_increasing(a), write_signed_num_increasing(b)
    assert read_signed_num_increasing(ea + tail) == (a, tail)
    assert (ea < eb) == (a < b)
    assert (ea == eb) == (a == b)


@pytest.mark.parametrize("bad", [2**63, -(2**63) - 1, 0.0, None])
def test_signed_rejects_out_of_range(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        write_signed_num_increasing(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        "",  # nothing
        "c0",  # announces 2 bytes, has 1
        "ffe0" + "00" * 9,  # announces 11 bytes
        "ffc0ff" + "00" * 7,  # 10 bytes but beyond int64
        "c001",  # 1 in two bytes: not the shortest form
    ],
)
def test_signed_bad_input(data: str) -> None:
    with pytest.raises(CorruptCheckpointError, match="SignedNumIncreasing"):
        read_signed_num_increasing(bytes.fromhex(data))


# --------------------------------------------------------------------------- slice keys

EXTENTS = st.lists(
    st.tuples(st.integers(0, 2**63 - 1), st.integers(0, 2**63 - 1)) | st.just((0, -1)), max_size=6
)


@given(st.text(max_size=20), EXTENTS)
def test_slice_key_round_trip(name: str, extents: list[tuple[int, int]]) -> None:
    key = slice_key(name, extents)
    assert key[0] == 0  # sorts before every plain name that does not start with NUL
    assert parse_slice_key(key) == (name, extents)


@pytest.mark.parametrize(
    "extents,message",
    [
        ([(3, -1)], "full extent.*starts at 3"),
        ([(-1, 2)], "start of dimension 0"),
        ([(0, 2), (0, -2)], "length of dimension 1"),
        ([(0,)], "not a \\(start, length\\) pair"),
    ],
)
def test_slice_key_rejects_bad_extents(extents, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        slice_key("v", extents)


def test_parse_slice_key_rejects_trailing_bytes() -> None:
    with pytest.raises(CorruptCheckpointError, match="trailing"):
        parse_slice_key(slice_key("v", [(0, 1)]) + b"\x80")
