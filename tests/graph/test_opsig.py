"""opsig: the dtypes an op's inputs and outputs stand for; io_dtypes is memoized and must
follow every change of the attrs it reads."""

from __future__ import annotations

import pytest

from pysavedmodel._proto import attr_value_pb2, node_def_pb2, types_pb2
from pysavedmodel.errors import OpError
from pysavedmodel.graph.op_registry import get_op_def
from pysavedmodel.graph.opsig import MAX_LIST_LENGTH, io_dtypes, output_dtypes

AttrValue = attr_value_pb2.AttrValue
F32, I32, I64, STR = types_pb2.DT_FLOAT, types_pb2.DT_INT32, types_pb2.DT_INT64, types_pb2.DT_STRING


def _node(op: str, **attrs: AttrValue) -> node_def_pb2.NodeDef:
    node = node_def_pb2.NodeDef(name="n", op=op)
    for key, value in attrs.items():
        node.attr[key].CopyFrom(value)
    return node


def test_io_dtypes_follow_an_edited_type_attr() -> None:
    op_def = get_op_def("MatMul")
    node = _node("MatMul", T=AttrValue(type=F32))
    assert io_dtypes(op_def, node) == ((F32, F32), (F32,))
    node.attr["T"].type = I32  # same node, same op: the memo must not answer float32
    assert io_dtypes(op_def, node) == ((I32, I32), (I32,))
    assert output_dtypes(op_def, node) == [I32]
    node.attr["T"].CopyFrom(AttrValue(i=1))  # not a type: unknown
    assert io_dtypes(op_def, node) == ((None, None), (None,))


def test_io_dtypes_follow_list_lengths_and_type_lists() -> None:
    concat = get_op_def("ConcatV2")
    node = _node("ConcatV2", N=AttrValue(i=2), T=AttrValue(type=F32), Tidx=AttrValue(type=I32))
    assert io_dtypes(concat, node) == ((F32, F32, I32), (F32,))
    node.attr["N"].i = 3
    assert io_dtypes(concat, node) == ((F32, F32, F32, I32), (F32,))
    node.attr["Tidx"].type = I64
    assert io_dtypes(concat, node)[0][-1] == I64

    identity_n = get_op_def("IdentityN")
    types = AttrValue()
    types.list.type.extend([F32, STR])
    node = _node("IdentityN", T=types)
    assert io_dtypes(identity_n, node) == ((F32, STR), (F32, STR))
    node.attr["T"].list.type.append(I32)
    assert io_dtypes(identity_n, node) == ((F32, STR, I32), (F32, STR, I32))


def test_io_dtypes_take_a_dict_of_attrs_and_refuse_huge_lists() -> None:
    op_def = get_op_def("AddN")
    node = _node("AddN")
    assert io_dtypes(op_def, node, {"N": AttrValue(i=2), "T": AttrValue(type=F32)}) == \
        ((F32, F32), (F32,))
    assert io_dtypes(op_def, node, {"N": AttrValue(i=2), "T": AttrValue(type=I64)}) == \
        ((I64, I64), (I64,))
    with pytest.raises(OpError, match="at most"):
        io_dtypes(op_def, node, {"N": AttrValue(i=MAX_LIST_LENGTH + 1),
                                 "T": AttrValue(type=F32)})


def test_io_dtypes_of_fixed_and_ref_types() -> None:
    assert io_dtypes(get_op_def("StringJoin"), _node("StringJoin", N=AttrValue(i=1))) == \
        ((STR,), (STR,))
    variable = _node("VariableV2", dtype=AttrValue(type=F32))
    assert io_dtypes(get_op_def("VariableV2"), variable) == ((), (F32 + 100,))
