"""The catalogue of bad inputs (issue 5 section 2).

Each case sets up what it needs in a fresh temporary directory, then makes
one bad call.  The test asserts that the call raises the expected
:class:`pysavedmodel.Error` subclass, that the error is also the builtin a
caller would naturally catch, that the message names the offending value and
what was expected, and that the call wrote nothing: the directory tree is
exactly as it was before the call.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pysavedmodel
from pysavedmodel import errors
from pysavedmodel.builder import (
    SavedModelBuilder,
    classification_signature_def,
    predict_signature_def,
    regression_signature_def,
)
from pysavedmodel.builder import builder as builder_module
from pysavedmodel.graph.graph import Graph, Tensor
from pysavedmodel.savedmodel.loader import read_saved_model

Thunk = Callable[[], object]


@dataclass(frozen=True)
class Case:
    """One bad input: ``setup(tmp)`` prepares and returns the failing call."""

    id: str
    setup: Callable[[Path], Thunk]
    error: type[errors.Error]
    builtin: type[BaseException]
    fragments: tuple[str, ...]


# --------------------------------------------------------------------------- small graphs

def _simple() -> tuple[Graph, Tensor, Tensor]:
    """x [None, 2] float32 -> y = x * w, w a [2] float32 variable."""
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    w = g.variable("w", np.array([1.5, -2.0], np.float32))
    y = g.op("Mul", [x, w], name="y")
    return g, x, y


def _dict_graph() -> Graph:
    """A graph from dicts: variable ``w`` (float32 [2]) has no value yet."""
    return Graph.from_dict({"node": [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": [None, 2]}},
        {"name": "w", "op": "VarHandleOp", "attr": {"dtype": "float32", "shape": [2]}},
        {"name": "w/Read/ReadVariableOp", "op": "ReadVariableOp", "input": ["w"],
         "attr": {"dtype": "float32"}},
        {"name": "y", "op": "Mul", "input": ["x", "w/Read/ReadVariableOp"]},
    ]})


def _builder(tmp: Path, name: str = "model") -> SavedModelBuilder:
    return SavedModelBuilder(tmp / name)


def _added(tmp: Path) -> SavedModelBuilder:
    """A builder with the first meta graph (tags ['serve']) added."""
    g, x, y = _simple()
    b = _builder(tmp)
    b.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"y": y})})
    return b


def _add(graph: Graph, tmp: Path, **kwargs: Any) -> Thunk:
    b = _builder(tmp)
    return lambda: b.add_meta_graph_and_variables(graph, ["serve"], **kwargs)


def _ckpt(tmp: Path, tensors: Any, **kwargs: Any) -> Thunk:
    return lambda: pysavedmodel.write_checkpoint(tmp / "ckpt", tensors, **kwargs)


def _const(value: Any, name: str = "c") -> Thunk:
    return lambda: Graph().constant(value, name=name)


# --------------------------------------------------------------------------- setups

def _tf2_with(tmp: Path, what: str) -> Thunk:
    """What only a TF1 export carries, asked of format='tf2'."""
    g, x, y = _simple()
    b = SavedModelBuilder(tmp / "model", format="tf2")
    sigs = {"serving_default": predict_signature_def({"x": x}, {"y": y})}
    if what == "train_op":
        return lambda: b.add_meta_graph_and_variables(g, ["serve"], signature_def_map=sigs,
                                                      train_op=g.group([y], name="train"))
    if what == "input":
        mid = g.op("Neg", [x], name="mid")
        return lambda: b.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
            "serving_default": predict_signature_def({"m": mid}, {"y": y})})
    b.add_meta_graph_and_variables(g, ["serve"], signature_def_map=sigs)
    return lambda: b.add_meta_graph(["gpu"])


def _writer_add_twice(tmp: Path) -> Thunk:
    writer = pysavedmodel.CheckpointWriter(tmp / "ckpt")
    writer.add("layer/w", np.zeros(2, np.float32))
    return lambda: writer.add("layer/w", np.ones(2, np.float32))


def _writer_add_after_finish(tmp: Path) -> Thunk:
    out = tmp / "out"
    out.mkdir()
    writer = pysavedmodel.CheckpointWriter(out / "ckpt")
    writer.add("a", np.zeros(2, np.float32))
    writer.finish()
    return lambda: writer.add("b", np.zeros(2, np.float32))


def _graph_with(build: Callable[[Graph], object]) -> Thunk:
    g = Graph()
    g.placeholder("a", "float32", [2, 2])
    g.placeholder("b", "float32", [2, 2])
    return lambda: build(g)


def _signature_missing_tensor(tmp: Path) -> Thunk:
    g, x, _ = _simple()
    return _add(g, tmp, signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"out": "nope:0"})})


def _signature_missing_output(tmp: Path) -> Thunk:
    g, x, _ = _simple()
    return _add(g, tmp, signature_def_map={"sig": {"inputs": {"x": x}, "outputs": {"y": "y:7"}}})


def _reserved_key(tmp: Path) -> Thunk:
    g, x, y = _simple()
    return _add(g, tmp, signature_def_map={
        "__saved_model_init_op": predict_signature_def({"x": x}, {"y": y})})


def _classify_float_input(tmp: Path) -> Thunk:
    g, x, y = _simple()
    return lambda: classification_signature_def(x, None, y)


def _classify_extra_output(tmp: Path) -> Thunk:
    g, x, y = _simple()
    words = g.placeholder("words", "string", [None])
    return _add(g, tmp, signature_def_map={"cls": {
        "inputs": {"inputs": words}, "outputs": {"scores": y, "logits": y},
        "method_name": "classify"}})


def _regress_int_output(tmp: Path) -> Thunk:
    g, x, y = _simple()
    words = g.placeholder("words", "string", [None])
    ids = g.op("Cast", [y], DstT="int32", name="ids")
    return lambda: regression_signature_def(words, ids)


def _regress_wrong_key(tmp: Path) -> Thunk:
    g, x, y = _simple()
    words = g.placeholder("words", "string", [None])
    return _add(g, tmp, signature_def_map={"reg": {
        "inputs": {"inputs": words}, "outputs": {"predictions": y},
        "method_name": "regress"}})


def _duplicate_tags(tmp: Path) -> Thunk:
    b = _added(tmp)
    return lambda: b.add_meta_graph(["serve"])


def _export_dir_not_empty(tmp: Path) -> Thunk:
    target = tmp / "model"
    target.mkdir()
    (target / "old.txt").write_text("keep me")
    return lambda: SavedModelBuilder(target)


def _export_dir_filled_before_save(tmp: Path) -> Thunk:
    b = _added(tmp)
    (tmp / "model").mkdir()
    (tmp / "model" / "other.txt").write_text("someone else's")
    return b.save


def _export_path_is_file(tmp: Path) -> Thunk:
    (tmp / "model").write_text("a file")
    return lambda: SavedModelBuilder(tmp / "model")


def _asset(tmp: Path, path: str) -> Thunk:
    g, _, _ = _simple()
    g.asset(path, name="vocab")
    return _add(g, tmp)


def _asset_mapping(tmp: Path, path: str) -> Thunk:
    g, _, _ = _simple()
    vocab = tmp / "vocab.txt"
    vocab.write_text("a\nb\n")
    tensor = g.asset(str(vocab), name="vocab")
    return _add(g, tmp, assets={tensor: path})


def _add_meta_graph_first(tmp: Path) -> Thunk:
    b = _builder(tmp)
    return lambda: b.add_meta_graph(["serve"])


def _save_first(tmp: Path) -> Thunk:
    return _builder(tmp).save


def _add_after_save(tmp: Path) -> Thunk:
    b = _added(tmp)
    b.save()
    return lambda: b.add_meta_graph(["other"])


def _add_variables_twice(tmp: Path) -> Thunk:
    b = _added(tmp)
    g, _, _ = _simple()
    return lambda: b.add_meta_graph_and_variables(g, ["train"])


def _too_big_saved_model(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Thunk:
    # A 64 KiB limit stands in for protobuf's 2 GiB (a real one needs ~10 GB of copies).
    monkeypatch.setattr(builder_module, "MAX_SAVED_MODEL_BYTES", 64 << 10)
    g, _, _ = _simple()
    g.constant(np.zeros(100_000, np.float32), name="embedding_table")
    b = _builder(tmp)
    b.add_meta_graph_and_variables(g, ["serve"])
    return b.save


def _too_big_constant(tmp: Path) -> Thunk:
    # np.zeros maps untouched zero pages: 2 GiB that costs no memory until read.
    value = np.zeros((1 << 29) + (1 << 14), np.float32)
    return lambda: Graph().constant(value, name="embedding_table")


def _corrupt_saved_model(tmp: Path) -> Thunk:
    target = tmp / "model"
    target.mkdir()
    (target / "saved_model.pb").write_bytes(b"\xff\xff\xff\xff not a proto")
    return lambda: read_saved_model(target)


def _init_op_missing(tmp: Path) -> Thunk:
    g, _, _ = _simple()
    return _add(g, tmp, init_op="init_all_tables")


def _damaged_checkpoint(tmp: Path, damage: Callable[[Path], None]) -> Thunk:
    prefix = tmp / "ckpt"
    pysavedmodel.write_checkpoint(prefix, {"layer/w": np.arange(64, dtype=np.float32)})
    damage(tmp)
    return lambda: pysavedmodel.read_checkpoint(prefix)


def _flip_data_byte(tmp: Path) -> None:
    path = tmp / "ckpt.data-00000-of-00001"
    data = bytearray(path.read_bytes())
    data[17] ^= 0x40
    path.write_bytes(bytes(data))


def _truncate(name: str, keep: int) -> Callable[[Path], None]:
    def damage(tmp: Path) -> None:
        path = tmp / name
        path.write_bytes(path.read_bytes()[:keep])
    return damage


def _asset_filename_in_model(tmp: Path, filename: str) -> Thunk:
    from pysavedmodel._proto import meta_graph_pb2
    from pysavedmodel.savedmodel.loader import asset_paths

    meta_graph = meta_graph_pb2.MetaGraphDef()
    meta_graph.asset_file_def.add(filename=filename).tensor_info.name = "vocab:0"
    return lambda: asset_paths(tmp / "model", meta_graph)


def _truncated_onnx(tmp: Path) -> Thunk:
    """An ONNX file cut short: not a model (the ONNX extra is installed in the test venv)."""
    from tests.onnx.cases import model, node, rand

    path = tmp / "cut.onnx"
    path.write_bytes(model([node("Relu", ["x"], ["y"])], {"x": rand(2)},
                           ["y"]).SerializeToString()[:-7])
    return lambda: pysavedmodel.from_onnx(path, tmp / "out")


def _unsupported_onnx_op(tmp: Path) -> Thunk:
    """A valid ONNX model using an op the converter does not cover."""
    from tests.onnx.cases import model, node, rand

    proto = model([node("Det", ["x"], ["y"])], {"x": rand(3, 3)}, ["y"])
    return lambda: pysavedmodel.from_onnx(proto, tmp / "out")


def _torch_file_without_torch(tmp: Path) -> Thunk:
    """A PyTorch file read where torch cannot be imported (as on a core install)."""
    import sys

    from pysavedmodel.weights import load_weights

    path = tmp / "weights.pt"
    path.write_bytes(b"PK\x03\x04 not read: torch is looked for first")

    def call() -> None:
        saved = sys.modules.get("torch", _ABSENT)
        sys.modules["torch"] = None  # type: ignore[assignment]  # import torch -> ImportError
        try:
            load_weights(path)
        finally:
            if saved is _ABSENT:
                del sys.modules["torch"]
            else:
                sys.modules["torch"] = saved  # type: ignore[assignment]
    return call


_ABSENT = object()


def _checkpoint_on_a_full_disk(tmp: Path) -> Thunk:
    """A checkpoint write that the filesystem refuses (ENOSPC, injected in the writer)."""
    import errno

    from pysavedmodel.format import writer

    def full(self: Any, data: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def call() -> None:
        # Every tensor byte goes through the shard output's write (small-tensor runs and
        # large tensors alike).
        real = writer._ShardOutput.write
        writer._ShardOutput.write = full  # type: ignore[method-assign]
        try:
            _ckpt(tmp, {"w": _REF})()
        finally:
            writer._ShardOutput.write = real  # type: ignore[method-assign]
    return call

_MONKEYPATCHED = {"saved_model_over_limit": _too_big_saved_model}

_REF = np.zeros(2, np.float32)
IAE, UDE, NFE = errors.InvalidArgumentError, errors.UnsupportedDTypeError, errors.NotFoundError
GE, OE, SE = errors.GraphError, errors.OpError, errors.SignatureError
BSE, AEE = errors.BuilderStateError, errors.AlreadyExistsError

CASES: list[Case] = [
    # ---- storage
    Case("checkpoint_disk_full", _checkpoint_on_a_full_disk, errors.StorageError, OSError,
         ("cannot write", "No space left")),
    # ---- optional dependencies
    Case("torch_file_without_torch", _torch_file_without_torch, errors.MissingDependencyError,
         ImportError, ("torch", "pip install")),
    # ---- ONNX conversion
    Case("onnx_truncated", _truncated_onnx, errors.ModelError, ValueError,
         ("cut.onnx", "not a valid ONNX model")),
    Case("onnx_unsupported_op", _unsupported_onnx_op, errors.UnsupportedError,
         NotImplementedError, ("Det", "Det_y", "unsupported")),
    # ---- checkpoint tensor names
    Case("ckpt_empty_name", lambda t: _ckpt(t, {"": _REF}), IAE, ValueError,
         ("tensor name", "empty")),
    Case("ckpt_name_not_str", lambda t: _ckpt(t, {7: _REF}), IAE, ValueError,
         ("7", "str")),
    Case("ckpt_bytes_name_same_as_str", lambda t: _ckpt(t, {"w": _REF, b"w": _REF}), IAE,
         ValueError, ("b'w'", "str")),
    Case("ckpt_duplicate_name", _writer_add_twice, IAE, ValueError,
         ("'layer/w'", "already added")),
    # ---- checkpoint values
    Case("ckpt_object_array_of_ints",
         lambda t: _ckpt(t, {"o": np.array([1, None], dtype=object)}), IAE, ValueError,
         ("'o'", "int 1", "bytes or str")),
    Case("ckpt_datetime64",
         lambda t: _ckpt(t, {"when": np.array(["2024-01-01"], dtype="datetime64[D]")}),
         UDE, TypeError, ("'when'", "datetime64")),
    Case("ckpt_structured_dtype",
         lambda t: _ckpt(t, {"rec": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f4")])}),
         UDE, TypeError, ("'rec'", "('a', '<i4')")),
    Case("ckpt_ragged_list", lambda t: _ckpt(t, {"r": [[1.0, 2.0], [3.0]]}), IAE, ValueError,
         ("'r'", "inhomogeneous")),
    Case("ckpt_unsupported_dtype",
         lambda t: _ckpt(t, {"ld": np.zeros(2, np.longdouble)}), UDE, TypeError,
         ("'ld'", "float128")),
    Case("ckpt_python_datetime",
         lambda t: _ckpt(t, {"d": datetime.date(2024, 1, 1)}), IAE, ValueError,
         ("'d'", "date")),
    Case("ckpt_num_shards_zero", lambda t: _ckpt(t, {"a": _REF}, num_shards=0), IAE,
         ValueError, ("num_shards", "0", ">= 1")),
    Case("ckpt_num_shards_negative", lambda t: _ckpt(t, {"a": _REF}, num_shards=-3), IAE,
         ValueError, ("num_shards", "-3", ">= 1")),
    Case("ckpt_more_shards_than_tensors", lambda t: _ckpt(t, {"a": _REF}, num_shards=3), IAE,
         ValueError, ("shard(s) [1, 2]", "no tensor")),
    Case("ckpt_add_after_finish", _writer_add_after_finish, BSE, RuntimeError,
         ("ckpt", "already finished")),
    Case("ckpt_read_missing", lambda t: lambda: pysavedmodel.read_checkpoint(t / "nope"), NFE,
         FileNotFoundError, ("nope.index",)),
    # ---- graph values
    Case("const_object_array", lambda t: _const(np.array([{}, 1], dtype=object), "objs"),
         IAE, ValueError, ("'objs'", "{}", "str or bytes")),
    Case("const_datetime64", lambda t: _const(np.datetime64("2024-01-01"), "day"), UDE,
         TypeError, ("'day'", "datetime64")),
    Case("variable_structured", lambda t: lambda: Graph().variable(
        "rec", np.zeros(1, dtype=[("a", "<i4")])), UDE, TypeError, ("'rec'", "('a', '<i4')")),
    Case("const_ragged", lambda t: _const([[1, 2], [3]], "rag"), IAE, ValueError,
         ("'rag'", "[[1, 2], [3]]", "ragged", "equal lengths")),
    Case("variable_resource_dtype", lambda t: lambda: Graph().variable("h", 0, dtype="resource"),
         UDE, TypeError, ("'h'", "resource")),
    # ---- graph structure
    Case("unknown_op", lambda t: _graph_with(lambda g: g.op("Matmul", ["a", "b"])), OE,
         ValueError, ("'Matmul'", "'MatMul'")),
    Case("wrong_input_count", lambda t: _graph_with(lambda g: g.op("MatMul", ["a"])), OE,
         ValueError, ("MatMul", "2", "1")),
    Case("attr_wrong_type",
         lambda t: _graph_with(lambda g: g.op("MatMul", ["a", "b"], transpose_a="yes")),
         OE, ValueError, ("transpose_a", "'yes'", "bool")),
    Case("attr_not_allowed",
         lambda t: _graph_with(lambda g: g.op("Conv2D", ["a", "b"], strides=[1, 1, 1, 1],
                                              padding="SOMETIMES")),
         OE, ValueError, ("padding", "SOMETIMES", "VALID")),
    Case("attr_type_not_allowed",
         lambda t: _graph_with(lambda g: g.op("Placeholder", [], name="p", dtype="bool")
                               and g.op("MatMul", ["p", "p"])),
         OE, ValueError, ("MatMul", "bool")),
    Case("input_missing_node", lambda t: _graph_with(lambda g: g.op("Identity", ["ghost:0"])),
         GE, ValueError, ("'ghost'",)),
    Case("input_missing_output_index",
         lambda t: _graph_with(lambda g: g.op("Identity", ["a:3"])), GE, ValueError,
         ("'a'", "output 3", "1 output")),
    Case("control_input_missing",
         lambda t: _graph_with(lambda g: g.op("NoOp", [], control_inputs=["ghost"])), GE,
         ValueError, ("'ghost'", "control input")),
    Case("cycle", lambda t: lambda: Graph.from_dict({"node": [
        {"name": "p", "op": "Identity", "input": ["q"], "attr": {"T": "float32"}},
        {"name": "q", "op": "Identity", "input": ["p"], "attr": {"T": "float32"}}]}),
        GE, ValueError, ("cycle", "p -> q -> p")),
    Case("invalid_node_name",
         lambda t: lambda: Graph().placeholder("bad name!", "float32", [1]), GE, ValueError,
         ("'bad name!'", "[A-Za-z0-9.]")),
    Case("duplicate_node_name", lambda t: lambda: Graph.from_dict({"node": [
        {"name": "n", "op": "NoOp"}, {"name": "n", "op": "NoOp"}]}), GE, ValueError,
        ("duplicate", "'n'")),
    # ---- variables
    Case("variable_wrong_dtype", lambda t: _add(_dict_graph(), t,
                                                variables={"w": np.zeros(2, np.float64)}),
         IAE, ValueError, ("'w'", "float32", "float64")),
    Case("variable_wrong_shape", lambda t: _add(_dict_graph(), t,
                                                variables={"w": np.zeros(3, np.float32)}),
         IAE, ValueError, ("'w'", "[2]", "[3]")),
    Case("variable_missing_value", lambda t: _add(_dict_graph(), t), IAE, ValueError,
         ("'w'", "no value", "variables=")),
    Case("variable_value_for_non_variable",
         lambda t: _add(_dict_graph(), t, variables={"w": _REF, "y": _REF}), IAE, ValueError,
         ("'y'", "not VarHandleOps")),
    # ---- signatures
    Case("tf2_train_op", lambda t: _tf2_with(t, "train_op"), errors.FormatError, ValueError,
         ("train_op", "format='tf2'", "format='tf1'")),
    Case("tf2_second_meta_graph", lambda t: _tf2_with(t, "meta_graph"), errors.FormatError,
         ValueError, ("add_meta_graph()", "one meta graph", "format='tf1'")),
    Case("tf2_input_not_placeholder", lambda t: _tf2_with(t, "input"), errors.FormatError,
         ValueError, ("'serving_default'", "input 'm'", "Placeholder", "format='tf1'")),
    Case("signature_missing_tensor", _signature_missing_tensor, SE, ValueError,
         ("'serving_default'", "'nope:0'", "not in the graph")),
    Case("signature_missing_output_index", _signature_missing_output, SE, ValueError,
         ("'sig'", "'y:7'", "not in the graph")),
    Case("signature_reserved_key", _reserved_key, SE, ValueError,
         ("'__saved_model_init_op'", "reserved")),
    Case("classify_float_input", _classify_float_input, SE, ValueError,
         ("classify", "'x:0'", "DT_STRING", "DT_FLOAT")),
    Case("classify_extra_output", _classify_extra_output, SE, ValueError,
         ("'cls'", "'logits'", "'classes' and/or 'scores'")),
    Case("regress_int_output", _regress_int_output, SE, ValueError,
         ("regress", "'ids:0'", "DT_FLOAT", "DT_INT32")),
    Case("regress_wrong_output_key", _regress_wrong_key, SE, ValueError,
         ("'reg'", "'predictions'", "exactly 'outputs'")),
    # ---- tags, export dir, assets
    Case("tags_empty",
         lambda t: lambda: _builder(t).add_meta_graph_and_variables(_simple()[0], []),
         IAE, ValueError, ("tags", "non-empty")),
    Case("tag_empty_string",
         lambda t: lambda: _builder(t).add_meta_graph_and_variables(_simple()[0], ["serve", ""]),
         IAE, ValueError, ("''", "non-empty string")),
    Case("tags_a_string",
         lambda t: lambda: _builder(t).add_meta_graph_and_variables(_simple()[0], "serve"),
         IAE, ValueError, ("'serve'", "list of strings")),
    Case("duplicate_tag_set", _duplicate_tags, IAE, ValueError,
         ("['serve']", "already used")),
    Case("export_dir_not_empty", _export_dir_not_empty, AEE, FileExistsError,
         ("model", "not empty")),
    Case("export_dir_filled_before_save", _export_dir_filled_before_save, AEE,
         FileExistsError, ("model", "not empty")),
    Case("export_path_is_a_file", _export_path_is_file, AEE, FileExistsError,
         ("model", "not a directory")),
    Case("asset_source_missing", lambda t: _asset(t, str(t / "missing.txt")), NFE,
         FileNotFoundError, ("missing.txt", "does not exist")),
    Case("asset_name_dotdot", lambda t: _asset(t, str(t / "sub" / "..")), IAE, ValueError,
         ("'..'", "assets/")),
    Case("asset_name_root", lambda t: _asset(t, "/"), IAE, ValueError,
         ("'/'", "assets/")),
    Case("asset_mapping_dotdot", lambda t: _asset_mapping(t, ".."), IAE, ValueError,
         ("'..'", "assets/")),
    Case("asset_source_is_directory", lambda t: _asset(t, str(t)), NFE, FileNotFoundError,
         ("not a regular file",)),
    # ---- call order
    Case("add_meta_graph_first", _add_meta_graph_first, BSE, RuntimeError,
         ("add_meta_graph()", "add_meta_graph_and_variables()")),
    Case("save_first", _save_first, BSE, RuntimeError,
         ("save()", "add_meta_graph_and_variables()")),
    Case("add_after_save", _add_after_save, BSE, RuntimeError,
         ("add_meta_graph()", "after save()")),
    Case("add_variables_twice", _add_variables_twice, BSE, RuntimeError,
         ("add_meta_graph_and_variables()", "already called")),
    Case("init_op_missing", _init_op_missing, NFE, KeyError,
         ("init_op", "'init_all_tables'")),
    # ---- sizes and files
    Case("saved_model_over_limit", lambda t: lambda: None, IAE, ValueError,
         ("saved_model.pb", "'embedding_table' (400,000 bytes)", "65,536-byte", "2 GiB",
          "into variables")),
    Case("constant_over_2_gib", _too_big_constant, IAE, ValueError,
         ("'embedding_table'", "2,147,549,184-byte", "2 GiB", "into a variable")),
    Case("corrupt_saved_model", _corrupt_saved_model, errors.CorruptSavedModelError, ValueError,
         ("saved_model.pb",)),
    # ---- what readers refuse
    Case("ckpt_data_byte_flipped", lambda t: _damaged_checkpoint(t, _flip_data_byte),
         errors.ChecksumError, ValueError, ("'layer/w'", "offset 0", "checksum does not match")),
    Case("ckpt_data_truncated",
         lambda t: _damaged_checkpoint(t, _truncate("ckpt.data-00000-of-00001", 100)),
         errors.CorruptCheckpointError, ValueError, ("'layer/w'", "ckpt.data-00000-of-00001")),
    Case("ckpt_index_truncated",
         lambda t: _damaged_checkpoint(t, _truncate("ckpt.index", 30)),
         errors.CorruptCheckpointError, ValueError, ("ckpt.index",)),
    Case("ckpt_data_file_missing",
         lambda t: _damaged_checkpoint(t, lambda d: (d / "ckpt.data-00000-of-00001").unlink()),
         NFE, FileNotFoundError, ("ckpt.data-00000-of-00001",)),
    Case("model_asset_escapes", lambda t: _asset_filename_in_model(t, "../../etc/passwd"),
         errors.CorruptSavedModelError, ValueError, ("'../../etc/passwd'", "'..'")),
    Case("model_asset_absolute", lambda t: _asset_filename_in_model(t, "/etc/passwd"),
         errors.CorruptSavedModelError, ValueError, ("'/etc/passwd'", "absolute")),
    Case("saved_model_missing", lambda t: lambda: read_saved_model(t / "nowhere"), NFE,
         FileNotFoundError, ("nowhere",)),
]


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with the bytes of files (None for directories)."""
    out: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            out[os.path.relpath(os.path.join(dirpath, name), root)] = None
        for name in filenames:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = Path(path).read_bytes()
    return out


def test_catalogue_is_large_and_distinct() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert issubclass(case.error, case.builtin)
    special = _MONKEYPATCHED.get(case.id)
    call = special(tmp_path, monkeypatch) if special else case.setup(tmp_path)
    before = _tree(tmp_path)
    with pytest.raises(case.error) as info:
        call()
    assert isinstance(info.value, errors.Error)
    assert isinstance(info.value, case.builtin)
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in case.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert _tree(tmp_path) == before


# --------------------------------------------------------------------------- the limits' edges

def _model_with_constant(target: Path) -> SavedModelBuilder:
    g, _, _ = _simple()
    g.constant(np.arange(10_000, dtype=np.float32), name="table")
    b = SavedModelBuilder(target)
    b.add_meta_graph_and_variables(g, ["serve"])
    b.add_meta_graph(["other"])
    return b


@pytest.mark.parametrize("as_text", [False, True])
def test_size_limit_is_the_exact_saved_model_pb_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_text: bool) -> None:
    size = _model_with_constant(tmp_path / "first").save().stat().st_size
    monkeypatch.setattr(builder_module, "MAX_SAVED_MODEL_BYTES", size)
    _model_with_constant(tmp_path / "at_limit").save()
    monkeypatch.setattr(builder_module, "MAX_SAVED_MODEL_BYTES", size - 1)
    over = _model_with_constant(tmp_path / "over")
    with pytest.raises(errors.InvalidArgumentError, match=f"would be {size:,} bytes"):
        over.save(as_text=as_text)  # a .pbtxt is parsed into the same message by TF
    assert sorted(p.name for p in tmp_path.iterdir()) == ["at_limit", "first"]


def test_asset_source_with_dotdot_components_stays_inside_assets(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "vocab.txt").write_text("a\nb\n")
    source = tmp_path / "data" / ".." / "data" / "vocab.txt"
    g, _, _ = _simple()
    g.asset(str(source), name="vocab")
    b = SavedModelBuilder(tmp_path / "out" / "model")
    b.add_meta_graph_and_variables(g, ["serve"])
    b.save()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model"]
    assert [p.name for p in (tmp_path / "out" / "model" / "assets").iterdir()] == ["vocab.txt"]
