"""Plain values <-> AttrValue / TensorProto / TensorShapeProto."""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pysavedmodel import dtypes
from pysavedmodel._proto import attr_value_pb2, op_def_pb2, tensor_pb2, types_pb2
from pysavedmodel.errors import InvalidArgumentError, OpError, UnsupportedDTypeError
from pysavedmodel.graph import attrs
from pysavedmodel.graph.op_registry import get_op_def

POD = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64, np.uint8,
       np.uint16, np.uint32, np.uint64, np.bool_, np.complex64, np.complex128]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(POD).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))))
def test_tensor_proto_round_trip(array: np.ndarray) -> None:
    proto = attrs.make_tensor_proto(array)
    assert proto.dtype == dtypes.from_numpy(array.dtype).enum
    back = attrs.tensor_proto_to_numpy(proto)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    uses_content = bool(proto.tensor_content)
    assert uses_content == (array.size > 1 and array.dtype.kind not in "bc")
    if uses_content:
        assert proto.tensor_content == array.astype(array.dtype.newbyteorder("<")).tobytes()


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=2, max_side=4),
                  elements=st.floats(-1e4, 1e4, width=32)))
def test_bfloat16_round_trip(values: np.ndarray) -> None:
    array = values.astype(ml_dtypes.bfloat16)
    proto = attrs.make_tensor_proto(array)
    assert proto.dtype == types_pb2.DT_BFLOAT16
    back = attrs.tensor_proto_to_numpy(proto)
    assert back.dtype == array.dtype
    assert back.tobytes() == array.tobytes()


@given(st.lists(st.binary(max_size=20), max_size=5))
def test_string_round_trip(items: list[bytes]) -> None:
    proto = attrs.make_tensor_proto(np.array(items, dtype=object))
    assert list(proto.string_val) == items
    assert attrs.tensor_proto_to_numpy(proto).tolist() == items


def test_python_values_follow_convert_to_tensor() -> None:
    assert attrs.to_numpy(1.5).dtype == np.float32
    assert attrs.to_numpy([1, 2]).dtype == np.int32
    assert attrs.to_numpy([1, 2 ** 31]).dtype == np.int64
    assert attrs.to_numpy(True).dtype == np.bool_
    assert attrs.to_numpy(np.float64(1.5)).dtype == np.float64
    assert attrs.to_numpy("é").tolist() == "é".encode()
    assert attrs.to_numpy([[1.0, 2.0]], "bfloat16").dtype == ml_dtypes.bfloat16
    with pytest.raises(InvalidArgumentError, match="cannot be represented as int8"):
        attrs.to_numpy([1000], "int8")
    with pytest.raises(InvalidArgumentError, match="cannot convert"):
        attrs.to_numpy([1, [2, 3]])
    with pytest.raises(UnsupportedDTypeError):
        attrs.to_numpy(np.array(["2020-01-01"], dtype="datetime64[D]"))


def test_short_val_fields_repeat_the_last_value() -> None:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, int_val=[7])
    proto.tensor_shape.dim.add(size=3)
    assert attrs.tensor_proto_to_numpy(proto).tolist() == [7, 7, 7]
    empty = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    empty.tensor_shape.dim.add(size=2)
    assert attrs.tensor_proto_to_numpy(empty).tolist() == [0.0, 0.0]


def test_shapes() -> None:
    assert attrs.make_shape_proto(None).unknown_rank
    proto = attrs.make_shape_proto([None, 3, -1])
    assert [d.size for d in proto.dim] == [-1, 3, -1]
    assert attrs.shape_from_proto(proto) == (None, 3, None)
    assert attrs.shape_from_proto(attrs.make_shape_proto(())) == ()
    for bad in ([1.5], [-2], "12", 3, [True]):
        with pytest.raises(InvalidArgumentError):
            attrs.make_shape_proto(bad)


@pytest.mark.parametrize("attr_type, value, field, expected", [
    ("string", "abc", "s", b"abc"), ("string", b"\xff", "s", b"\xff"), ("int", 3, "i", 3),
    ("int", np.int64(-4), "i", -4), ("float", 0.5, "f", 0.5), ("float", 2, "f", 2.0),
    ("bool", True, "b", True), ("type", "float32", "type", types_pb2.DT_FLOAT),
    ("type", np.int64, "type", types_pb2.DT_INT64),
    ("type", dtypes.as_dtype("string"), "type", types_pb2.DT_STRING),
    ("type", 14, "type", types_pb2.DT_BFLOAT16),
])
def test_scalar_attr_values(attr_type: str, value: Any, field: str, expected: Any) -> None:
    out = attrs.make_attr_value(value, attr_type)
    assert out.WhichOneof("value") == field and getattr(out, field) == expected
    assert attrs.attr_value_kind(out) == attr_type


def test_compound_attr_values() -> None:
    shape = attrs.make_attr_value([None, 2], "shape")
    assert attrs.attr_value_to_python(shape) == (None, 2)
    tensor = attrs.make_attr_value(np.eye(2, dtype=np.float32), "tensor")
    assert attrs.attr_value_to_python(tensor).tolist() == [[1, 0], [0, 1]]
    func = attrs.make_attr_value("my_fn", "func")
    assert func.func.name == "my_fn" and attrs.attr_value_to_python(func) == "my_fn"
    types = attrs.make_attr_value(["float32", "int64"], "list(type)")
    assert list(types.list.type) == [1, 9] and attrs.attr_value_kind(types) == "list(type)"
    assert [d.name for d in attrs.attr_value_to_python(types)] == ["float32", "int64"]
    shapes = attrs.make_attr_value([[1], None], "list(shape)")
    assert attrs.attr_value_to_python(shapes) == [(1,), None]
    ints = attrs.make_attr_value((1, 2), "list(int)")
    assert attrs.attr_value_to_python(ints) == [1, 2]
    empty = attrs.make_attr_value([], "list(string)")
    assert empty.HasField("list") and attrs.attr_value_kind(empty) == "list()"
    assert attrs.attr_value_to_python(empty) == []
    strings = attrs.make_attr_value(["a", b"b"], "list(string)")
    assert list(strings.list.s) == [b"a", b"b"]
    raw = attr_value_pb2.AttrValue(i=5)
    assert attrs.make_attr_value(raw, "int") is raw
    assert attrs.attr_value_to_python(attr_value_pb2.AttrValue()) is None


@pytest.mark.parametrize("attr_type, value", [
    ("int", True), ("int", 1.5), ("bool", 1), ("float", "x"), ("string", 3),
    ("type", "float33"), ("list(int)", 3), ("list(int)", "ab"), ("list(string)", [1]),
    ("shape", "abc"), ("placeholder", "x"),
])
def test_bad_attr_values(attr_type: str, value: Any) -> None:
    with pytest.raises(OpError, match="attr 'x'"):
        attrs.make_attr_value(value, attr_type, what="attr 'x'")


def test_inferred_kinds_for_undeclared_attrs() -> None:
    assert attrs.make_attr_value(["loc:@a"], None).list.s[:] == [b"loc:@a"]
    assert attrs.make_attr_value(True, None).b is True
    assert attrs.make_attr_value(3, None).i == 3
    assert attrs.make_attr_value(0.5, None).f == 0.5
    assert attrs.make_attr_value(dtypes.as_dtype("int8"), None).type == types_pb2.DT_INT8
    with pytest.raises(OpError):
        attrs.make_attr_value(object(), None)


def _attr_def(op: str, name: str) -> op_def_pb2.OpDef.AttrDef:
    return {a.name: a for a in get_op_def(op).attr}[name]


def test_check_attr_value() -> None:
    t = _attr_def("MatMul", "T")
    attrs.check_attr_value(attr_value_pb2.AttrValue(type=types_pb2.DT_FLOAT), t, "n")
    with pytest.raises(OpError, match=r"n attr 'T' is string; expected one of \[bfloat16, "):
        attrs.check_attr_value(attr_value_pb2.AttrValue(type=types_pb2.DT_STRING), t, "n")
    with pytest.raises(OpError, match=r"n attr 'T' has a int value; expected type"):
        attrs.check_attr_value(attr_value_pb2.AttrValue(i=1), t, "n")
    with pytest.raises(OpError, match=r"n attr 'T' has no value"):
        attrs.check_attr_value(attr_value_pb2.AttrValue(), t, "n")
    n = _attr_def("ConcatV2", "N")
    with pytest.raises(OpError, match=r"attr 'N' is 1; expected at least 2"):
        attrs.check_attr_value(attr_value_pb2.AttrValue(i=1), n, "n")
    dtypes_attr = _attr_def("RestoreV2", "dtypes")
    with pytest.raises(OpError, match=r"attr 'dtypes' has 0 elements; expected at least 1"):
        attrs.check_attr_value(attrs.make_attr_value([], "list(type)"), dtypes_attr, "n")
    padding = _attr_def("MaxPool", "padding")
    with pytest.raises(OpError, match=r"attr 'padding' is 'same'"):
        attrs.check_attr_value(attr_value_pb2.AttrValue(s=b"same"), padding, "n")


def test_check_attr_value_memo_is_per_attr_def() -> None:
    # A value that passed against one AttrDef must still be refused by another.
    check_attr_value = attrs.check_attr_value
    floats = op_def_pb2.OpDef.AttrDef(name="T", type="type")
    floats.allowed_values.list.type.append(types_pb2.DT_FLOAT)
    ints = op_def_pb2.OpDef.AttrDef(name="T", type="type")
    ints.allowed_values.list.type.append(types_pb2.DT_INT32)
    value = attr_value_pb2.AttrValue(type=types_pb2.DT_FLOAT)
    for _ in range(2):  # the second round answers from the memo
        check_attr_value(value, floats, "node 'n'")
        with pytest.raises(OpError, match="expected one of"):
            check_attr_value(value, ints, "node 'n'")
    minimum = op_def_pb2.OpDef.AttrDef(name="N", type="int", has_minimum=True, minimum=2)
    check_attr_value(attr_value_pb2.AttrValue(i=2), minimum, "node 'n'")
    for _ in range(2):
        with pytest.raises(OpError, match="at least 2"):
            check_attr_value(attr_value_pb2.AttrValue(i=1), minimum, "node 'n'")
    as_bool = attr_value_pb2.AttrValue(b=True)  # True == 1: must not pass as the int 1
    with pytest.raises(OpError, match="has a bool value"):
        check_attr_value(as_bool, minimum, "node 'n'")


def test_handle_data_bytes_is_one_dtype_and_shape_entry() -> None:
    handle_data_bytes = attrs.handle_data_bytes
    arg = op_def_pb2.OpDef.ArgDef()
    arg.handle_data.add().MergeFromString(handle_data_bytes(1, (64, -1)))
    arg.handle_data.add().MergeFromString(handle_data_bytes(3, None))
    first, second = arg.handle_data
    assert first.dtype == 1 and [d.size for d in first.shape.dim] == [64, -1]
    assert not first.shape.unknown_rank
    assert second.dtype == 3 and second.shape.unknown_rank
    # an unknown dimension written as None or -1 is the same entry
    assert handle_data_bytes(1, (64, None)) == handle_data_bytes(1, (64, -1))
