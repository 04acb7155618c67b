"""Bad ONNX input: each gives one pysavedmodel.Error subclass naming the node/value and the
problem, and leaves nothing in EXPORT_DIR."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pysavedmodel
from pysavedmodel import errors
from tests.onnx.cases import model, node, rand


def _external_model(tmp: Path, location: str, *, length: int | None = None) -> Path:
    """A model whose weight W (4x4 float32) is stored externally at ``location``."""
    weight = rand(4, 4)
    tensor = numpy_helper.from_array(weight, "W")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"),
                       ("length", str(length if length is not None else weight.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([node("MatMul", ["x", "W"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
                              [tensor])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model_dir = tmp / "model"
    model_dir.mkdir(exist_ok=True)
    path = model_dir / "m.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


def _outside(tmp: Path) -> Path:
    secret = tmp / "secret.bin"
    secret.write_bytes(b"\0" * 64)
    return secret


def _relu(opset: int = 17) -> Any:
    return model([node("Relu", ["x"], ["y"])], {"x": rand(2, 3)}, ["y"], opset=opset)


def _cycle(tmp: Path) -> Any:
    proto = model([node("Relu", ["x"], ["a"]), node("Add", ["a", "x"], ["y"])],
                  {"x": rand(2)}, ["y"])
    proto.graph.node[0].input[0] = "y"
    return proto


def _use_before_def(tmp: Path) -> Any:
    proto = model([node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["y"])], {"x": rand(2)},
                  ["y"])
    first, second = (onnx.NodeProto(), onnx.NodeProto())
    first.CopyFrom(proto.graph.node[1])
    second.CopyFrom(proto.graph.node[0])
    del proto.graph.node[:]
    proto.graph.node.extend([first, second])
    return proto


def _duplicate_output(tmp: Path) -> Any:
    proto = model([node("Relu", ["x"], ["a"]), node("Neg", ["x"], ["y"])], {"x": rand(2)},
                  ["y"])
    proto.graph.node[0].output[0] = "y"
    return proto


def _duplicate_node_name(tmp: Path) -> Any:
    proto = model([node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["y"])], {"x": rand(2)},
                  ["y"])
    proto.graph.node[1].name = proto.graph.node[0].name
    return proto


def _dtype_mismatch(tmp: Path) -> Any:
    proto = model([node("Add", ["x", "b"], ["y"])], {"x": rand(2)}, ["y"],
                  inits={"b": np.ones(2, np.float32)})
    proto.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.ones(2, np.int64), "b"))
    return proto


def _shape_mismatch(tmp: Path) -> Any:
    proto = model([node("MatMul", ["x", "W"], ["y"])], {"x": rand(2, 3)}, ["y"],
                  inits={"W": rand(3, 4)})
    proto.graph.initializer[0].CopyFrom(numpy_helper.from_array(rand(5, 4), "W"))
    return proto


def _unknown_domain(tmp: Path) -> Any:
    proto = _relu()
    proto.graph.node[0].domain = "com.example"
    proto.opset_import.add(domain="com.example", version=1)
    return proto


def _symlink_escape(tmp: Path) -> Path:
    path = _external_model(tmp, "link.bin")
    os.symlink(_outside(tmp), path.parent / "link.bin")
    return path


def _short_file(tmp: Path) -> Path:
    path = _external_model(tmp, "w.bin")
    (path.parent / "w.bin").write_bytes(b"\0" * 10)
    return path


def _gather_nd_hostile_batch_dims(tmp: Path) -> Any:
    """onnx 1.23's shape inference segfaults on this one: it must be refused before."""
    graph = helper.make_graph(
        [node("GatherND", ["x", "i"], ["y"], batch_dims=-2**31)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4]),
         helper.make_tensor_value_info("i", TensorProto.INT64, [2, 2, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _unsupported_in_branch(tmp: Path) -> Any:
    vi = helper.make_tensor_value_info
    then_g = helper.make_graph([node("Det", ["x"], ["d"])], "then", [],
                               [vi("d", TensorProto.FLOAT, [])])
    else_g = helper.make_graph([node("ReduceSum", ["x"], ["e"], keepdims=0)], "else", [],
                               [vi("e", TensorProto.FLOAT, [])])
    graph = helper.make_graph(
        [node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)], "g",
        [vi("c", TensorProto.BOOL, []), vi("x", TensorProto.FLOAT, [3, 3])],
        [vi("y", TensorProto.FLOAT, [])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _loop_body_arity(tmp: Path) -> Any:
    vi = helper.make_tensor_value_info
    body = helper.make_graph([node("Identity", ["c_in"], ["c_out"])], "body",
                             [vi("i", TensorProto.INT64, []), vi("c_in", TensorProto.BOOL, [])],
                             [vi("c_out", TensorProto.BOOL, [])])
    graph = helper.make_graph(
        [node("Loop", ["M", "", "a"], ["y"], body=body)], "g",
        [vi("M", TensorProto.INT64, []), vi("a", TensorProto.FLOAT, [3])],
        [vi("y", TensorProto.FLOAT, [3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _one_node(op: Any, out_shape: list[Any], inits: dict[str, Any] | None = None) -> Any:
    """A one-node model on x [3, 1, 2] (rank 4 [1, 1, 4, 4] for pools), unchecked outputs."""
    vi = helper.make_tensor_value_info
    x_shape = [1, 1, 4, 4] if op.op_type == "MaxPool" else [3, 1, 2]
    graph = helper.make_graph([op], "g", [vi("x", TensorProto.FLOAT, x_shape)],
                              [vi(op.output[0], TensorProto.FLOAT, out_shape)],
                              [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


CASES: list[tuple[str, Callable[[Path], Any], type[errors.Error], tuple[str, ...]]] = [
    ("truncated", lambda t: _relu().SerializeToString()[:-5], errors.ModelError,
     ("not a valid ONNX model",)),
    ("garbage", lambda t: b"\xff\xfe not onnx at all", errors.ModelError,
     ("not a valid ONNX model",)),
    ("unknown_opset", lambda t: _relu(opset=99), errors.Error, ("opset", "99")),
    ("unknown_domain", _unknown_domain, errors.UnsupportedError, ("Relu_y", "com.example")),
    ("unsupported_op", lambda t: model([node("Det", ["x"], ["y"])], {"x": rand(3, 3)}, ["y"]),
     errors.UnsupportedError, ("Det", "Det_y")),
    ("cycle", _cycle, errors.ModelError, ("Relu_a", "cyclic")),
    ("use_before_def", _use_before_def, errors.ModelError, ("Neg_y", "before it is defined")),
    ("duplicate_output", _duplicate_output, errors.ModelError, ("Neg_y", "duplicate")),
    ("duplicate_node_name", _duplicate_node_name, errors.ModelError,
     ("Relu_a", "duplicate node name")),
    ("dtype_mismatch", _dtype_mismatch, errors.ModelError, ("Add",)),
    ("shape_mismatch", _shape_mismatch, errors.ModelError, ("MatMul",)),
    ("lstm_non_default_activations", lambda t: model(
        [node("LSTM", ["x", "W", "R"], ["y"], hidden_size=2,
              activations=["HardSigmoid", "Tanh", "Tanh"])],
        {"x": rand(3, 1, 2)}, ["y"], inits={"W": rand(1, 8, 2), "R": rand(1, 8, 2)}),
     errors.UnsupportedError, ("LSTM_y", "activations", "HardSigmoid")),
    ("gather_nd_batch_dims_crashing_onnx", _gather_nd_hostile_batch_dims, errors.ModelError,
     ("GatherND_y", "batch_dims", "out of range")),
    ("unsupported_op_in_if_branch", _unsupported_in_branch, errors.UnsupportedError,
     ("Det", "Det_d")),
    ("loop_body_arity", _loop_body_arity, errors.ModelError, ("Loop_y", "inputs")),
    ("pool_pads_beyond_int32", lambda t: _one_node(
        node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[2**40, 0, 0, 0]),
        [1, 1, None, None]), errors.ModelError, ("MaxPool_y", "pads", "out of range")),
    ("conv_transpose_huge_stride", lambda t: model(
        [node("ConvTranspose", ["x", "W"], ["y"], strides=[2**62, 1])],
        {"x": rand(1, 2, 3, 3)}, ["y"], inits={"W": rand(2, 2, 2, 2)},
        input_shapes={"x": [1, 2, "H", "W"]}), errors.ModelError,
     ("ConvTranspose_y", "strides")),
    ("attribute_not_utf8", lambda t: _one_node(
        node("LSTM", ["x", "W", "R"], ["y"], hidden_size=2, direction=b"\xdc\xff"),
        [3, 1, 1, 2], {"W": rand(1, 8, 2), "R": rand(1, 8, 2)}), errors.ModelError,
     ("LSTM_y", "direction", "UTF-8")),
    ("external_dotdot", lambda t: _external_model(t, "../secret.bin"), errors.ModelError,
     ("'W'", "../secret.bin", "inside the model's directory")),
    ("external_absolute", lambda t: _external_model(t, str(_outside(t))), errors.ModelError,
     ("'W'", "secret.bin", "relative")),
    ("external_symlink", _symlink_escape, errors.ModelError,
     ("'W'", "link.bin", "outside the model's directory")),
    ("external_short_file", _short_file, errors.ModelError,
     ("'W'", "w.bin", "shorter than the declared")),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_onnx_input(tmp_path: Path, case: Any) -> None:
    _, build, error, fragments = case
    source = build(tmp_path)
    export = tmp_path / "export"
    with pytest.raises(error) as info:
        pysavedmodel.from_onnx(source, export)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not export.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("export")] == []


def test_without_onnx_the_extra_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    import sys
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(errors.MissingDependencyError, match=r"pysavedmodel\[onnx\]"):
        pysavedmodel.from_onnx(b"", tmp_path / "export")
    assert not (tmp_path / "export").exists()
