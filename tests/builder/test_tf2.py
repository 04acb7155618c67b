"""TF2 exports (``SavedModelBuilder(format="tf2")``, pysavedmodel.builder.tf2): the
SavedObjectGraph, the object-based checkpoint, the functions and SaverDef, and what a
TF2 export refuses.  TensorFlow's view of the same files: tests/interop/test_tf2_interop.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pysavedmodel as psm
from pysavedmodel import Function
from pysavedmodel._proto import saved_model_pb2
from pysavedmodel.errors import BuilderStateError, InvalidArgumentError, SignatureError
from pysavedmodel.format.bundle_reader import read_checkpoint
from pysavedmodel.format.object_graph import OBJECT_GRAPH_KEY, parse_object_graph
from pysavedmodel.savedmodel.validate import validate_saved_model

KERNEL = np.arange(6, dtype=np.float32).reshape(3, 2)
BIAS = np.array([0.5, -1.0], np.float32)


def dense_graph() -> tuple[psm.Graph, dict[str, Any]]:
    g = psm.Graph()
    x = g.placeholder("x", "float32", [None, 3])
    kernel = g.variable("dense/kernel", KERNEL)
    bias = g.variable("dense/bias", BIAS)
    scale = g.variable("scale", np.float32(2), trainable=False)
    y = g.op("AddV2", [g.op("Mul", [g.op("MatMul", [x, kernel]), scale]), bias], name="y")
    return g, {"serving_default": psm.predict_signature_def({"x": x}, {"y": y})}


def save(export: Path, g: psm.Graph, signatures: Any, **kwargs: Any) -> Path:
    builder = psm.SavedModelBuilder(export, format="tf2")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map=signatures, **kwargs)
    builder.save(fingerprint=True)
    return export


def meta_graph(export: Path) -> Any:
    model = saved_model_pb2.SavedModel.FromString((export / "saved_model.pb").read_bytes())
    assert len(model.meta_graphs) == 1
    return model.meta_graphs[0]


def test_object_graph_has_the_module_layout(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    meta = meta_graph(save(tmp_path / "m", g, sigs))
    nodes = meta.object_graph_def.nodes
    root = {c.local_name: c.node_id for c in nodes[0].children}
    assert list(root) == ["dense", "scale", "variables", "trainable_variables",
                          "regularization_losses", "__call__", "serve", "signatures"]
    assert root["__call__"] == root["serve"]
    dense = {c.local_name: c.node_id for c in nodes[root["dense"]].children}
    kernel, bias = nodes[dense["kernel"]].variable, nodes[dense["bias"]].variable
    assert (kernel.name, kernel.trainable, [d.size for d in kernel.shape.dim]) == \
        ("dense/kernel", True, [3, 2])
    assert (bias.name, bias.trainable) == ("dense/bias", True)
    assert nodes[root["scale"]].variable.trainable is False
    trainable = [c.node_id for c in nodes[root["trainable_variables"]].children]
    assert trainable == [dense["kernel"], dense["bias"]]
    assert len(nodes[root["variables"]].children) == 3
    assert not nodes[root["regularization_losses"]].children
    serve = nodes[root["serve"]].function
    (concrete,) = serve.concrete_functions
    assert concrete.startswith("__inference_serve_")
    saved = meta.object_graph_def.concrete_functions[concrete]
    assert sorted(saved.bound_inputs) == sorted([dense["kernel"], dense["bias"], root["scale"]])
    signatures = {c.local_name: c.node_id for c in nodes[root["signatures"]].children}
    wrapper = nodes[signatures["serving_default"]].bare_concrete_function
    assert wrapper.argument_keywords == ["x"]
    functions = {f.signature.name: f for f in meta.graph_def.library.function}
    assert concrete in functions and wrapper.concrete_function_name in functions
    resources = [a for a in functions[concrete].signature.input_arg if a.type == 20]
    assert len(resources) == 3 and all(a.handle_data for a in resources)
    assert sorted(meta.signature_def) == ["__saved_model_init_op", "serving_default"]
    assert meta.signature_def["serving_default"].inputs["x"].name == "serving_default_x:0"
    assert meta.saver_def.restore_op_name.startswith("StatefulPartitionedCall")


def test_checkpoint_uses_object_paths_in_node_order(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    export = save(tmp_path / "m", g, sigs)
    values = read_checkpoint(export / "variables" / "variables")
    assert sorted(values) == sorted(["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE",
                                     "dense/bias/.ATTRIBUTES/VARIABLE_VALUE",
                                     "scale/.ATTRIBUTES/VARIABLE_VALUE", OBJECT_GRAPH_KEY])
    np.testing.assert_array_equal(values["dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"], KERNEL)
    graph = parse_object_graph(values[OBJECT_GRAPH_KEY])
    # The checkpoint's object graph pairs with the SavedObjectGraph node for node.
    saved = meta_graph(export).object_graph_def
    assert len(graph.nodes) == len(saved.nodes)
    for ours, theirs in zip(graph.nodes, saved.nodes):
        assert [(c.node_id, c.local_name) for c in ours.children] == \
            [(c.node_id, c.local_name) for c in theirs.children]
    restore = next(f for f in meta_graph(export).graph_def.library.function
                   if f.signature.name.startswith("__inference__traced_restore_"))
    names = next(n for n in restore.node_def if n.name == "RestoreV2/tensor_names")
    assert OBJECT_GRAPH_KEY.encode() in names.attr["value"].tensor.string_val


def test_export_validates_clean_and_is_deterministic(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    first = save(tmp_path / "a", g, sigs)
    second = save(tmp_path / "b", g, sigs)
    assert validate_saved_model(first) == []
    for name in ("saved_model.pb", "fingerprint.pb", "variables/variables.index",
                 "variables/variables.data-00000-of-00001"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_control_flow_functions_reach_the_library(tmp_path: Path) -> None:
    double = Function("double")
    x = double.arg("x", "float32", [None])
    double.ret("y", double.graph.op("AddV2", [x, x]))
    g = psm.Graph()
    inp = g.placeholder("x", "float32", [None])
    y = g.op("Identity", [g.op("PartitionedCall", [[inp]], f=double)], name="y")
    meta = meta_graph(save(tmp_path / "m", g, {"serving_default": psm.predict_signature_def(
        {"x": inp}, {"y": y})}))
    assert "double" in {f.signature.name for f in meta.graph_def.library.function}
    assert validate_saved_model(tmp_path / "m") == []


# --------------------------------------------------------------------------- bad input

def _refused(tmp_path: Path, g: psm.Graph, sigs: Any, error: type[Exception], match: str,
             **kwargs: Any) -> None:
    export = tmp_path / "refused"
    with pytest.raises(error, match=match):
        save(export, g, sigs, **kwargs)
    assert not export.exists()
    assert list(tmp_path.iterdir()) == []


def test_serve_depending_on_a_placeholder_outside_the_signature_is_refused(
        tmp_path: Path) -> None:
    g = psm.Graph()
    x = g.placeholder("x", "float32", [None])
    other = g.placeholder("other", "float32", [None])
    y = g.op("AddV2", [x, other], name="y")
    _refused(tmp_path, g, {"serving_default": psm.predict_signature_def({"x": x}, {"y": y})},
             SignatureError, r"signature 'serving_default'.*placeholder 'other'")


def test_signature_input_that_is_not_a_placeholder_is_refused(tmp_path: Path) -> None:
    g = psm.Graph()
    x = g.placeholder("x", "float32", [None])
    mid = g.op("Neg", [x], name="mid")
    y = g.op("Identity", [mid], name="y")
    _refused(tmp_path, g, {"serving_default": psm.predict_signature_def({"m": mid}, {"y": y})},
             SignatureError, r"signature 'serving_default': input 'm' is 'mid:0', a Neg")


def test_export_without_signatures_is_refused(tmp_path: Path) -> None:
    g, _ = dense_graph()
    _refused(tmp_path, g, None, SignatureError, "at least one signature")


def test_variable_named_like_a_root_attribute_is_refused(tmp_path: Path) -> None:
    g = psm.Graph()
    x = g.placeholder("x", "float32", [None])
    v = g.variable("serve", np.float32(1))
    y = g.op("Mul", [x, v], name="y")
    _refused(tmp_path, g, {"serving_default": psm.predict_signature_def({"x": x}, {"y": y})},
             InvalidArgumentError, r"variable 'serve'.*format='tf1'")


@pytest.mark.parametrize("option", ["init_op", "train_op"])
def test_tf1_only_options_are_refused(tmp_path: Path, option: str) -> None:
    g, sigs = dense_graph()
    op = g.group([g.node("y").name])
    _refused(tmp_path, g, sigs, InvalidArgumentError, f"{option} is not supported by "
             "format='tf2'", **{option: op})


def test_tf2_export_has_one_meta_graph(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    builder = psm.SavedModelBuilder(tmp_path / "m", format="tf2")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map=sigs)
    with pytest.raises(BuilderStateError, match="format='tf1'"):
        builder.add_meta_graph(["gpu"])


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="format must be one of 'tf2', 'tf1'"):
        psm.SavedModelBuilder(tmp_path / "m", format="tf3")
