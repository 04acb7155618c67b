"""Graph.validate skips nodes checked when added and unchanged since: that must never hide
an error.  Each case edits a graph through a path that bypasses Graph.op and checks that
validate() reports exactly what the full check over every node (validate_nodes) reports."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from pysavedmodel import Graph
from pysavedmodel._proto import attr_value_pb2, tensor_pb2
from pysavedmodel.errors import Error, GraphError, OpError
from pysavedmodel.graph.validate import validate_nodes

AttrValue = attr_value_pb2.AttrValue


def _mlp() -> Graph:
    graph = Graph()
    x = graph.placeholder("x", "float32", [None, 3])
    w = graph.variable("w", np.ones((3, 2), np.float32))
    b = graph.variable("b", np.zeros(2, np.float32))
    graph.op("Relu", [graph.op("BiasAdd", [graph.op("MatMul", [x, w]), b])], name="y")
    return graph


def _full_check_error(graph: Graph) -> str | None:
    try:
        validate_nodes(graph.nodes)
    except Error as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _incremental_error(graph: Graph) -> str | None:
    try:
        graph.as_graph_def()
    except Error as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _set_attr(name: str, key: str, value: AttrValue) -> Callable[[Graph], None]:
    def edit(graph: Graph) -> None:
        graph.node(name).attr[key].CopyFrom(value)
    return edit


def _rename(graph: Graph) -> None:
    graph.node("MatMul").name = "renamed"


def _cycle(graph: Graph) -> None:
    graph.node("x").op = "Identity"
    graph.node("x").attr["T"].CopyFrom(AttrValue(type=1))
    graph.node("x").input.append("y")


def _drop_input(graph: Graph) -> None:
    del graph.node("BiasAdd").input[1]


def _control_first(graph: Graph) -> None:
    node = graph.node("MatMul")
    node.input.insert(0, "^b")


def _unknown_attr(graph: Graph) -> None:
    graph.node("Relu" if graph.has_node("Relu") else "y").attr["bogus"].CopyFrom(AttrValue(i=1))


def _take_name(graph: Graph) -> None:
    # A node renamed to another's name: the dict keys stay unique, the NodeDefs do not.
    graph.node("y").name = "MatMul"


EDITS: dict[str, Callable[[Graph], None]] = {
    # An edited source changes what its unchanged consumers receive.
    "source dtype": _set_attr("x", "dtype", AttrValue(type=3)),
    "own type attr": _set_attr("MatMul", "T", AttrValue(type=3)),
    "attr of the wrong kind": _set_attr("MatMul", "transpose_a", AttrValue(i=1)),
    "function attr": _set_attr("y", "_f", AttrValue(func=attr_value_pb2.NameAttrList(name="f"))),
    "renamed source": _rename,
    "name taken": _take_name,
    "cycle": _cycle,
    "dropped input": _drop_input,
    "control input first": _control_first,
    "unknown attr": _unknown_attr,
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_edited_nodes_are_validated_again(edit: str) -> None:
    graph = _mlp()
    assert _incremental_error(graph) is None
    EDITS[edit](graph)
    expected = _full_check_error(graph)
    assert expected is not None
    assert _incremental_error(graph) == expected


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_edits_to_a_copy_or_an_imported_graph_are_caught(edit: str) -> None:
    original = _mlp()
    copied = original.copy()
    EDITS[edit](copied)
    assert _incremental_error(copied) == _full_check_error(copied) is not None
    assert _incremental_error(original) is None  # the copy's nodes are its own

    imported = Graph.from_dict(original.as_graph_def())
    EDITS[edit](imported)
    assert _incremental_error(imported) == _full_check_error(imported) is not None


def test_edit_then_undo_is_valid_again() -> None:
    graph = _mlp()
    node = graph.node("MatMul")
    before = node.SerializeToString(deterministic=True)
    node.attr["T"].type = 3
    assert _incremental_error(graph) is not None
    node.attr["T"].type = 1
    assert node.SerializeToString(deterministic=True) == before
    assert _incremental_error(graph) is None


def test_nodes_op_accepts_but_validation_refuses_stay_unchecked() -> None:
    # A given list(type) attr shorter than the plain-value inputs: op() adds the node,
    # the input count only fails the whole-graph check.
    graph = Graph()
    graph.op("IdentityN", [[1.0, 2.0]], name="ids", T=["float32"])
    error = _incremental_error(graph)
    assert error is not None and "has 2 data input(s)" in error
    assert error == _full_check_error(graph)

    # A Const whose tensor disagrees with its dtype attr.
    graph = Graph()
    tensor = tensor_pb2.TensorProto(dtype=3)
    tensor.int_val.append(1)
    graph.op("Const", [], name="c", value=AttrValue(tensor=tensor), dtype="float32")
    error = _incremental_error(graph)
    assert error is not None and "holds a int32 tensor" in error
    assert error == _full_check_error(graph)


def test_consumer_added_after_an_edit_is_checked_against_the_edit() -> None:
    graph = Graph()
    graph.placeholder("x", "float32", [2])
    graph.node("x").attr["dtype"].type = 3  # int32 now; op() still sees the cached float32
    graph.op("Relu", ["x"], name="r")
    with pytest.raises(OpError, match="'r'"):
        graph.as_graph_def()


def test_rolled_back_op_leaves_no_trusted_dangling_input() -> None:
    graph = Graph()
    graph.placeholder("a", "float32", [2, 3])
    with pytest.raises(OpError):  # the shape check fails after the Const input was made
        graph.op("MatMul", ["a", np.ones((4, 5), np.float32)], name="m")
    assert not graph.has_node("m/b")
    graph.as_graph_def()


def test_known_node_fast_path_matches_op() -> None:
    # Graph.variable adds its nodes through the private fast path: they must be the
    # nodes op() adds for the same request.
    fast = Graph()
    fast.variable("v", np.ones((2, 3), np.float32), trainable=False)
    slow = Graph()
    slow.op("VarHandleOp", [], name="v/", dtype="float32", shape=(2, 3), shared_name="v",
            container="", debug_name="v/", _class=["loc:@v"])
    with slow.name_scope("v/Read/"):
        slow.op("ReadVariableOp", ["v"], dtype="float32")
    assert fast.as_graph_def(add_shapes=True).SerializeToString(deterministic=True) == \
        slow.as_graph_def(add_shapes=True).SerializeToString(deterministic=True)

    for graph in (fast, slow):
        with graph.name_scope("init"):
            dims = graph.constant(np.array([2, 3], np.int32), name="dims")
            zero = graph.constant(np.float32(0), name="zero")
    slow.op("Fill", [dims, zero], name="fill")
    fast.add_trusted_node("Fill", ["init/dims", "init/zero"], name="fill",
                         attrs={"T": AttrValue(type=1), "index_type": AttrValue(type=3)})
    assert fast.as_graph_def(add_shapes=True).SerializeToString(deterministic=True) == \
        slow.as_graph_def(add_shapes=True).SerializeToString(deterministic=True)
    assert fast.get_tensor("fill").shape == (2, 3)


def test_known_node_fast_path_refuses_missing_inputs() -> None:
    graph = Graph()
    with pytest.raises((GraphError, KeyError)):
        graph.add_trusted_node("Identity", ["nowhere"], name="i", attrs={"T": AttrValue(type=1)})


@pytest.mark.parametrize("attrs, message", [
    ({}, "lacks required attr 'T'"),
    ({"T": AttrValue(type=1), "bogus": AttrValue(i=1)}, "has attr 'bogus'"),
    ({"T": AttrValue(type=3)}, "is float32; expected int32"),
])
def test_known_node_fast_path_leaves_incomplete_nodes_to_validate(
        attrs: dict[str, AttrValue], message: str) -> None:
    graph = Graph()
    graph.placeholder("x", "float32", [2])
    graph.add_trusted_node("Identity", ["x"], name="i", attrs=attrs)
    with pytest.raises(OpError, match=message):
        graph.as_graph_def()


def test_node_handed_out_late_is_the_node() -> None:
    # Nodes are kept light until node()/nodes hands their NodeDef out; from then on that
    # NodeDef is the node: edits show in the GraphDef, the views and the checks.
    graph = _mlp()
    before = graph.as_graph_def()
    node = graph.node("MatMul")
    assert node == next(n for n in before.node if n.name == "MatMul")
    assert graph.node("MatMul") is node
    node.attr["transpose_a"].b = True
    after = {n.name: n for n in graph.as_graph_def().node}
    assert after["MatMul"].attr["transpose_a"].b is True
    node.op = "BatchMatMulV2"
    assert graph.get_tensor("MatMul").op_type == "BatchMatMulV2"
    copied = graph.copy()
    assert copied.node("MatMul").op == "BatchMatMulV2"
    node.attr["bogus"].i = 1  # the copy's node is its own
    assert "bogus" not in copied.node("MatMul").attr
    assert _incremental_error(graph) == _full_check_error(graph) is not None


def test_light_nodes_of_a_copy_are_independent() -> None:
    original = _mlp()
    copied = original.copy()
    copied.node("MatMul").attr["T"].type = 3
    assert original.node("MatMul").attr["T"].type == 1
    assert _incremental_error(original) is None
    assert _incremental_error(copied) == _full_check_error(copied) is not None


def test_attr_value_given_to_op_is_copied() -> None:
    # The caller keeps its AttrValue; editing it later must not change the node.
    graph = Graph()
    dtype = AttrValue(type=1)
    graph.op("Placeholder", [], name="x", dtype=dtype, shape=[2])
    dtype.type = 3
    assert graph.get_tensor("x").dtype.name == "float32"
    assert graph.as_graph_def().node[0].attr["dtype"].type == 1


def test_repeated_op_calls_follow_their_inputs_and_attrs() -> None:
    # op() reuses what it derived for an equal earlier call (op type, input dtypes,
    # attrs): a change of any of them must give a different node.
    graph = Graph()
    x = graph.placeholder("x", "float32", [2, 2])
    i = graph.placeholder("i", "int32", [2, 2])
    assert graph.op("Relu", [x]).dtype.name == "float32"
    assert graph.op("Relu", [i]).dtype.name == "int32"
    assert graph.op("Cast", [x], DstT="int64").dtype.name == "int64"
    assert graph.op("Cast", [x], DstT="float16").dtype.name == "float16"
    assert graph.op("Cast", [x], DstT="int64", Truncate=True).op_type == "Cast"
    nodes = {n.name: n for n in graph.as_graph_def().node}
    assert nodes["Cast_2"].attr["Truncate"].b is True and nodes["Cast"].attr["Truncate"].b is False
    s = graph.placeholder("s", "string", [2])
    with pytest.raises(OpError, match="'Relu_2'"):
        graph.op("Relu", [s])  # refused although float32 and int32 Relus passed
    with pytest.raises(OpError):
        graph.op("Cast", [x], DstT=1.5)
    # A variable's handle: ReadVariableOp takes the dtype from it.
    v = graph.variable("v", np.zeros(2, np.int64))
    w = graph.variable("w", np.zeros(2, np.float32))
    first = graph.op("ReadVariableOp", [graph.get_tensor("v")])
    second = graph.op("ReadVariableOp", [graph.get_tensor("w")])
    assert (first.dtype.name, second.dtype.name, v.dtype.name, w.dtype.name) == \
        ("int64", "float32", "int64", "float32")
    graph.as_graph_def()
