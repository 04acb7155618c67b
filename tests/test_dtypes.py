"""The dtype table: one row per DataType, consistent with the schema and numpy."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from pysavedmodel import UnsupportedDTypeError, dtypes
from pysavedmodel._proto import types_pb2


def test_rows_are_keyed_by_their_enum_and_named_as_in_types_proto() -> None:
    for enum, row in dtypes.DTYPES.items():
        assert row.enum == enum
        assert types_pb2.DataType.Name(enum) == row.proto_name


def test_every_non_ref_datatype_has_a_row() -> None:
    numbers = {v for v in types_pb2.DataType.values() if 0 < v < dtypes.REF_OFFSET}
    assert numbers == set(dtypes.DTYPES)


@pytest.mark.parametrize("name, numpy_type", [
    ("float32", np.float32), ("float64", np.float64), ("float16", np.float16),
    ("bfloat16", ml_dtypes.bfloat16), ("int8", np.int8), ("int16", np.int16),
    ("int32", np.int32), ("int64", np.int64), ("uint8", np.uint8), ("uint16", np.uint16),
    ("uint32", np.uint32), ("uint64", np.uint64), ("bool", np.bool_),
    ("complex64", np.complex64), ("complex128", np.complex128),
])
def test_checkpointable_pod_types_round_trip_numpy(name: str, numpy_type: type) -> None:
    row = dtypes.by_name(name)
    assert row.checkpointable
    assert row.numpy == np.dtype(numpy_type)
    assert row.itemsize == np.dtype(numpy_type).itemsize
    assert dtypes.from_numpy(numpy_type) is row
    assert dtypes.from_numpy(np.dtype(numpy_type).newbyteorder(">")) is row


@pytest.mark.parametrize("value", [np.dtype("S3"), np.dtype("U2"), np.dtype(object)])
def test_string_like_numpy_dtypes_map_to_string(value: np.dtype) -> None:
    assert dtypes.from_numpy(value).enum == dtypes.DT_STRING


def test_aliases_and_enum_names() -> None:
    assert dtypes.as_dtype("float").enum == dtypes.DT_FLOAT
    assert dtypes.as_dtype("DT_HALF").enum == dtypes.DT_HALF
    assert dtypes.as_dtype("half").enum == dtypes.DT_HALF
    assert dtypes.as_dtype(9).name == "int64"
    assert dtypes.as_dtype(dtypes.DTYPES[1]) is dtypes.DTYPES[1]


def test_non_array_types_are_not_checkpointable() -> None:
    for name in ("resource", "variant", "qint8"):
        row = dtypes.by_name(name)
        assert not row.checkpointable
        assert row.numpy is None


@pytest.mark.parametrize("bad", ["flaot32", 99, np.dtype("datetime64[s]"), object()])
def test_unknown_dtypes_raise_naming_the_value(bad: object) -> None:
    with pytest.raises(UnsupportedDTypeError) as info:
        dtypes.as_dtype(bad)
    assert isinstance(info.value, ValueError)
    text = str(info.value)
    assert ("flaot32" in text) if bad == "flaot32" else text


def test_dtype_name_is_the_one_naming_of_datatype_numbers() -> None:
    from pysavedmodel.dtypes import dtype_name

    assert [dtype_name(e) for e in (1, 14, 101, 0, 999)] == [
        "float32", "bfloat16", "float32_ref", "invalid", "DataType 999"]
    assert [dtype_name(e, proto=True) for e in (1, 7, 107, 0, 999)] == [
        "DT_FLOAT", "DT_STRING", "DT_STRING_REF", "DT_INVALID", "DataType 999"]
