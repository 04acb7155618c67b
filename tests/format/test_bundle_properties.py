"""Property tests: random tensors of every supported dtype round-trip through the bundle."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysavedmodel.dtypes import DTYPES
from pysavedmodel.errors import UnsupportedDTypeError
from pysavedmodel.format.bundle import (
    CheckpointReader,
    CheckpointWriter,
    read_checkpoint,
    write_checkpoint,
)
from pysavedmodel.format.slices import ASSEMBLABLE_DTYPES

FIXED_DTYPES = sorted(
    (row.numpy for row in DTYPES.values()
     if row.checkpointable and row.numpy is not None and row.numpy.kind != "O"),
    key=str)

DTYPES_BY_NUMPY = {row.numpy: row.enum for row in DTYPES.values() if row.numpy is not None}

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def fixed_tensor(draw: Any) -> np.ndarray:
    dtype = draw(st.sampled_from(FIXED_DTYPES))
    shape = draw(shapes)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = draw(st.binary(min_size=size, max_size=size))  # any bit pattern: NaNs, -0.0 ...
    array = np.frombuffer(raw, dtype=np.uint8).view(dtype).reshape(shape)
    if dtype == np.bool_:
        array = array.view(np.uint8) % 2 == 1  # TF's bool bytes are 0 or 1
    layout = draw(st.sampled_from(["c", "fortran", "big-endian"]))
    if layout == "fortran":
        return np.asfortranarray(array)
    if layout == "big-endian" and dtype.itemsize > 1 and dtype != np.dtype(ml_dtypes.bfloat16):
        return array.astype(dtype.newbyteorder(">"))
    return array.copy()


@st.composite
def string_tensor(draw: Any) -> np.ndarray:
    shape = draw(shapes)
    count = int(np.prod(shape, dtype=np.int64))
    elements = draw(st.lists(st.binary(max_size=40), min_size=count, max_size=count))
    out = np.empty(count, dtype=object)
    out[:] = elements
    return out.reshape(shape)


tensors = st.one_of(fixed_tensor(), fixed_tensor(), string_tensor())
mappings = st.dictionaries(names, tensors, min_size=1, max_size=6)


def expected_of(value: np.ndarray) -> np.ndarray:
    if value.dtype == object:
        return value
    return value.astype(value.dtype.newbyteorder("<"), order="C")


def assert_identical(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    if expected.dtype == object:
        assert actual.dtype == object and actual.tolist() == expected.tolist()
    else:
        assert actual.dtype == expected.dtype
        assert np.ascontiguousarray(actual).tobytes() == expected.tobytes()


def check_round_trip(prefix: Path, mapping: dict[str, np.ndarray]) -> None:
    values = read_checkpoint(prefix)
    assert sorted(values) == sorted(mapping)
    with CheckpointReader(prefix) as reader:
        assert sorted(reader.keys()) == sorted(mapping)
        for name, value in mapping.items():
            expected = expected_of(value)
            assert reader.shape(name) == expected.shape
            assert reader.dtype(name) == expected.dtype
            assert_identical(reader.get_tensor(name), expected)
            assert_identical(values[name], expected)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mapping=mappings, num_shards=st.integers(1, 3))
def test_round_trip(mapping: dict[str, np.ndarray], num_shards: int) -> None:
    num_shards = min(num_shards, len(mapping))
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "ck"
        paths = write_checkpoint(prefix, mapping, num_shards=num_shards)
        assert len(paths) == num_shards + 1
        check_round_trip(prefix, mapping)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=fixed_tensor(), data=st.data())
def test_partitioned_round_trip(value: np.ndarray, data: Any) -> None:
    """Cutting a tensor into row blocks (any dims) and assembling gives it back."""
    if value.ndim == 0 or value.shape[0] < 2:
        value = np.stack([value, value]) if value.ndim else np.stack([value] * 2)
    rows = value.shape[0]
    cuts = sorted(data.draw(st.sets(st.integers(1, rows - 1), min_size=1, max_size=3)))
    bounds = [0, *cuts, rows]
    order = data.draw(st.permutations(range(len(bounds) - 1)))
    num_shards = data.draw(st.integers(1, 2))
    if DTYPES_BY_NUMPY[value.dtype.newbyteorder("<")] not in ASSEMBLABLE_DTYPES:
        with tempfile.TemporaryDirectory() as tmp:
            writer = CheckpointWriter(Path(tmp) / "ck")
            with pytest.raises(UnsupportedDTypeError, match="partitioned"):
                writer.add_slice("p", value.shape, [(0, 1)] + [(0, -1)] * (value.ndim - 1),
                                 value[:1])
        return
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "ck"
        shards = [["p"], ["other"]] if num_shards == 2 else None
        with CheckpointWriter(prefix, shards=shards) as writer:
            writer.add("other", np.int8(1))
            for i in order:
                start, stop = bounds[i], bounds[i + 1]
                spec = [(start, stop - start)] + [(0, -1)] * (value.ndim - 1)
                writer.add_slice("p", value.shape, spec, value[start:stop])
        check_round_trip(prefix, {"p": value, "other": np.array(1, np.int8)})
