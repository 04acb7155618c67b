"""importer: a node equal to one imported before (same op, attrs and input dtypes) reuses
that node's completion and checks; anything that differs must be completed and checked on
its own, and an error must be the one the full checks report."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from pysavedmodel._proto import attr_value_pb2, graph_pb2, tensor_pb2, types_pb2
from pysavedmodel.errors import Error, GraphError, OpError
from pysavedmodel.graph import Graph, importer
from pysavedmodel.graph.importer import node_from_dict
from pysavedmodel.graph.op_registry import get_op_def
from pysavedmodel.graph.validate import validate_nodes

F32, I32, I64 = types_pb2.DT_FLOAT, types_pb2.DT_INT32, types_pb2.DT_INT64


def _placeholder(name: str, dtype: str, shape: Any) -> dict[str, Any]:
    return {"name": name, "op": "Placeholder", "attr": {"dtype": dtype, "shape": shape}}


def _chain(dtype: str, shape: Any, **matmul_attrs: Any) -> dict[str, Any]:
    return {"node": [
        _placeholder("x", dtype, shape),
        _placeholder("w", dtype, [3, 3]),
        {"name": "m", "op": "MatMul", "input": ["x", "w"], "attr": matmul_attrs},
        {"name": "r", "op": "Relu", "input": ["m"]},
    ]}


def test_equal_nodes_of_different_imports_follow_their_own_dtypes_and_shapes() -> None:
    first = Graph.from_dict(_chain("float32", [None, 3]))
    assert first.get_tensor("r").dtype.name == "float32"
    assert first.get_tensor("r").shape == (None, 3)
    second = Graph.from_dict(_chain("int32", [2, 3]))  # same ops, other dtypes and shapes
    assert second.get_tensor("r").dtype.name == "int32"
    assert second.get_tensor("r").shape == (2, 3)
    assert second.node("m").attr["T"].type == I32
    transposed = Graph.from_dict(_chain("float32", [3, 5], transpose_a=True))
    assert transposed.get_tensor("m").shape == (5, 3)
    assert transposed.node("m").attr["transpose_a"].b is True
    assert transposed.node("m").attr["transpose_b"].b is False  # the default, filled


def test_a_node_differing_only_in_what_the_checks_read_is_checked() -> None:
    Graph.from_dict(_chain("float32", [None, 3]))
    with pytest.raises(OpError, match="'m'"):  # string MatMul: T not allowed
        Graph.from_dict(_chain("string", [None, 3]))
    with pytest.raises(OpError, match="'m'"):  # given T disagrees with the inputs
        Graph.from_dict(_chain("float32", [None, 3], T="int64"))
    with pytest.raises(OpError, match="'m'"):  # shapes that cannot multiply
        Graph.from_dict(_chain("float32", [None, 4]))
    graph = _chain("float32", [None, 3])
    graph["node"][3]["attr"] = {"_f": attr_value_pb2.AttrValue(
        func=attr_value_pb2.NameAttrList(name="f"))}
    with pytest.raises(OpError, match="calls function 'f'"):
        Graph.from_dict(graph)
    graph["node"][3]["attr"] = {"bogus": 1}
    with pytest.raises(OpError, match="bogus"):
        Graph.from_dict(graph)


def test_equal_nodes_within_one_import() -> None:
    nodes = [_placeholder("x", "float32", [None, 3]), _placeholder("i", "int32", [2])]
    nodes += [{"name": f"r{k}", "op": "Relu", "input": ["x" if k % 2 else "i"]}
              for k in range(6)]
    graph = Graph.from_dict({"node": nodes})
    assert [graph.get_tensor(f"r{k}").dtype.name for k in range(4)] == \
        ["int32", "float32", "int32", "float32"]
    assert graph.get_tensor("r0").shape == (2,) and graph.get_tensor("r1").shape == (None, 3)
    graph.as_graph_def()


def _bad_const(name: str, inputs: list[str]) -> dict[str, Any]:
    # Completes (dtype given) but fails the attr checks: the value is int32, dtype float32.
    value = tensor_pb2.TensorProto(dtype=I32)
    value.tensor_shape.dim.add(size=2)
    value.int_val.extend([1, 2])
    return {"name": name, "op": "Const", "input": inputs,
            "attr": {"dtype": "float32", "value": attr_value_pb2.AttrValue(tensor=value)}}


def test_error_is_the_one_the_full_check_reports_first() -> None:
    # c1 is completed first (c2 waits for it), c2 then reuses its result; the full checks
    # go through the list in order and report c2.
    nodes = [_bad_const("c2", ["^c1"]), _bad_const("c1", [])]
    with pytest.raises(OpError) as caught:
        Graph.from_dict({"node": nodes})
    assert "'c2'" in str(caught.value)
    with pytest.raises(Error) as full:
        validate_nodes([_node_def(spec) for spec in nodes])
    assert str(full.value) == str(caught.value)


def _node_def(spec: dict[str, Any]) -> Any:
    return node_from_dict(spec)


def test_structural_errors_of_equal_nodes_are_reported() -> None:
    ok = _chain("float32", [None, 3])
    Graph.from_dict(ok)
    for inputs, error in ((["m:1"], GraphError), (["^x", "m"], GraphError),
                          (["nowhere"], GraphError)):
        graph = _chain("float32", [None, 3])
        graph["node"][3]["input"] = inputs
        with pytest.raises(error):
            Graph.from_dict(graph)


def test_imported_node_edited_after_import_is_not_reused() -> None:
    first = Graph.from_dict(_chain("float32", [None, 3]))
    first.node("m").attr["transpose_b"].b = True  # the graph's own NodeDef, edited
    second = Graph.from_dict(_chain("float32", [None, 3]))
    assert second.node("m").attr["transpose_b"].b is False
    assert second.get_tensor("m").shape == (None, 3)


def test_memo_key_cuts_long_names_and_many_inputs() -> None:
    # Names longer than 127 bytes take two-byte length prefixes in the serialized NodeDef
    # the memo key is cut from; nodes equal but for names and inputs share one result.
    long_x, long_w = "x" * 200, "w" * 300
    nodes = [_placeholder(long_x, "float32", [None, 3]), _placeholder(long_w, "float32", [3, 3])]
    previous = long_x
    for k in range(4):
        name = f"{'m' * 150}_{k}"
        nodes.append({"name": name, "op": "MatMul", "input": [previous, long_w],
                      "device": "/device:CPU:0"})
        previous = name
    nodes.append({"name": "n", "op": "AddN", "input": [previous] * 5})
    for dtype in ("float32", "float64"):
        for node in nodes[:2]:
            node["attr"]["dtype"] = dtype
        graph = Graph.from_dict({"node": nodes})
        assert graph.get_tensor("n").dtype.name == dtype
        assert graph.get_tensor("n").shape == (None, 3)
        assert graph.node(f"{'m' * 150}_3").device == "/device:CPU:0"
        assert graph.node("n").attr["N"].i == 5


def test_large_constants_are_imported_without_the_memo() -> None:
    values = [k * 0.5 for k in range(600)]  # 2,400 bytes of tensor_content
    for dtype, enum in (("float32", F32), ("float64", types_pb2.DT_DOUBLE)):
        graph = Graph.from_dict({"node": [
            {"name": "c", "op": "Const", "attr": {"dtype": dtype, "value": values}},
            {"name": "r", "op": "Relu", "input": ["c"]}]})
        assert graph.get_tensor("r").dtype.name == dtype
        assert graph.get_tensor("c").shape == (600,)
        assert graph.node("r").attr["T"].type == enum


def test_memo_key_ignores_exactly_the_name_and_the_inputs() -> None:
    op_def = get_op_def("MatMul")
    inputs = ((F32, None), (F32, None))

    def key(name: str, sources: list[str], **extra: Any) -> Any:
        spec = {"name": name, "op": "MatMul", "input": sources, "attr": {"T": "float32"}}
        spec.update(extra)
        return importer._memo_key(op_def, node_from_dict(spec), inputs)

    base = key("m", ["x", "w"])
    assert base is not None and base[0] == "MatMul"
    assert key("n" * 300, ["a" * 200 + ":0", "b" * 129, "^" + "c" * 1000]) == base
    assert key("m", ["x", "w"], device="/device:CPU:0") != base
    assert key("m", ["x", "w"], attr={"T": "float64"}) != base
    assert key("m", ["x", "w"], attr={"T": "float32", "_class": ["loc:@w"]}) != base
    assert importer._memo_key(op_def, node_from_dict(
        {"name": "m", "op": "MatMul", "input": ["x", "w"]}), ((F32, None), (I32, None))) != base
    big = node_from_dict({"name": "c", "op": "Const",
                          "attr": {"dtype": "float32", "value": [0.5] * 600}})
    assert importer._memo_key(get_op_def("Const"), big, ()) is None


def test_unknown_ops_of_a_graph_def_are_named_at_their_first_node() -> None:
    graph_def = graph_pb2.GraphDef()
    for name, op in (("a", "Placeholder"), ("b", "NoSuchOpB"), ("c", "NoSuchOpA"),
                     ("d", "NoSuchOpB")):
        graph_def.node.add(name=name, op=op)
    with pytest.raises(OpError, match=r"^node 'b': .*NoSuchOpB"):
        Graph.from_dict(graph_def)


@pytest.mark.parametrize("bad", ["a\nb", "a\n", "\nb", "-a", "a b", "\n"])
def test_every_invalid_name_is_refused_among_valid_ones(bad: str) -> None:
    nodes = [_placeholder(name, "float32", [1]) for name in ("p", bad, "q")]
    with pytest.raises(GraphError, match="invalid node name"):
        Graph.from_dict({"node": nodes})


def test_a_duplicate_name_is_refused() -> None:
    nodes = [_placeholder(name, "float32", [1]) for name in ("p", "q", "p")]
    with pytest.raises(GraphError, match="duplicate node name 'p'"):
        Graph.from_dict({"node": nodes})


# --------------------------------------------------------------------------- from_dict_onto

def _base(tag: str) -> Graph:
    """Variables whose shared names no earlier import memoized, and a constant."""
    base = Graph()
    base.variable(f"{tag}/w", np.ones((3, 2), np.float32))
    base.variable(f"{tag}/b", np.zeros(2, np.float32))
    base.constant(np.int32(1), name=f"{tag}/axis")
    return base


def _user(tag: str) -> list[Any]:
    return [node_from_dict(spec) for spec in [
        _placeholder("x", "float32", [None, 3]),
        {"name": "m", "op": "MatMul", "input": ["x", f"{tag}/w/Read/ReadVariableOp"]},
        {"name": "y", "op": "BiasAdd", "input": ["m", f"{tag}/b/Read/ReadVariableOp"]},
        {"name": "s", "op": "Sum", "input": ["y", f"{tag}/axis"]}]]


def _attr_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checked: list[str] = []
    real = importer.check_node_attrs

    def spy(node: Any, op_def: Any) -> None:
        checked.append(node.name)
        real(node, op_def)

    monkeypatch.setattr(importer, "check_node_attrs", spy)
    return checked


def test_from_dict_onto_equals_from_dict_and_checks_only_the_new_nodes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    checked = _attr_checks(monkeypatch)
    onto = Graph.from_dict_onto(_base("equal"), _user("equal"))
    # (user nodes equal to ones imported earlier in this process are not checked either)
    assert checked and not [name for name in checked if name.startswith("equal/")]
    checked.clear()
    graph_def = _base("equal").as_graph_def()
    graph_def.node.extend(_user("equal"))
    whole = Graph.from_dict(graph_def)
    assert {"equal/w", "equal/b"} <= set(checked)  # new shared names: checked by from_dict
    assert onto.as_graph_def(add_shapes=True) == whole.as_graph_def(add_shapes=True)
    assert onto.get_tensor("s").dtype.name == "float32"
    assert [v.node_name for v in onto.variables] == ["equal/w", "equal/b"]


def test_from_dict_onto_reports_what_from_dict_reports() -> None:
    bad = _user("bad")
    bad[1].input[1] = "bad/axis"  # MatMul of a float32 and an int32
    graph_def = _base("bad").as_graph_def()
    graph_def.node.extend(bad)
    with pytest.raises(Error) as whole:
        Graph.from_dict(graph_def)
    with pytest.raises(type(whole.value), match=re.escape(str(whole.value))):
        Graph.from_dict_onto(_base("bad"), bad)


def test_from_dict_onto_refuses_a_base_node_broken_since() -> None:
    base = _base("edited")
    base.node("edited/axis").attr["dtype"].type = types_pb2.DT_INT64  # value still int32
    with pytest.raises(GraphError, match="edited/axis"):
        Graph.from_dict_onto(base, _user("edited"))
