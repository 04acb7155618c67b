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
    out = pysavedmodel.from_onnx(path, tmp_path / "sm", format="tf1")  # plain checkpoint keys
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


def test_damaged_files_with_inline_weights_convert_or_raise_model_errors(tmp_path: Path) -> None:
    """Seeded byte damage (flips, cuts, insertions; mostly in the protobuf framing the
    wire-format scan walks) of a file with memory-mapped inline weights: every attempt either
    converts or raises a pysavedmodel.Error, and a failure leaves no export directory."""
    path, weight, _ = _saved(tmp_path)
    original = path.read_bytes()
    start = original.index(weight.tobytes())
    framing = [i for i in range(len(original)) if not start <= i < start + weight.nbytes]
    rng = np.random.default_rng(20261204)
    outcomes = {"converted": 0, "refused": 0}
    for attempt in range(100):
        data = bytearray(original)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.choice(framing)) if rng.random() < 0.9 else int(rng.integers(len(data)))
            at = min(at, len(data) - 1)
            kind = rng.integers(3)
            if kind == 0:
                data[at] ^= 1 << int(rng.integers(8))
            elif kind == 1:
                del data[at:]
            else:
                data[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 6)), np.uint8))
            if not data:
                data = bytearray(b"\x08")
        damaged = tmp_path / f"damaged{attempt}.onnx"
        damaged.write_bytes(bytes(data))
        target = tmp_path / f"sm{attempt}"
        try:
            pysavedmodel.from_onnx(damaged, target, durable=False)
            outcomes["converted"] += 1
        except errors.Error:
            assert not target.exists()
            outcomes["refused"] += 1
    assert outcomes["refused"] > 30  # the damage mostly breaks the model, as intended


def test_packed_sub_byte_weights_stay_inline(tmp_path: Path) -> None:
    """INT4 packs two elements per byte: its raw_data is not an array of its elements, so
    the lazy load leaves it to onnx's decoder."""
    import ml_dtypes

    values = (np.arange(10000) % 16 - 8).astype(ml_dtypes.int4)
    tensor = onnx.numpy_helper.from_array(values, "q")
    assert tensor.data_type == onnx.TensorProto.INT4 and len(tensor.raw_data) == 5000
    graph = onnx.helper.make_graph(
        [node("Cast", ["q"], ["y"], to=onnx.TensorProto.FLOAT)], "packed", [],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [10000])], [tensor])
    path = tmp_path / "model.onnx"
    onnx.save(onnx.helper.make_model(graph), str(path))
    proto, _ = load_model(path)
    (init,) = proto.graph.initializer
    assert init.data_location == onnx.TensorProto.DEFAULT and init.raw_data == tensor.raw_data
