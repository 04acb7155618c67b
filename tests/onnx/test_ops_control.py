"""ONNX If / Loop / Scan (pysavedmodel/onnx/ops/control.py) against onnxruntime, batched like
test_ops_core: hand-built onnx.helper graphs, one ORT subprocess, one TF subprocess (C API
harness and tf.saved_model.load).  Branches and bodies read enclosing values (inputs,
initializers that become variables, constants) the way exporters write them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.onnx.cases import model, node, rand
from tests.support.onnx_harness import Result, assert_matches, run_cases

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def _graph(nodes: list[Any], name: str, inputs: list[Any], outputs: list[Any],
           inits: dict[str, Any] | None = None) -> Any:
    return helper.make_graph(nodes, name, inputs, outputs,
                             [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])


def _typed(nodes: list[Any], inputs: list[Any], outputs: list[Any],
           inits: dict[str, Any]) -> Any:
    """A checked model with explicitly typed outputs (shape inference leaves loop outputs'
    shapes open)."""
    import onnx
    proto = helper.make_model(_graph(nodes, "case", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(proto)
    return proto


def _vi(name: str, elem: int, shape: Any) -> Any:
    return helper.make_tensor_value_info(name, elem, shape)


def _if_model() -> Any:
    # y = (x @ W) * 2 if sum(x) > 0 else x @ W - k (W an initializer that becomes a variable)
    then_g = _graph([node("MatMul", ["x", "W"], ["tm"]), node("Mul", ["tm", "two"], ["ty"])],
                    "then", [], [_vi("ty", F, None)])
    else_g = _graph([node("MatMul", ["x", "W"], ["em"]), node("Sub", ["em", "k"], ["ey"]),
                     node("Neg", ["ey"], ["ez"])], "else", [], [_vi("ez", F, None)],
                    inits={"k": np.array([0.5, -1.0, 2.0], np.float32)})
    return model([node("ReduceSum", ["x"], ["s"], keepdims=0),
                  node("Greater", ["s", "zero"], ["c"]),
                  node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
                 {"x": rand(2, 4)}, ["y"],
                 inits={"W": rand(4, 3), "two": np.array(2.0, np.float32),
                        "zero": np.array(0.0, np.float32)}, input_shapes={"x": ["N", 4]})


def _if_static_model() -> Any:
    then_g = _graph([node("Relu", ["x"], ["ty"])], "then", [], [_vi("ty", F, None)])
    else_g = _graph([node("Neg", ["x"], ["ey"])], "else", [], [_vi("ey", F, None)])
    return model([node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
                 {"x": rand(3, 2)}, ["y"], inits={"c": np.array(False)})


def _loop_model() -> Any:
    # for i < M while acc.sum() < limit: acc = acc * 1.5 + i; scan out acc and i
    body = _graph(
        [node("Cast", ["i"], ["fi"], to=F), node("Mul", ["acc_in", "f"], ["m"]),
         node("Add", ["m", "fi"], ["acc_out"]), node("ReduceSum", ["acc_out"], ["s"],
                                                     keepdims=0),
         node("Less", ["s", "limit"], ["c_out"]), node("Identity", ["acc_out"], ["scan_acc"]),
         node("Mul", ["i", "i"], ["scan_sq"])],
        "body", [_vi("i", I64, []), _vi("c_in", B, []), _vi("acc_in", F, [None])],
        [_vi("c_out", B, []), _vi("acc_out", F, [None]), _vi("scan_acc", F, [None]),
         _vi("scan_sq", I64, [])], inits={"f": np.array(1.5, np.float32)})
    return _typed([node("Loop", ["M", "", "x"], ["final", "accs", "squares"], body=body)],
                  [_vi("x", F, ["K"]), _vi("M", I64, [])],
                  [_vi("final", F, ["K"]), _vi("accs", F, ["T", "K"]), _vi("squares", I64, ["T"])],
                  {"limit": np.array(40.0, np.float32)})


def _nested_model() -> Any:
    # for i < M: acc = acc + x if i is even else acc * x (If inside Loop reading outer x)
    then_g = _graph([node("Add", ["acc_in", "x"], ["ta"])], "then", [], [_vi("ta", F, [3])])
    else_g = _graph([node("Mul", ["acc_in", "x"], ["ea"])], "else", [], [_vi("ea", F, [3])])
    body = _graph(
        [node("Mod", ["i", "two"], ["r"]), node("Equal", ["r", "zero"], ["even"]),
         node("If", ["even"], ["acc_out"], then_branch=then_g, else_branch=else_g),
         node("Identity", ["c_in"], ["c_out"])],
        "body", [_vi("i", I64, []), _vi("c_in", B, []), _vi("acc_in", F, [3])],
        [_vi("c_out", B, []), _vi("acc_out", F, [3])],
        inits={"two": np.array(2, np.int64), "zero": np.array(0, np.int64)})
    return _typed([node("Loop", ["M", "", "a0"], ["acc"], body=body)],
                  [_vi("x", F, [3]), _vi("a0", F, [3]), _vi("M", I64, [])],
                  [_vi("acc", F, [3])], {})


def _scan_model() -> Any:
    # running sum over axis 1 (reversed), and per-step outputs stacked on axis 1
    body = _graph([node("Add", ["s_in", "row"], ["s_out"]),
                   node("Mul", ["s_out", "w"], ["o"])], "body",
                  [_vi("s_in", F, [None]), _vi("row", F, [None])],
                  [_vi("s_out", F, [None]), _vi("o", F, [None])])
    return _typed([node("Scan", ["s0", "x"], ["s", "ys"], body=body, num_scan_inputs=1,
                        scan_input_axes=[1], scan_input_directions=[1],
                        scan_output_axes=[1])],
                  [_vi("s0", F, [4]), _vi("x", F, [4, "T"])],
                  [_vi("s", F, [4]), _vi("ys", F, [4, "T"])], {"w": rand(4)})


def _cases() -> list[tuple[str, Any, dict[str, Any]]]:
    if_m = _if_model()
    x_pos, x_neg = rand(3, 4, low=0.1, high=1), rand(2, 4, low=-1, high=-0.1)
    loop_m = _loop_model()
    return [
        ("if_then", if_m, {"x": x_pos}),
        ("if_else", if_m, {"x": x_neg}),
        ("if_static_condition_inlined", _if_static_model(), {"x": rand(3, 2)}),
        ("loop_trip_count", loop_m, {"x": rand(3, low=0, high=0.1), "M": np.array(4, np.int64)}),
        ("loop_condition_stops", loop_m, {"x": rand(5, low=1, high=2),
                                           "M": np.array(9, np.int64)}),
        ("loop_with_nested_if", _nested_model(), {"x": rand(3), "a0": rand(3),
                                                   "M": np.array(5, np.int64)}),
        ("scan_reverse_axis1", _scan_model(), {"x": rand(4, 6), "s0": rand(4)}),
    ]


CASES = _cases()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    return run_cases(CASES, tmp_path_factory.mktemp("ops_control"))


@pytest.mark.interop
@pytest.mark.parametrize("name", [name for name, _, _ in CASES])
def test_control_flow_matches_onnxruntime(results: dict[str, Result], name: str) -> None:
    assert_matches(results[name])


def test_static_condition_needs_no_function(tmp_path: Any) -> None:
    import pysavedmodel
    from pysavedmodel._proto import saved_model_pb2
    export = pysavedmodel.from_onnx(_if_static_model(), tmp_path / "sm")
    saved = saved_model_pb2.SavedModel.FromString((export / "saved_model.pb").read_bytes())
    graph_def = saved.meta_graphs[0].graph_def
    assert not graph_def.library.function
    assert "If" not in {n.op for n in graph_def.node}
