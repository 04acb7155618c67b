"""Loading ONNX models (pysavedmodel.onnx.load): inline ``raw_data`` weights are
memory-mapped from the model file instead of parsed into the ModelProto, externally stored
ones are checked as typed inputs, and malformed inline data is a ModelError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import pysavedmodel
from pysavedmodel import errors
from pysavedmodel.onnx.load import INLINE_KEY, LAZY_RAW_DATA_BYTES, check_copy, load_model
from tests.onnx.cases import model, node, rand


def _saved(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A MatMul + Reshape model saved with its weights inline: W (64x32 float32, 8 KiB)
    above the lazy threshold, the shape vector and bias below it."""
    weight, bias = rand(64, 32), rand(32)
    proto = model([node("MatMul", ["x", "W"], ["h"]), node("Add", ["h", "b"], ["s"]),
                   node("Reshape", ["s", "shape"], ["y"])],
                  {"x": rand(2, 64)}, ["y"],
                  inits={"W": weight, "b": bias, "shape": np.array([-1], np.int64)})
    path = tmp_path / "model.onnx"
    onnx.save(proto, str(path))
    return path, weight, bias


def test_inline_weights_are_references_into_the_model_file(tmp_path: Path) -> None:
    path, weight, bias = _saved(tmp_path)
    assert weight.nbytes >= LAZY_RAW_DATA_BYTES > bias.nbytes
    proto, base = load_model(path)
    assert base == tmp_path.resolve()
    inits = {init.name: init for init in proto.graph.initializer}
    w = inits["W"]
    assert w.data_location == onnx.TensorProto.EXTERNAL and not w.raw_data
    info = {e.key: e.value for e in w.external_data}
    assert info["location"] == "model.onnx" and info[INLINE_KEY] == "1"
    offset, length = int(info["offset"]), int(info["length"])
    assert path.read_bytes()[offset:offset + length] == weight.tobytes()
    assert list(w.dims) == [64, 32] and w.data_type == onnx.TensorProto.FLOAT
    # Small ones stay inline, where shape inference sees them.
    for name in ("b", "shape"):
        assert inits[name].data_location == onnx.TensorProto.DEFAULT and inits[name].raw_data
    # The rest of the model is unchanged.
    original = onnx.load(str(path))
    assert [n.SerializeToString() for n in proto.graph.node] == \
        [n.SerializeToString() for n in original.graph.node]
    assert proto.opset_import == original.opset_import


def test_inline_weights_convert_to_the_same_variables(tmp_path: Path) -> None:
    path, weight, bias = _saved(tmp_path)
    out = pysavedmodel.from_onnx(path, tmp_path / "sm")
    ckpt = pysavedmodel.read_checkpoint(out / "variables" / "variables")
    np.testing.assert_array_equal(ckpt["W"], weight)
    np.testing.assert_array_equal(ckpt["b"], bias)


def test_inline_raw_data_of_the_wrong_length_is_a_model_error(tmp_path: Path) -> None:
    proto = model([node("MatMul", ["x", "W"], ["y"])], {"x": rand(2, 64)}, ["y"],
                  inits={"W": rand(64, 32)})
    init = proto.graph.initializer[0]
    init.raw_data = init.raw_data + b"\0\0\0\0"
    path = tmp_path / "model.onnx"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(errors.ModelError,
                       match=r"initializer 'W': raw_data holds 8196 bytes, expected 8192"):
        pysavedmodel.from_onnx(path, tmp_path / "sm")
    assert not (tmp_path / "sm").exists()


def test_a_model_truncated_inside_its_weights_is_a_model_error(tmp_path: Path) -> None:
    path, weight, _ = _saved(tmp_path)
    data = path.read_bytes()
    cut = data.index(weight.tobytes()) + weight.nbytes // 2
    path.write_bytes(data[:cut])
    with pytest.raises(errors.ModelError, match="not a valid ONNX model"):
        pysavedmodel.from_onnx(path, tmp_path / "sm")
    assert not (tmp_path / "sm").exists()


def test_check_copy_types_external_initializers_as_inputs(tmp_path: Path) -> None:
    path, weight, _ = _saved(tmp_path)
    proto, _ = load_model(path)
    light = check_copy(proto)
    assert sorted(i.name for i in light.graph.initializer) == ["b", "shape"]
    inputs = {v.name: v for v in light.graph.input}
    assert sorted(inputs) == ["W", "x"]
    dims = [d.dim_value for d in inputs["W"].type.tensor_type.shape.dim]
    assert dims == [64, 32]
    assert inputs["W"].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    onnx.checker.check_model(light)  # what check_model runs; the original refers to files
    assert len(proto.graph.initializer) == 3  # the original is untouched
