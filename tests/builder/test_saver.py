"""The saver subgraph against the one TF 2.21's builder wrote (fixture savedmodel_v1_builder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pysavedmodel._proto import saver_pb2
from pysavedmodel.builder import SavedModelBuilder
from pysavedmodel.builder.saver import (
    SaveableVariable,
    add_saver,
    make_saver_def,
    saver_checkpoint_keys,
    validate_saver_def,
)
from pysavedmodel.dtypes import as_dtype
from pysavedmodel.errors import InvalidArgumentError
from pysavedmodel.format.bundle import read_checkpoint
from pysavedmodel.graph.graph import Graph

from .conftest import FIXTURE, load_saved_model, save_like_fixture, simple_graph


def _saver_nodes(meta_graph, scope):
    return [n for n in meta_graph.graph_def.node if n.name.startswith(scope + "/")]


def _describe(node):
    """Everything of a node but its name, ``_output_shapes`` included (absent on ops
    without outputs, as TF leaves it)."""
    return node.op, list(node.input), node.device, dict(node.attr)


@pytest.fixture()
def ours_and_tf(fixtures_dir, fixture_model, tmp_path):
    ours = load_saved_model(save_like_fixture(fixture_model, tmp_path / "export"))
    theirs = load_saved_model(fixtures_dir / FIXTURE / "saved_model.pb")
    return ours, theirs, tmp_path / "export"


@pytest.mark.parametrize("meta_graph, scope", [(0, "save"), (1, "save"), (1, "save_1")])
def test_saver_nodes_match_tf_node_for_node(ours_and_tf, meta_graph, scope):
    ours, theirs, _ = ours_and_tf
    want = _saver_nodes(theirs.meta_graphs[meta_graph], scope)
    got = _saver_nodes(ours.meta_graphs[meta_graph], scope)
    assert len(want) == 27  # 23 fixed nodes + Identity and AssignVariableOp per variable
    assert [n.name for n in got] == [n.name for n in want]
    for mine, tf_node in zip(got, want):
        assert _describe(mine) == _describe(tf_node), mine.name
    shaped = {n.op: "_output_shapes" in n.attr for n in got}
    assert shaped["SaveV2"] is shaped["NoOp"] is shaped["AssignVariableOp"] is False
    assert shaped["RestoreV2"] is shaped["Pack"] is shaped["StringJoin"] is True


def test_saver_def_matches_tf(ours_and_tf):
    ours, theirs, _ = ours_and_tf
    for mine, tf_meta in zip(ours.meta_graphs, theirs.meta_graphs):
        assert mine.saver_def == tf_meta.saver_def
    assert ours.meta_graphs[1].saver_def.restore_op_name == "save_1/restore_all"


def test_checkpoint_files_are_byte_identical_to_tf(ours_and_tf, fixtures_dir):
    _, _, export = ours_and_tf
    for name in ("variables.index", "variables.data-00000-of-00001"):
        assert (export / "variables" / name).read_bytes() == \
            (fixtures_dir / FIXTURE / "variables" / name).read_bytes()


def test_make_saver_def_constants():
    saver_def = make_saver_def("save_3")
    assert saver_def.filename_tensor_name == "save_3/Const:0"
    assert saver_def.save_tensor_name == "save_3/Identity:0"
    assert saver_def.restore_op_name == "save_3/restore_all"
    assert (saver_def.max_to_keep, saver_def.sharded, saver_def.keep_checkpoint_every_n_hours,
            saver_def.version) == (5, True, 10000.0, saver_pb2.SaverDef.V2)


def _var_graph(names_and_values):
    g = Graph()
    handles = {}
    for name, value in names_and_values:
        g.variable(name, value)
        handles[name] = name
    return g


def _saveables(g):
    return [SaveableVariable(s.shared_name, s.node_name, s.dtype, s.shape, s.read_tensor_name)
            for s in g.variables]


def test_variables_are_sorted_by_key_with_their_dtypes():
    g = _var_graph([("zeta", np.zeros(3, np.int64)), ("alpha", np.array([b"a", b"b"], object)),
                    ("mid", np.float32(1.0))])
    add_saver(g, _saveables(g))
    names = list(g.node("save/RestoreV2/tensor_names").attr["value"].tensor.string_val)
    assert names == [b"alpha", b"mid", b"zeta"]
    assert list(g.node("save/SaveV2/tensor_names").attr["value"].tensor.string_val) == names
    want_types = [as_dtype(t).enum for t in ("string", "float32", "int64")]
    assert list(g.node("save/RestoreV2").attr["dtypes"].list.type) == want_types
    assert list(g.node("save/SaveV2").attr["dtypes"].list.type) == want_types
    assert list(g.node("save/SaveV2").input)[3:] == [
        "alpha/Read/ReadVariableOp", "mid/Read/ReadVariableOp", "zeta/Read/ReadVariableOp"]
    # Output i of RestoreV2 goes to the i-th variable in key order.
    assert list(g.node("save/Identity_2").input) == ["save/RestoreV2:1"]
    assert list(g.node("save/AssignVariableOp_1").input) == ["mid", "save/Identity_2"]
    assert g.node("save/AssignVariableOp_2").attr["dtype"].type == as_dtype("int64").enum
    assert saver_checkpoint_keys(g, "save/restore_all") == {
        "zeta": "zeta", "alpha": "alpha", "mid": "mid"}
    g.validate()


def test_second_saver_gets_a_unique_scope():
    g = _var_graph([("v", np.ones(2, np.float32))])
    assert add_saver(g, _saveables(g)).restore_op_name == "save/restore_all"
    assert add_saver(g, _saveables(g)).restore_op_name == "save_1/restore_all"
    assert add_saver(g, _saveables(g)).filename_tensor_name == "save_2/Const:0"


def test_saver_needs_variables_with_unique_keys():
    g = _var_graph([("v", np.ones(2, np.float32))])
    with pytest.raises(InvalidArgumentError, match="at least one variable"):
        add_saver(g, [])
    spec = _saveables(g)[0]
    with pytest.raises(InvalidArgumentError, match=r"\['v'\]"):
        add_saver(g, [spec, spec])


def test_validate_saver_def_checks_names_and_version():
    g = _var_graph([("v", np.ones(2, np.float32))])
    saver_def = add_saver(g, _saveables(g))
    assert validate_saver_def(g, saver_def) == saver_def
    bad = saver_pb2.SaverDef()
    bad.CopyFrom(saver_def)
    bad.restore_op_name = "save/nope"
    with pytest.raises(InvalidArgumentError, match="restore_op_name.*save/nope"):
        validate_saver_def(g, bad)
    bad.CopyFrom(saver_def)
    bad.filename_tensor_name = "missing:0"
    with pytest.raises(InvalidArgumentError, match="filename_tensor_name.*missing:0"):
        validate_saver_def(g, bad)
    bad.CopyFrom(saver_def)
    bad.version = saver_pb2.SaverDef.V1
    with pytest.raises(InvalidArgumentError, match="V1"):
        validate_saver_def(g, bad)


def test_builder_uses_a_given_saver_def_and_its_checkpoint_keys(tmp_path: Path):
    model = simple_graph()
    g = model["graph"]
    spec = g.variables[0]
    # A hand-made saver that restores variable "w" from key "layer/weights".
    saver_def = add_saver(g, [SaveableVariable("layer/weights", spec.node_name, spec.dtype,
                                               spec.shape, spec.read_tensor_name)])
    nodes_before = len(g.nodes)
    builder = SavedModelBuilder(tmp_path / "m")
    builder.add_meta_graph_and_variables(g, ["serve"], saver=saver_def)
    builder.save()
    meta = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs[0]
    assert meta.saver_def == saver_def
    assert not any(n.name.startswith("save_1/") for n in meta.graph_def.node)
    assert len(g.nodes) == nodes_before
    ckpt = read_checkpoint(tmp_path / "m" / "variables" / "variables")
    assert list(ckpt) == ["layer/weights"]
    np.testing.assert_array_equal(ckpt["layer/weights"], np.array([1.5, -2.0], np.float32))


def test_given_saver_must_restore_every_variable(tmp_path: Path):
    g = _var_graph([("a", np.ones(2, np.float32)), ("b", np.ones(1, np.float32))])
    saver_def = add_saver(g, _saveables(g)[:1])
    with pytest.raises(InvalidArgumentError, match=r"does not restore variable\(s\) \['b'\]"):
        SavedModelBuilder(tmp_path / "m").add_meta_graph_and_variables(
            g, ["serve"], saver=saver_def)
    assert not (tmp_path / "m").exists()
