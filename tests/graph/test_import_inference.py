"""Graph.from_dict infers the attrs hand-written dicts leave out, the way Graph.op() does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pysavedmodel._proto import graph_pb2, types_pb2
from pysavedmodel.errors import GraphError, OpError
from pysavedmodel.graph import Graph

F32, F64, I32, I64 = types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_INT32, \
    types_pb2.DT_INT64

W = np.arange(6, dtype=np.float32).reshape(3, 2)
B = np.array([0.5, -1.0], np.float32)


def _minimal_nodes() -> list[dict[str, Any]]:
    """A model in dicts with no inferable attr given, consumers listed before their inputs."""
    return [
        {"name": "ids", "op": "IdentityN", "input": ["x", "axis", "flat_shape"]},
        {"name": "total", "op": "AddN", "input": ["y", "biased", "y"]},
        {"name": "flat", "op": "Reshape", "input": ["cat", "flat_shape"]},
        {"name": "cat", "op": "ConcatV2", "input": ["y", "biased", "axis"]},
        {"name": "as_int", "op": "Cast", "input": ["total"], "attr": {"DstT": "int32"}},
        {"name": "read", "op": "ReadVariableOp", "input": ["v", "^init"]},
        {"name": "init", "op": "AssignVariableOp", "input": ["v", "v_init"]},
        {"name": "biased", "op": "BiasAdd", "input": ["y", "b"]},
        {"name": "y", "op": "MatMul", "input": ["x", "w"]},
        {"name": "stitched", "op": "DynamicStitch", "input": ["i0", "i1", "read", "read"]},
        {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": [None, 3]}},
        {"name": "w", "op": "Const", "attr": {"value": W}},
        {"name": "b", "op": "Const", "attr": {"value": B}},
        {"name": "axis", "op": "Const", "attr": {"value": np.int64(1)}},
        {"name": "flat_shape", "op": "Const", "attr": {"value": np.array([-1], np.int64)}},
        {"name": "i0", "op": "Const", "attr": {"value": [0, 1]}},
        {"name": "i1", "op": "Const", "attr": {"value": [3, 2]}},
        {"name": "v", "op": "VarHandleOp", "attr": {"dtype": "float32", "shape": [2],
                                                   "shared_name": "v"}},
        {"name": "v_init", "op": "Const", "attr": {"value": B}},
    ]


def _same_model_with_op() -> Graph:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 3])
    w = g.constant(W, name="w")
    b = g.constant(B, name="b")
    axis = g.constant(np.int64(1), name="axis")
    flat_shape = g.constant(np.array([-1], np.int64), name="flat_shape")
    y = g.op("MatMul", [x, w], name="y")
    biased = g.op("BiasAdd", [y, b], name="biased")
    cat = g.op("ConcatV2", [[y, biased], axis], name="cat")
    g.op("Reshape", [cat, flat_shape], name="flat")
    total = g.op("AddN", [[y, biased, y]], name="total")
    g.op("Cast", [total], DstT="int32", name="as_int")
    g.op("IdentityN", [[x, axis, flat_shape]], name="ids")
    v = g.op("VarHandleOp", [], name="v", dtype="float32", shape=[2], shared_name="v")
    init = g.op("AssignVariableOp", [v, g.constant(B, name="v_init")], name="init")
    read = g.op("ReadVariableOp", [v], name="read", control_inputs=[init])
    i0, i1 = g.constant([0, 1], name="i0"), g.constant([3, 2], name="i1")
    g.op("DynamicStitch", [[i0, i1], [read, read]], name="stitched")
    return g


def _by_name(graph_def: graph_pb2.GraphDef) -> dict[str, Any]:
    return {node.name: node for node in graph_def.node}


def test_minimal_dicts_get_the_attrs_op_would_infer() -> None:
    g = Graph.from_dict({"node": _minimal_nodes()})
    nodes = _by_name(g.as_graph_def())
    # One by one, so that a mistake shared with op() would still show.
    assert nodes["y"].attr["T"].type == F32
    assert nodes["biased"].attr["T"].type == F32
    assert nodes["biased"].attr["data_format"].s == b"NHWC"  # default filled
    assert nodes["cat"].attr["N"].i == 2
    assert nodes["cat"].attr["T"].type == F32
    assert nodes["cat"].attr["Tidx"].type == I64  # from the axis, not the int32 default
    assert nodes["flat"].attr["Tshape"].type == I64
    assert (nodes["total"].attr["N"].i, nodes["total"].attr["T"].type) == (3, F32)
    assert list(nodes["ids"].attr["T"].list.type) == [F32, I64, I64]
    assert nodes["as_int"].attr["SrcT"].type == F32
    assert nodes["as_int"].attr["DstT"].type == I32
    assert nodes["axis"].attr["dtype"].type == I64  # a Const's dtype is its value's
    assert nodes["i0"].attr["dtype"].type == I32
    assert nodes["init"].attr["dtype"].type == F32
    assert nodes["read"].attr["dtype"].type == F32  # from the VarHandleOp
    assert (nodes["stitched"].attr["N"].i, nodes["stitched"].attr["T"].type) == (2, F32)
    assert g.get_tensor("flat").shape == (None,)
    assert g.get_tensor("cat").shape == (None, 4)
    assert [t.dtype.name for t in g.get_tensor("ids").outputs] == ["float32", "int64", "int64"]
    assert g.get_tensor("as_int").dtype.name == "int32"
    # the dicts' order is kept
    assert [n.name for n in g.nodes] == [spec["name"] for spec in _minimal_nodes()]


def test_minimal_dicts_equal_the_graph_built_with_op() -> None:
    loaded = _by_name(Graph.from_dict({"node": _minimal_nodes()}).as_graph_def())
    built = _by_name(_same_model_with_op().as_graph_def())
    assert sorted(loaded) == sorted(built)
    for name, node in built.items():
        assert loaded[name] == node, name


def test_explicit_attrs_win_and_agree() -> None:
    nodes = _minimal_nodes()
    nodes[3]["attr"] = {"N": 2, "T": "float32", "Tidx": "int64"}  # cat, all given
    nodes[1]["attr"] = {"T": "float32"}  # total, N inferred
    g = Graph.from_dict({"node": nodes})
    assert g.node("cat").attr["Tidx"].type == I64
    assert g.node("total").attr["N"].i == 3


def test_graph_defs_missing_attrs_are_completed_too() -> None:
    graph_def = _same_model_with_op().as_graph_def()
    full = graph_def.SerializeToString(deterministic=True)
    for node in graph_def.node:
        for key in ("T", "N", "Tidx", "Tshape", "SrcT"):
            if key in node.attr:
                del node.attr[key]
        if node.op in ("Const", "ReadVariableOp"):
            del node.attr["dtype"]
    assert Graph.from_dict(graph_def).as_graph_def().SerializeToString(
        deterministic=True) == full


def _with(index: int, **changes: Any) -> list[dict[str, Any]]:
    nodes = _minimal_nodes()
    nodes[index] = {**nodes[index], **changes}
    return nodes


def _names(nodes: list[dict[str, Any]]) -> dict[str, int]:
    return {spec["name"]: i for i, spec in enumerate(nodes)}


_I = _names(_minimal_nodes())


@pytest.mark.parametrize("nodes, pattern", [
    (_with(_I["y"], attr={"T": "float64"}),
     r"node 'y' \(MatMul\) input 'a' \('x'\) is float32 but attr 'T' is float64 \(given\)"),
    (_with(_I["cat"], attr={"Tidx": "int32"}),
     r"node 'cat' \(ConcatV2\) input 'axis' \('axis'\) is int64 but attr 'Tidx' is int32 "
     r"\(given\)"),
    (_with(_I["flat"], attr={"Tshape": "int32"}),
     r"node 'flat' \(Reshape\) input 'shape' \('flat_shape'\) is int64 but attr 'Tshape' is "
     r"int32 \(given\)"),
    (_with(_I["ids"], attr={"T": ["float32", "int32", "int64"]}),
     r"node 'ids' \(IdentityN\) attr 'T' is \[float32, int32, int64\] \(given\) but input "
     r"'input' has dtypes \[float32, int64, int64\]"),
    (_with(_I["total"], attr={"N": 2}),
     r"node 'total' \(AddN\) has 3 data input\(s\); its op and attrs expect 2 "
     r"\(inputs, inputs\)"),
    (_with(_I["total"], input=["y", "biased", "axis"]),
     r"node 'total' \(AddN\) input 'inputs' \('axis'\) is int64 but attr 'T' is float32 "
     r"\(input 'inputs'\)"),
    (_with(_I["as_int"], attr={}),
     r"node 'as_int' \(Cast\) needs attr 'DstT' \(type\); it has no default and cannot be "
     r"inferred from the inputs"),
    (_with(_I["x"], attr={"shape": [None, 3]}),
     r"node 'x' \(Placeholder\) needs attr 'dtype' \(type\); it has no default"),
    (_with(_I["stitched"], input=["i0", "i1", "read"]),
     r"node 'stitched' \(DynamicStitch\) has 3 data input\(s\); its op expects 0 plus 2 "
     r"list\(s\) of equal length \(indices, data\)"),
    (_with(_I["y"], input=["x"]),
     r"node 'y' \(MatMul\) has 1 data input\(s\); its op and attrs expect 2 \(a, b\)"),
])
def test_conflicts_and_missing_attrs_are_named(nodes: list[dict[str, Any]],
                                               pattern: str) -> None:
    with pytest.raises(OpError, match=pattern):
        Graph.from_dict({"node": nodes})


def test_lengths_that_cannot_be_told_apart_need_their_attrs() -> None:
    nodes = [{"name": "s", "op": "Placeholder", "attr": {"dtype": "string"}},
             {"name": "p", "op": "ParseExample", "input": ["s", "s", "s", "s"],
              "attr": {"sparse_types": [], "dense_shapes": []}}]
    with pytest.raises(OpError, match=r"node 'p' \(ParseExample\) has 4 data input\(s\) for "
                                      r"args \(serialized, names, sparse_keys, dense_keys, "
                                      r"dense_defaults\); give attrs 'Ndense', 'Nsparse', "
                                      r"'Tdense' to tell how they split"):
        Graph.from_dict({"node": nodes})
    nodes[1]["attr"].update(Nsparse=0, Ndense=1, dense_shapes=[[]])  # so Tdense has 1 entry
    g = Graph.from_dict({"node": nodes})
    assert list(g.node("p").attr["Tdense"].list.type) == [types_pb2.DT_STRING]


def test_structure_errors_come_before_attr_inference() -> None:
    with pytest.raises(GraphError, match=r"node 'y' \(MatMul\) input 'w' names no node"):
        Graph.from_dict({"node": [
            {"name": "y", "op": "MatMul", "input": ["x", "w"]},
            {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32"}}]})
    with pytest.raises(GraphError, match=r"cycle"):
        Graph.from_dict({"node": [
            {"name": "a", "op": "Identity", "input": ["b"]},
            {"name": "b", "op": "Identity", "input": ["a"]}]})


def test_op_infers_a_const_dtype_from_its_value() -> None:
    g = Graph()
    c = g.op("Const", [], value=np.array([1, 2], np.int64), name="c")
    assert c.dtype.name == "int64" and c.shape == (2,)
    assert g.node("c").attr["dtype"].type == I64
