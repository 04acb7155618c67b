"""Function: the FunctionDef wire format, and every bad call refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pysavedmodel import (
    Function,
    Graph,
    GraphError,
    InvalidArgumentError,
    NotFoundError,
    OpError,
    SavedModelBuilder,
    predict_signature_def,
)
from pysavedmodel._proto import function_pb2, graph_pb2


def _identity(name: str = "ident", dtype: str = "float32") -> Function:
    fn = Function(name)
    fn.ret("y", fn.graph.op("Identity", [fn.arg("x", dtype, [None])]))
    return fn


def test_function_def_names_outputs_by_output_arg_and_index() -> None:
    fn = Function("halves")
    x = fn.arg("x", "float32", [4])
    split = fn.graph.op("Split", [fn.graph.constant(np.int32(0)), x], num_split=2)
    fn.ret("second", split.outputs[1])
    fn.ret("first", fn.graph.op("Neg", [split.outputs[0]]))
    fdef = fn.to_function_def()
    assert [a.name for a in fdef.signature.input_arg] == ["x"]
    assert [a.name for a in fdef.signature.output_arg] == ["second", "first"]
    assert dict(fdef.ret) == {"second": "Split:output:1", "first": "Neg:y:0"}
    nodes = {n.name: n for n in fdef.node_def}
    assert "x" not in nodes  # arguments are not nodes
    assert list(nodes["Split"].input) == ["Const:output:0", "x"]
    shape = fdef.arg_attr[0].attr["_output_shapes"].list.shape[0]
    assert [d.size for d in shape.dim] == [4]
    assert not fdef.signature.is_stateful


def test_calls_infer_types_and_the_library_holds_reachable_functions() -> None:
    inner = _identity("inner")
    outer = Function("outer")
    x = outer.arg("x", "float32", [None])
    outer.ret("y", outer.graph.op("PartitionedCall", [[x]], f=inner))
    g = Graph()
    y = g.op("PartitionedCall", [[g.placeholder("p", "float32", [None])]], f=outer)
    assert y.dtype is not None and y.dtype.name == "float32"
    graph_def = g.as_graph_def()
    assert [f.signature.name for f in graph_def.library.function] == ["inner", "outer"]
    call = graph_def.node[1]
    assert list(call.attr["Tin"].list.type) == [1] and list(call.attr["Tout"].list.type) == [1]


def test_recursion_is_refused_naming_the_cycle() -> None:
    a, b = Function("a"), Function("b")
    xa = a.arg("x", "float32", [None])
    a.ret("y", a.graph.op("Identity", [xa]))
    xb = b.arg("x", "float32", [None])
    b.ret("y", b.graph.op("PartitionedCall", [[xb]], f=a))
    with pytest.raises(GraphError, match=r"'a' calls itself \(a -> b -> a\)"):
        a.graph.op("PartitionedCall", [[xa]], f=b)


def test_argument_and_result_types_must_match_the_call() -> None:
    g = Graph()
    ints = g.placeholder("i", "int32", [None])
    with pytest.raises(OpError, match=r"calls 'ident', whose arguments are \[float32\]; "
                                      r"the call passes \[int32\]"):
        g.op("PartitionedCall", [[ints]], f=_identity())
        g.validate()
    g = Graph()
    floats = g.placeholder("f", "float32", [None])
    with pytest.raises(OpError, match="which returns"):
        g.op("PartitionedCall", [[floats]], f=_identity(), Tout=["int64"])
        g.validate()


def test_if_branches_must_agree_and_while_cond_returns_bool() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [None])
    pred = g.placeholder("p", "bool", [])
    with pytest.raises(OpError, match="'else_branch' calls 'other'.*returns"):
        g.op("If", [pred, [x]], then_branch=_identity(), else_branch=_int_result("other"))
        g.validate()
    cond = _identity("not_bool")
    body = _identity("step")
    g = Graph()
    x = g.placeholder("x", "float32", [None])
    with pytest.raises(OpError, match=r"'cond' calls 'not_bool', which returns \[float32\]; "
                                      r"the call expects \[bool\]"):
        g.op("While", [[x]], cond=cond, body=body)
        g.validate()


def _int_result(name: str) -> Function:
    fn = Function(name)
    x = fn.arg("x", "float32", [None])
    fn.ret("y", fn.graph.op("Cast", [x], DstT="int32"))
    return fn


def test_unknown_function_names_and_duplicates() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [None])
    with pytest.raises(OpError, match="function 'missing' is not in the graph's library"):
        g.op("PartitionedCall", [[x]], f="missing", Tout=["float32"])
    g.add_function(_identity("dup"))
    with pytest.raises(GraphError, match="another function named 'dup'"):
        g.add_function(_identity("dup"))


def test_bad_definitions() -> None:
    with pytest.raises(InvalidArgumentError, match="function name '1bad'"):
        Function("1bad")
    fn = Function("f")
    fn.arg("x", "float32")
    with pytest.raises(InvalidArgumentError, match="argument 'x' twice"):
        fn.arg("x", "float32")
    with pytest.raises(InvalidArgumentError, match="argument name 'X'"):
        fn.arg("X", "float32")
    with pytest.raises(GraphError, match="has no results"):
        fn.to_function_def()
    other = Graph().placeholder("o", "float32", [])
    with pytest.raises(InvalidArgumentError, match="another graph"):
        fn.ret("y", other)


def test_control_outputs_are_listed_in_the_signature_and_control_ret() -> None:
    fn = Function("update")
    handle = fn.arg("v", "resource", [], handle_dtype="float32", handle_shape=[])
    assign = fn.graph.op("AssignVariableOp", [handle, fn.graph.constant(np.float32(2))],
                         name="assign/op")
    fn.ret("done", fn.graph.constant(np.int32(1), name="one"))
    fn.control_ret("z_assign", assign)
    fn.control_ret("a_const", "one")
    fdef = fn.to_function_def()
    assert list(fdef.signature.control_output) == ["a_const", "z_assign"]
    assert dict(fdef.control_ret) == {"z_assign": "assign/op", "a_const": "one"}
    assert fdef.signature.is_stateful


def test_bad_control_outputs_name_the_function() -> None:
    fn = _identity("f")
    with pytest.raises(InvalidArgumentError, match="function 'f': control output 'c' twice"):
        fn.control_ret("c", "Identity")
        fn.control_ret("c", "Identity")
    with pytest.raises(InvalidArgumentError, match="control output 'x' names argument 'x'"):
        fn.control_ret("x", "x")
    with pytest.raises(InvalidArgumentError, match="must name a node of the body"):
        fn.control_ret("t", "Identity:0")
    with pytest.raises(InvalidArgumentError, match="another graph"):
        fn.control_ret("o", Graph().placeholder("o", "float32", []))
    with pytest.raises(NotFoundError, match="missing"):
        fn.control_ret("m", "missing")


def test_a_bad_call_writes_nothing(tmp_path: Path) -> None:
    g = Graph()
    ints = g.placeholder("i", "int32", [None])
    y = g.op("PartitionedCall", [[ints]], f=_identity(), name="call")
    builder = SavedModelBuilder(tmp_path / "m")
    with pytest.raises(OpError, match="node 'call'"):
        builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
            "serving_default": predict_signature_def({"i": ints}, {"y": y})})
    assert not (tmp_path / "m").exists()


def test_args_like_gives_the_arguments_arg_would() -> None:
    body = Function("body_1")
    x = body.arg("x", "float32", [None, 3])
    handle = body.arg("w_resource", "resource", handle_dtype="float32", handle_shape=[3, 2])
    body.ret("y", body.graph.op("MatMul", [x, body.graph.op("ReadVariableOp", [handle],
                                                             dtype="float32")]))

    def wrapper(copied: bool) -> bytes:
        fn = Function("wrapper_2")
        if copied:
            args = fn.args_like(body)
        else:
            args = [fn.arg("x", "float32", [None, 3]),
                    fn.arg("w_resource", "resource", handle_dtype="float32",
                           handle_shape=[3, 2])]
        assert [t.name for t in args] == ["x:0", "w_resource:0"]
        call = fn.graph.op("StatefulPartitionedCall", [args], f=body)
        fn.ret("y", fn.graph.op("Identity", [call]))
        return fn.to_function_def().SerializeToString(deterministic=True)

    assert wrapper(True) == wrapper(False)
    body.graph.node("x")  # handed out: copying refused, the arguments are added one by one
    assert wrapper(True) == wrapper(False)
    again = Function("again_3")
    again.arg("z", "int32")
    with pytest.raises(InvalidArgumentError, match="already has arguments"):
        again.args_like(body)


def test_arguments_copied_from_an_earlier_one_give_the_same_function(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Function.arg copies the Placeholder of an earlier argument of the same dtype and
    shape (Graph.copy_nodes_from); the FunctionDef is the one adding each writes."""
    def build() -> bytes:
        fn = Function("many_1")
        xs = [fn.arg(f"x{i}", "float32", [None, 2]) for i in range(3)]
        handles = [fn.arg(f"v{i}_resource", "resource", handle_dtype="float32",
                          handle_shape=[2]) for i in range(3)]
        n = fn.arg("n", "int64", [])
        total = xs[0]
        for x, h in zip(xs[1:] + xs[:1], handles):
            total = fn.graph.op("AddV2", [total, fn.graph.op("ReadVariableOp", [h],
                                                             dtype="float32")])
            total = fn.graph.op("AddV2", [total, x])
        fn.ret("y", total)
        fn.ret("n_out", fn.graph.op("Identity", [n]))
        return fn.to_function_def().SerializeToString(deterministic=True)

    copied = build()
    monkeypatch.setattr(Graph, "copy_nodes_from", lambda *args, **kwargs: False)
    assert copied == build()


def test_refused_arguments_leave_the_function_unchanged() -> None:
    fn = Function("f_1")
    fn.graph.constant(np.float32(1), name="taken")
    with pytest.raises(InvalidArgumentError, match="clashes with a node"):
        fn.arg("taken", "float32")
    with pytest.raises(InvalidArgumentError, match="handle_dtype is for resource"):
        fn.arg("x", "float32", handle_dtype="float32")
    assert fn.graph.op_types() == {"taken": "Const"}
    assert fn.input_types == []
    fn.arg("x", "float32")  # the name was not taken by the refused call


def test_fill_function_def_and_as_graph_def_into_write_in_place() -> None:
    fn = _identity("ident_1")
    fdef = function_pb2.FunctionDef()
    fn.fill_function_def(fdef)
    assert fdef == fn.to_function_def() and fdef.signature.name == "ident_1"
    g = Graph()
    x = g.placeholder("x", "float32", [None])
    g.op("PartitionedCall", [[x]], f=fn, name="call")
    target = graph_pb2.GraphDef()
    assert g.as_graph_def(into=target) is target
    assert target == g.as_graph_def()
    assert [f.signature.name for f in target.library.function] == ["ident_1"]
