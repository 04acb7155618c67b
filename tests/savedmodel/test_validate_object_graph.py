"""validate on TF2 SavedModels: the object graph against the checkpoint and function library.

Starts from the TF-written fixture ``savedmodel_v2_module`` (no findings) and
breaks one thing at a time in a copy.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysavedmodel._proto import saved_model_pb2
from pysavedmodel.format.bundle import write_checkpoint
from pysavedmodel.format.bundle_reader import read_checkpoint
from pysavedmodel.savedmodel.validate import validate_saved_model
from tests.support.tf import FIXTURES

FIXTURE = FIXTURES / "savedmodel_v2_module"
Model = saved_model_pb2.SavedModel


def _copy(tmp_path: Path, edit: Callable[[Model], None] | None = None) -> Path:
    root = tmp_path / "m"
    shutil.copytree(FIXTURE, root)
    if edit is not None:
        model = Model.FromString((root / "saved_model.pb").read_bytes())
        edit(model)
        (root / "saved_model.pb").write_bytes(model.SerializeToString())
    return root


def _codes(root: Path) -> dict[str, str]:
    return {f.code: f"{f.where}: {f.message}" for f in validate_saved_model(root)}


def test_tf_written_v2_model_has_no_findings() -> None:
    assert validate_saved_model(FIXTURE) == []


def _child_out_of_range(model: Model) -> None:
    model.meta_graphs[0].object_graph_def.nodes[0].children[0].node_id = 99


def _function_not_in_library(model: Model) -> None:
    graph = model.meta_graphs[0].graph_def
    name = next(iter(model.meta_graphs[0].object_graph_def.concrete_functions))
    keep = [f for f in graph.library.function if f.signature.name != name]
    del graph.library.function[:]
    graph.library.function.extend(keep)


def _unknown_concrete_function(model: Model) -> None:
    for node in model.meta_graphs[0].object_graph_def.nodes:
        if node.WhichOneof("kind") == "function":
            node.function.concrete_functions[0] = "__inference_missing_1"
            return
    raise AssertionError("fixture has no SavedFunction")


def _variable_dtype(model: Model) -> None:
    for node in model.meta_graphs[0].object_graph_def.nodes:
        if node.WhichOneof("kind") == "variable":
            node.variable.dtype = 2  # DT_DOUBLE; the checkpoint holds float32
            return
    raise AssertionError("fixture has no SavedVariable")


def _asset_out_of_range(model: Model) -> None:
    """An asset object naming an asset_file_def the meta graph (none here) lacks."""
    nodes = model.meta_graphs[0].object_graph_def.nodes
    nodes[-1].asset.asset_file_def_index = 3


def _node_dropped(model: Model) -> None:
    nodes = model.meta_graphs[0].object_graph_def.nodes
    nodes.add().CopyFrom(nodes[-1])


def _call_function(model: Model) -> Any:
    graph = model.meta_graphs[0].object_graph_def
    return next(f for name, f in graph.concrete_functions.items() if "wrapper" not in name)


def _serve_takes_another_input(model: Model) -> None:
    """The function's input signature gains a tensor its FunctionDef does not take."""
    args = _call_function(model).canonicalized_input_signature.tuple_value.values[0]
    args.tuple_value.values.add().CopyFrom(args.tuple_value.values[0])


def _output_dtype_changed(model: Model) -> None:
    output = _call_function(model).output_signature.dict_value.fields["y"]
    output.tensor_spec_value.dtype = 3  # DT_INT32; the FunctionDef returns float


@pytest.mark.parametrize(("edit", "code", "word"), [
    (_serve_takes_another_input, "object-function-signature",
     "takes 3 argument(s); the input signature has 2 tensor(s) and 2 bound input(s)"),
    (_output_dtype_changed, "object-function-signature",
     "is DT_FLOAT but the output signature says DT_INT32"),
    (_child_out_of_range, "object-graph-reference", "node 99"),
    (_asset_out_of_range, "object-graph-reference", "asset_file_def 3; the meta graph has 0"),
    (_function_not_in_library, "object-function-missing", "function library"),
    (_unknown_concrete_function, "object-function-missing", "__inference_missing_1"),
    (_variable_dtype, "variable-dtype-mismatch", "DT_DOUBLE"),
    (_node_dropped, "object-graph-mismatch", "pairs them by index"),
])
def test_broken_object_graph_is_reported(tmp_path: Path, edit: Callable[[Model], None],
                                         code: str, word: str) -> None:
    codes = _codes(_copy(tmp_path, edit))
    assert code in codes, codes
    assert word in codes[code]


def test_checkpoint_key_missing_is_reported(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    prefix = root / "variables" / "variables"
    values = read_checkpoint(prefix)
    del values["b/.ATTRIBUTES/VARIABLE_VALUE"]
    values["w/.ATTRIBUTES/VARIABLE_VALUE"] = np.zeros((3, 2), np.float32)
    write_checkpoint(prefix, values)
    codes = _codes(root)
    assert "'b/.ATTRIBUTES/VARIABLE_VALUE'" in codes["object-checkpoint-key-missing"]


def test_fingerprint_is_recomputed_and_compared(tmp_path: Path) -> None:
    from pysavedmodel._proto import fingerprint_pb2

    root = _copy(tmp_path)
    path = root / "fingerprint.pb"
    fp = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    fp.signature_def_hash ^= 1
    path.write_bytes(fp.SerializeToString())
    codes = _codes(root)
    assert list(codes) == ["fingerprint-mismatch"]
    assert "signature_def_hash" in codes["fingerprint-mismatch"]
    path.write_bytes(b"\xff\xff")
    assert "does not parse" in _codes(root)["fingerprint-mismatch"]
