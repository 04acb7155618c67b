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
from pysavedmodel._proto import saved_model_pb2, types_pb2
from pysavedmodel.errors import FormatError, InvalidArgumentError
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


def _varied_graph() -> tuple[psm.Graph, Any]:
    """Nodes of every kind the body copy meets: taken over as they are, with control
    inputs, with list inputs, handed out (and edited), imported from a GraphDef with
    ``_output_shapes`` and ``_class`` attrs (left out), after a node whose shape the
    function cannot know (a resource read)."""
    g, sigs = dense_graph()
    y = g.get_tensor("y")
    z = g.op("Relu", [y], name="z", control_inputs=[g.get_tensor("MatMul")])
    both = g.op("ConcatV2", [[y, z], -1], name="both")
    g.op("Tanh", [both], name="tanh")
    graph_def = g.as_graph_def(add_shapes=True)  # _output_shapes: dropped from bodies
    for node in graph_def.node:
        if node.name in ("both", "dense/kernel"):
            node.attr["_class"].list.s.append(b"loc:@" + node.name.encode())
    imported = psm.Graph.from_dict(graph_def)  # values: given to the builder
    imported.node("tanh").attr["T"].type = types_pb2.DT_FLOAT  # handed out, edited
    out = imported.get_tensor("tanh")
    x = imported.get_tensor("x")
    return imported, {"serving_default": psm.predict_signature_def({"x": x}, {"t": out})}


@pytest.mark.parametrize("make", [dense_graph, _varied_graph])
def test_body_copy_is_byte_identical_to_adding_every_node_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any) -> None:
    """The serve body takes the user's checked nodes over (Graph.copy_nodes_from); adding
    each through op() instead (every node checked again) writes the same bytes."""
    g, sigs = make()
    values = {"dense/kernel": KERNEL, "dense/bias": BIAS, "scale": np.float32(2)}
    fast = save(tmp_path / "fast", g, sigs, variables=values)
    monkeypatch.setattr(psm.Graph, "copy_nodes_from", lambda *args, **kwargs: False)
    slow = save(tmp_path / "slow", g, sigs, variables=values)
    for name in ("saved_model.pb", "fingerprint.pb", "variables/variables.index"):
        assert (fast / name).read_bytes() == (slow / name).read_bytes(), name
    assert validate_saved_model(fast) == []


def test_outer_reads_of_a_scalar_and_an_unknown_rank_variable_keep_their_shapes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The outer graph copies one read per variable dtype and shape attr: a scalar and a
    variable of unknown rank (both shape () in VariableSpec) are not one kind; a
    variable's device stays out of it."""
    g = psm.Graph.from_dict({"node": [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": []}},
        {"name": "s", "op": "VarHandleOp", "device": "/device:CPU:0",
         "attr": {"dtype": "float32", "shape": [], "shared_name": "s"}},
        {"name": "u", "op": "VarHandleOp",
         "attr": {"dtype": "float32", "shape": None, "shared_name": "u"}},
        {"name": "rs", "op": "ReadVariableOp", "input": ["s"], "attr": {"dtype": "float32"}},
        {"name": "ru", "op": "ReadVariableOp", "input": ["u"], "attr": {"dtype": "float32"}},
        {"name": "y", "op": "AddV2", "input": ["x", "rs"]},
        {"name": "z", "op": "Mul", "input": ["y", "ru"]},
    ]})
    sigs = {"serving_default": psm.predict_signature_def({"x": "x:0"}, {"z": "z:0"})}
    values = {"s": np.float32(1), "u": np.ones((2, 3), np.float32)}
    meta = meta_graph(save(tmp_path / "copied", g, sigs, variables=values))
    shapes = {n.name: n.attr["_output_shapes"].list.shape[0] for n in meta.graph_def.node
              if n.op == "ReadVariableOp"}
    assert not shapes["s/Read/ReadVariableOp"].unknown_rank
    assert shapes["u/Read/ReadVariableOp"].unknown_rank
    # variables are not placed in the outer graph (as TF exports them), a device or not
    assert {n.name: n.device for n in meta.graph_def.node if n.op == "VarHandleOp"} == \
        {"s": "", "u": ""}
    monkeypatch.setattr(psm.Graph, "copy_nodes_from", lambda *args, **kwargs: False)
    save(tmp_path / "each", g, sigs, variables=values)
    assert (tmp_path / "copied" / "saved_model.pb").read_bytes() == \
        (tmp_path / "each" / "saved_model.pb").read_bytes()


def test_control_edges_on_arguments_are_dropped_from_the_body(tmp_path: Path) -> None:
    """A control input on a captured variable or an input placeholder (arguments of the
    function, ready when it is called) is dropped, as TF's function graphs do; other
    control inputs stay."""
    g, _ = dense_graph()
    x, y = g.get_tensor("x"), g.get_tensor("y")
    z = g.op("Relu", [y], name="z",
             control_inputs=[g.get_tensor("dense/kernel"), x, g.get_tensor("MatMul")])
    sigs = {"serving_default": psm.predict_signature_def({"x": x}, {"z": z})}
    export = save(tmp_path / "m", g, sigs)
    meta = meta_graph(export)
    (node,) = [n for f in meta.graph_def.library.function if "serve" in f.signature.name
               for n in f.node_def if n.name == "z"]
    assert list(node.input) == ["y:z:0", "^MatMul"]
    assert validate_saved_model(export) == []


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
             FormatError, r"signature 'serving_default'.*placeholder 'other'")


def test_signature_input_that_is_not_a_placeholder_is_refused(tmp_path: Path) -> None:
    g = psm.Graph()
    x = g.placeholder("x", "float32", [None])
    mid = g.op("Neg", [x], name="mid")
    y = g.op("Identity", [mid], name="y")
    _refused(tmp_path, g, {"serving_default": psm.predict_signature_def({"m": mid}, {"y": y})},
             FormatError, r"signature 'serving_default': input 'm' is 'mid:0', a Neg")


def test_export_without_signatures_is_refused(tmp_path: Path) -> None:
    g, _ = dense_graph()
    _refused(tmp_path, g, None, FormatError, "at least one signature")


def test_variable_named_like_a_root_attribute_is_refused(tmp_path: Path) -> None:
    g = psm.Graph()
    x = g.placeholder("x", "float32", [None])
    v = g.variable("serve", np.float32(1))
    y = g.op("Mul", [x, v], name="y")
    _refused(tmp_path, g, {"serving_default": psm.predict_signature_def({"x": x}, {"y": y})},
             FormatError, r"variable 'serve'.*format='tf1'")


def test_train_op_is_refused(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    op = g.group([g.node("y").name])
    _refused(tmp_path, g, sigs, FormatError, "train_op is not supported by "
             "format='tf2'", train_op=op)


def test_init_op_that_initializes_no_table_is_refused(tmp_path: Path) -> None:
    """tf.saved_model.load runs an init op only as a table's _initialize."""
    g, sigs = dense_graph()
    op = g.group([g.constant(np.float32(1), name="c")], name="init")
    _refused(tmp_path, g, sigs, FormatError,
             r"init_op 'init' initializes no lookup table.*format='tf1'", init_op=op)


def test_init_op_depending_on_a_placeholder_is_refused(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    op = g.group([g.node("y").name], name="init")
    _refused(tmp_path, g, sigs, FormatError,
             r"init_op 'init' depends on placeholder 'x'", init_op=op)


def test_tf2_export_has_one_meta_graph(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    builder = psm.SavedModelBuilder(tmp_path / "m", format="tf2")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map=sigs)
    with pytest.raises(FormatError, match="format='tf1'"):
        builder.add_meta_graph(["gpu"])


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="format must be one of 'auto', 'tf2', 'tf1'"):
        psm.SavedModelBuilder(tmp_path / "m", format="tf3")


def lookup_graph(vocab: Path) -> tuple[psm.Graph, dict[str, Any], Any]:
    """words -> ids through a HashTableV2 the init op fills from the asset ``vocab``."""
    vocab.write_text("a\nb\n")
    g = psm.Graph()
    words = g.placeholder("words", "string", [None])
    path = g.asset(vocab, name="vocab_path")
    table = g.op("HashTableV2", [], name="tables/vocab", key_dtype="string",
                 value_dtype="int64", shared_name="vocab")
    init = g.op("InitializeTableFromTextFileV2", [table, path], name="fill",
                key_index=-2, value_index=-1)
    ids = g.op("LookupTableFindV2", [table, words, g.constant(np.int64(-1))], name="ids")
    sigs = {"serving_default": psm.predict_signature_def({"words": words}, {"ids": ids})}
    return g, sigs, g.group([init], name="init_tables")


def test_assets_and_tables_take_tf_layout(tmp_path: Path) -> None:
    """The asset: a file in assets/, an AssetFileDef naming a string placeholder, a
    SavedAsset; the table: created in the outer graph, a SavedResource with TF's three
    functions, captured by serve; the init op: __saved_model_init_op calls the
    initializer, whose table op is a control output (TF's runtime prunes it otherwise)."""
    g, sigs, init = lookup_graph(tmp_path / "vocab.txt")
    export = save(tmp_path / "m", g, sigs, init_op=init)
    assert (export / "assets" / "vocab.txt").read_text() == "a\nb\n"
    meta = meta_graph(export)
    assert [a.filename for a in meta.asset_file_def] == ["vocab.txt"]
    nodes = {n.name: n for n in meta.graph_def.node}
    fed = meta.asset_file_def[0].tensor_info.name.split(":")[0]
    assert nodes[fed].op == "Placeholder"
    assert nodes["tables/vocab"].op == "HashTableV2"
    objects = meta.object_graph_def.nodes
    kinds = [o.WhichOneof("kind") for o in objects]
    assert kinds.count("asset") == 1 and kinds.count("resource") == 1
    asset_id, table_id = kinds.index("asset"), kinds.index("resource")
    assert objects[asset_id].asset.asset_file_def_index == 0
    tables = {c.local_name: c.node_id for c in objects[0].children}["tables"]
    assert {c.local_name: c.node_id for c in objects[tables].children}["vocab"] == table_id
    functions = {c.local_name: objects[c.node_id].function.concrete_functions[0]
                 for c in objects[table_id].children}
    assert sorted(functions) == ["_create_resource", "_destroy_resource", "_initialize"]
    concrete = meta.object_graph_def.concrete_functions
    assert sorted(concrete[functions["_initialize"]].bound_inputs) == sorted(
        [asset_id, table_id])
    serve = objects[{c.local_name: c.node_id for c in objects[0].children}["serve"]]
    assert list(concrete[serve.function.concrete_functions[0]].bound_inputs) == [table_id]
    library = {f.signature.name: f for f in meta.graph_def.library.function}
    initializer = library[functions["_initialize"]]
    assert "fill" in initializer.control_ret
    assert list(initializer.signature.control_output) == sorted(initializer.control_ret)
    init_op = nodes[meta.signature_def["__saved_model_init_op"].outputs[
        "__saved_model_init_op"].name]
    calls = [nodes[i[1:]] for i in init_op.input if i.startswith("^")]
    assert functions["_initialize"] in {c.attr["f"].func.name for c in calls
                                        if c.op == "StatefulPartitionedCall"}
    assert validate_saved_model(export) == []


def test_every_table_gets_resource_functions_and_the_first_the_init_op(
        tmp_path: Path) -> None:
    g = psm.Graph()
    words = g.placeholder("words", "string", [None])
    fills, outputs = [], {}
    for name in ("first", "second"):
        table = g.op("HashTableV2", [], name=name, key_dtype="string", value_dtype="int64",
                     shared_name=name)
        fills.append(g.op("LookupTableImportV2", [table, g.constant(
            np.array([b"a"], dtype=object)), g.constant(np.array([7], np.int64))]))
        outputs[name] = g.op("LookupTableFindV2", [table, words, g.constant(np.int64(-1))])
    export = save(tmp_path / "m", g, {"serving_default": psm.predict_signature_def(
        {"words": words}, outputs)}, init_op=g.group(fills, name="init"))
    meta = meta_graph(export)
    objects = meta.object_graph_def.nodes
    inits = [objects[{c.local_name: c.node_id for c in o.children}["_initialize"]]
             .function.concrete_functions[0] for o in objects if o.HasField("resource")]
    assert len(inits) == 2
    concrete = meta.object_graph_def.concrete_functions
    assert len(concrete[inits[0]].bound_inputs) == 2  # the init op uses both tables
    assert list(concrete[inits[1]].bound_inputs) == []
    assert validate_saved_model(export) == []


def test_clear_devices_and_strip_default_attrs_apply_to_tf2_exports(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    meta = meta_graph(save(tmp_path / "m", g, sigs, clear_devices=True,
                           strip_default_attrs=True))
    assert meta.meta_info_def.stripped_default_attrs
    nodes = list(meta.graph_def.node) + [n for f in meta.graph_def.library.function
                                         for n in f.node_def]
    assert not [n.name for n in nodes if n.device]
    handle = next(n for n in meta.graph_def.node if n.op == "VarHandleOp")
    assert "container" not in handle.attr  # "" is the registry default
    assert validate_saved_model(tmp_path / "m") == []


def _if_graph(then_shape: list[int | None] | None,
              else_shape: list[int | None] | None) -> tuple[psm.Graph, Any]:
    then = Function("then_branch")
    x = then.arg("x", "float32", [None, 2])
    then.ret("y", then.graph.op("Reshape", [x, then.graph.constant(
        np.array([-1, 2] if then_shape else [-1], np.int32))]))
    other = Function("else_branch")
    x = other.arg("x", "float32", [None, 2])
    other.ret("y", other.graph.op("Reshape", [x, other.graph.constant(
        np.array([-1, 2] if else_shape else [-1], np.int32))]))
    g = psm.Graph()
    inp = g.placeholder("x", "float32", [None, 2])
    pred = g.placeholder("p", "bool", [])
    y = g.op("Identity", [g.op("If", [pred, [inp]], then_branch=then, else_branch=other)],
             name="y")
    return g, {"serving_default": psm.predict_signature_def({"x": inp, "p": pred}, {"y": y})}


@pytest.mark.parametrize(("ranks", "expected"), [
    ((2, 2), [[-1, 2]]),   # both branches agree: their shape
    ((2, 1), None),        # ranks differ: left unknown, as the user wrote it
])
def test_if_without_output_shapes_gets_the_branches_shapes(
        tmp_path: Path, ranks: tuple[int, int], expected: Any) -> None:
    g, sigs = _if_graph([None, 2] if ranks[0] == 2 else None,
                        [None, 2] if ranks[1] == 2 else None)
    meta = meta_graph(save(tmp_path / "m", g, sigs))
    (node,) = [n for f in meta.graph_def.library.function for n in f.node_def if n.op == "If"]
    shapes = [[d.size for d in s.dim] for s in node.attr["output_shapes"].list.shape]
    assert shapes == (expected or [])


# --------------------------------------------------------------------------- format="auto"

def _auto(export: Path, g: psm.Graph, sigs: Any, **kwargs: Any) -> psm.SavedModelBuilder:
    builder = psm.SavedModelBuilder(export)  # format="auto", the default
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map=sigs, **kwargs)
    return builder


def test_auto_writes_tf2_when_tf2_can_express_the_export(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    builder = _auto(tmp_path / "m", g, sigs)
    assert builder.format == "tf2"
    builder.save()
    assert meta_graph(tmp_path / "m").HasField("object_graph_def")
    assert (tmp_path / "m" / "fingerprint.pb").exists()
    assert OBJECT_GRAPH_KEY in read_checkpoint(tmp_path / "m" / "variables" / "variables")


def test_auto_falls_back_to_tf1_for_what_only_tf1_carries(tmp_path: Path) -> None:
    g, sigs = dense_graph()
    train = g.group([g.node("y").name], name="train")
    builder = _auto(tmp_path / "m", g, sigs, train_op=train)
    assert builder.format == "tf1"
    builder.save()
    meta = meta_graph(tmp_path / "m")
    assert not meta.HasField("object_graph_def")
    assert "__saved_model_train_op" in meta.signature_def
    assert sorted(read_checkpoint(tmp_path / "m" / "variables" / "variables")) == [
        "dense/bias", "dense/kernel", "scale"]
    assert not (tmp_path / "m" / "fingerprint.pb").exists()
    assert validate_saved_model(tmp_path / "m") == []


def test_auto_rewrites_the_first_meta_graph_as_tf1_for_a_second_one(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab.txt"
    g, sigs, init = lookup_graph(vocab)
    builder = _auto(tmp_path / "m", g, sigs, init_op=init)
    assert builder.format == "tf2"
    builder.add_meta_graph(["gpu"])
    assert builder.format == "tf1"
    builder.save()
    model = saved_model_pb2.SavedModel.FromString(
        (tmp_path / "m" / "saved_model.pb").read_bytes())
    assert [list(m.meta_info_def.tags) for m in model.meta_graphs] == [["serve"], ["gpu"]]
    assert not any(m.HasField("object_graph_def") for m in model.meta_graphs)
    assert list(model.meta_graphs[0].collection_def["saved_model_main_op"].node_list.value) \
        == ["init_tables"]
    assert sorted(p.name for p in (tmp_path / "m" / "assets").iterdir()) == ["vocab.txt"]
    assert validate_saved_model(tmp_path / "m") == []


def test_auto_keeps_real_errors(tmp_path: Path) -> None:
    """Bad input that no format accepts is not retried as TF1."""
    g, _ = dense_graph()
    with pytest.raises(psm.SignatureError, match="'nope:0'"):
        _auto(tmp_path / "m", g, {"serving_default": psm.predict_signature_def(
            {"x": "nope:0"}, {"y": "y:0"})})
    assert not (tmp_path / "m").exists()
