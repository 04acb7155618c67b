"""The from_onnx contract, offline: signature keyed by ONNX names with their dtypes/shapes
(dynamic dims -1), initializers as trainable checkpoint variables (small ones as constants),
external data read from beside the model, progress, input shape overrides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import pysavedmodel
from pysavedmodel import errors
from tests.onnx.cases import model, node, rand


def _mlp() -> onnx.ModelProto:
    return model([node("Reshape", ["x", "shape"], ["flat"]),
                  node("Gemm", ["flat", "W", "b"], ["h"], transB=1),
                  node("Relu", ["h"], ["logits:0/out"]),
                  node("Cast", ["h"], ["as_int"], to=onnx.TensorProto.INT64)],
                 {"x": rand(2, 3, 4)}, ["logits:0/out", "as_int"],
                 inits={"shape": np.array([0, -1], np.int64), "W": rand(5, 12), "b": rand(5)},
                 input_shapes={"x": ["batch", 3, 4]})


def test_signature_keys_dtypes_shapes_and_variables(tmp_path: Path) -> None:
    proto = _mlp()
    # TF1 layout asserted (plain checkpoint keys, collections): the TF1 switch.
    out = pysavedmodel.from_onnx(proto, tmp_path / "sm", format="tf1")
    assert out == tmp_path / "sm"
    described = pysavedmodel.describe_saved_model(out)
    variables = {v["name"]: v for v in described["variables"]}
    assert set(variables) == {"W", "b"}  # the shape vector stayed a constant
    assert variables["W"]["shape"] == [5, 12]  # ONNX's layout, read with transpose_b
    ckpt = pysavedmodel.read_checkpoint(out / "variables" / "variables")
    np.testing.assert_array_equal(ckpt["W"], onnx.numpy_helper.to_array(
        proto.graph.initializer[1]))
    sm = pysavedmodel.read_saved_model(out)
    sig = sm.meta_graphs[0].signature_def["serving_default"]
    assert sorted(sig.inputs) == ["x"]
    assert sorted(sig.outputs) == ["as_int", "logits:0/out"]
    assert [d.size for d in sig.inputs["x"].tensor_shape.dim] == [-1, 3, 4]
    assert sig.outputs["as_int"].dtype == 9  # DT_INT64
    collection = sm.meta_graphs[0].collection_def["trainable_variables"]
    assert len(collection.bytes_list.value) == 2


def test_external_data_is_read_beside_the_model(tmp_path: Path) -> None:
    proto = model([node("MatMul", ["x", "W"], ["y"])], {"x": rand(2, 64)}, ["y"],
                  inits={"W": rand(64, 32)})
    weight = onnx.numpy_helper.to_array(proto.graph.initializer[0])
    (tmp_path / "m").mkdir()
    onnx.save(proto, str(tmp_path / "m" / "model.onnx"), save_as_external_data=True,
              location="model.onnx.data", size_threshold=0)
    assert (tmp_path / "m" / "model.onnx.data").stat().st_size >= weight.nbytes
    calls: list[tuple[int, int]] = []
    out = pysavedmodel.from_onnx(tmp_path / "m" / "model.onnx", tmp_path / "sm",
                                 progress=lambda d, t: calls.append((d, t)), format="tf1")
    np.testing.assert_array_equal(
        pysavedmodel.read_checkpoint(out / "variables" / "variables")["W"], weight)
    assert calls[-1] == (1, 1)


def test_external_data_needs_a_path(tmp_path: Path) -> None:
    proto = model([node("MatMul", ["x", "W"], ["y"])], {"x": rand(2, 4)}, ["y"],
                  inits={"W": rand(4, 4)})
    onnx.save(proto, str(tmp_path / "model.onnx"), save_as_external_data=True,
              location="d.bin", size_threshold=0)
    loaded = onnx.load(str(tmp_path / "model.onnx"), load_external_data=False)
    with pytest.raises(errors.ModelError, match="'W'.*needs the model loaded from a path"):
        pysavedmodel.from_onnx(loaded, tmp_path / "sm")
    assert not (tmp_path / "sm").exists()


def test_input_shape_override_and_unknown_name(tmp_path: Path) -> None:
    proto = _mlp()
    out = pysavedmodel.from_onnx(proto, tmp_path / "sm", input_shapes={"x": [8, 3, 4]})
    sig = pysavedmodel.read_saved_model(out).meta_graphs[0].signature_def["serving_default"]
    assert [d.size for d in sig.inputs["x"].tensor_shape.dim] == [8, 3, 4]
    with pytest.raises(errors.ModelError, match="'nope' is not a graph input"):
        pysavedmodel.from_onnx(proto, tmp_path / "sm2", input_shapes={"nope": [1]})
    assert not (tmp_path / "sm2").exists()


def test_non_empty_export_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "keep.txt").write_text("mine")
    with pytest.raises(errors.AlreadyExistsError, match="not empty"):
        pysavedmodel.from_onnx(_mlp(), tmp_path / "sm")
    assert [p.name for p in (tmp_path / "sm").iterdir()] == ["keep.txt"]
