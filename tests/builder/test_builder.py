"""SavedModelBuilder: the TF1 layout (``format="tf1"``) against TF's fixture and each rule of
the builder; TF2 exports and ``format="auto"``: test_tf2.py."""

from __future__ import annotations

import os
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format

import pysavedmodel.format.bundle as bundle
import pysavedmodel.format.sharding as sharding
from pysavedmodel import load_weights
from pysavedmodel._proto import meta_graph_pb2, saved_model_pb2, variable_pb2
from pysavedmodel._proto._pool import POOL
from pysavedmodel.builder import SavedModelBuilder, predict_signature_def
from pysavedmodel.errors import (
    AlreadyExistsError,
    BuilderStateError,
    InvalidArgumentError,
    NotFoundError,
    SignatureError,
    UnsupportedDTypeError,
)
from pysavedmodel.format.bundle import read_checkpoint
from pysavedmodel.graph.graph import Graph
from pysavedmodel.graph.op_registry import get_op_def
from pysavedmodel.savedmodel.validate import validate_saved_model

from .conftest import (
    FIXTURE,
    build_fixture_graph,
    fixture_variables,
    load_saved_model,
    save_like_fixture,
    simple_graph,
)


def _sig(model):
    return {"serving_default": predict_signature_def({"x": model["x"]}, {"y": model["y"]})}


def _build(export: Path, model=None, **kwargs) -> saved_model_pb2.SavedModel:
    model = model or simple_graph()
    builder = SavedModelBuilder(export, format="tf1")
    builder.add_meta_graph_and_variables(model["graph"], ["serve"],
                                         signature_def_map=_sig(model), **kwargs)
    builder.save()
    return load_saved_model(export / "saved_model.pb")


def _variable_defs(meta_graph, key):
    return [variable_pb2.VariableDef.FromString(b)
            for b in meta_graph.collection_def[key].bytes_list.value]


def _asset_defs(meta_graph):
    out = []
    for packed in meta_graph.collection_def["saved_model_assets"].any_list.value:
        assert packed.type_url == "type.googleapis.com/tensorflow.AssetFileDef"
        asset = meta_graph_pb2.AssetFileDef.FromString(packed.value)
        out.append((asset.tensor_info.name, asset.filename))
    return out


def _op_signature(op_name: str, key: str) -> meta_graph_pb2.SignatureDef:
    """The SignatureDef TF's ``op_signature_def`` writes, spelled out field by field."""
    return text_format.Parse(
        f'outputs {{ key: "{key}" value {{ name: "{op_name}" dtype: DT_INVALID '
        f'tensor_shape {{ unknown_rank: true }} }} }}',
        meta_graph_pb2.SignatureDef(), descriptor_pool=POOL)


def _leftovers(parent: Path):
    return sorted(p.name for p in parent.iterdir())


# --------------------------------------------------------------------------- vs. the TF fixture

@pytest.fixture()
def ours_and_tf(fixtures_dir, fixture_model, tmp_path):
    ours = load_saved_model(save_like_fixture(fixture_model, tmp_path / "export"))
    theirs = load_saved_model(fixtures_dir / FIXTURE / "saved_model.pb")
    return ours, theirs


def test_layout_matches_the_tf_fixture(ours_and_tf, fixtures_dir, tmp_path):
    ours, theirs = ours_and_tf
    assert ours.saved_model_schema_version == theirs.saved_model_schema_version == 1
    assert [list(m.meta_info_def.tags) for m in ours.meta_graphs] == \
        [list(m.meta_info_def.tags) for m in theirs.meta_graphs]
    export = tmp_path / "export"
    assert sorted(str(p.relative_to(export)) for p in export.rglob("*")) == \
        sorted(str(p.relative_to(fixtures_dir / FIXTURE))
               for p in (fixtures_dir / FIXTURE).rglob("*"))
    assert (export / "assets" / "vocab.txt").read_bytes() == \
        (fixtures_dir / FIXTURE / "assets" / "vocab.txt").read_bytes()


def test_meta_graphs_carry_what_tf_records(ours_and_tf):
    ours, theirs = ours_and_tf
    for mine, tf_meta in zip(ours.meta_graphs, theirs.meta_graphs):
        for key in ("saved_model_assets", "saved_model_main_op"):
            assert mine.collection_def[key] == tf_meta.collection_def[key], key
        # The collections TF's builder itself adds; TF's others come from its graph
        # (asset_filepaths, table_initializer).
        assert set(mine.collection_def) == {"saved_model_assets", "saved_model_main_op",
                                            "variables", "trainable_variables"}
        for key in ("variables", "trainable_variables"):
            got, want = _variable_defs(mine, key), _variable_defs(tf_meta, key)
            for var in got + want:
                var.ClearField("initial_value_name")  # ours is a zeros Fill, TF's the value
            assert got == want
        assert mine.signature_def["serving_default"] == tf_meta.signature_def["serving_default"]
        if "lookup" in tf_meta.signature_def:
            # ids = LookupTableFindV2 of [None] words: TF infers [-1], so must we.
            assert mine.signature_def["lookup"] == tf_meta.signature_def["lookup"]
            ids = mine.signature_def["lookup"].outputs["ids"].tensor_shape
            assert not ids.unknown_rank and [d.size for d in ids.dim] == [-1]
        # TF's v1 builder recorded the init op in the collection only (checked equal above);
        # we also write the signature every TF 2 loader prefers, pointing at the same op.
        assert "__saved_model_init_op" not in tf_meta.signature_def
        assert list(tf_meta.collection_def["saved_model_main_op"].node_list.value) == \
            ["init_all_tables"]
        init_sig = mine.signature_def["__saved_model_init_op"]
        assert init_sig == _op_signature("init_all_tables", "__saved_model_init_op")
        assert set(mine.signature_def) == set(tf_meta.signature_def) | {"__saved_model_init_op"}
        assert not mine.asset_file_def and not mine.HasField("object_graph_def")
        assert mine.graph_def.versions.producer == tf_meta.graph_def.versions.producer
        tf_ops = {op.name for op in tf_meta.meta_info_def.stripped_op_list.op}
        our_ops = {op.name for op in mine.meta_info_def.stripped_op_list.op}
        assert our_ops == tf_ops - {"VarIsInitializedOp"} | {"Fill"}
        assert not mine.meta_info_def.stripped_default_attrs


def test_initializers_named_by_variable_defs_exist(ours_and_tf):
    ours, _ = ours_and_tf
    meta = ours.meta_graphs[0]
    nodes = {n.name: n for n in meta.graph_def.node}
    for var in _variable_defs(meta, "variables"):
        assert var.is_resource and var.trainable
        assert nodes[var.variable_name[:-2]].op == "VarHandleOp"
        assert nodes[var.snapshot_name[:-2]].op == "ReadVariableOp"
        init = nodes[var.initializer_name]
        assert init.op == "AssignVariableOp"
        assert list(init.input) == [var.variable_name[:-2], var.initial_value_name[:-2]]
        assert nodes[var.initial_value_name[:-2]].op == "Fill"


def test_meta_info_does_not_claim_to_be_tensorflow(ours_and_tf):
    ours, _ = ours_and_tf
    for meta in ours.meta_graphs:
        # TF parses a non-empty tensorflow_version as a PEP 440 version on import.
        assert meta.meta_info_def.tensorflow_version == ""
        assert meta.meta_info_def.tensorflow_git_version == ""


def test_user_graph_is_not_modified(fixture_model, tmp_path):
    graph = fixture_model["graph"]
    before = graph.as_graph_def().SerializeToString(deterministic=True)
    save_like_fixture(fixture_model, tmp_path / "export")
    assert graph.as_graph_def().SerializeToString(deterministic=True) == before


def test_third_meta_graph_gets_save_2(tmp_path):
    model = simple_graph()
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(model["graph"], ["serve"])
    builder.add_meta_graph(["a"])
    builder.add_meta_graph(["b"])
    builder.save()
    metas = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs
    assert [m.saver_def.restore_op_name for m in metas] == \
        ["save/restore_all", "save_1/restore_all", "save_2/restore_all"]


# --------------------------------------------------------------------------- export dir & order

def test_non_empty_export_dir_is_refused(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("x")
    with pytest.raises(AlreadyExistsError, match="not empty"):
        SavedModelBuilder(tmp_path / "m", format="tf1")
    (tmp_path / "file").write_text("x")
    with pytest.raises(AlreadyExistsError, match="not a directory"):
        SavedModelBuilder(tmp_path / "file", format="tf1")


def test_empty_export_dir_is_accepted(tmp_path):
    (tmp_path / "m").mkdir()
    _build(tmp_path / "m")
    assert (tmp_path / "m" / "saved_model.pb").is_file()


def test_export_dir_filled_meanwhile_is_refused_at_save(tmp_path):
    model = simple_graph()
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(model["graph"], ["serve"])
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "other").write_text("x")
    with pytest.raises(AlreadyExistsError):
        builder.save()
    assert _leftovers(tmp_path) == ["m"] and _leftovers(tmp_path / "m") == ["other"]


def test_call_order_is_enforced(tmp_path):
    model = simple_graph()
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    with pytest.raises(BuilderStateError, match="before add_meta_graph_and_variables"):
        builder.add_meta_graph(["serve"])
    with pytest.raises(BuilderStateError, match="nothing to save"):
        builder.save()
    builder.add_meta_graph_and_variables(model["graph"], ["serve"])
    with pytest.raises(BuilderStateError, match="already called"):
        builder.add_meta_graph_and_variables(model["graph"], ["train"])
    builder.save()
    for call in (lambda: builder.save(), lambda: builder.add_meta_graph(["x"]),
                 lambda: builder.add_meta_graph_and_variables(model["graph"], ["y"])):
        with pytest.raises(BuilderStateError, match="after save"):
            call()


@pytest.mark.parametrize("tags, message", [
    ("serve", "got the string 'serve'"), ([], "non-empty list"), (None, "non-empty list"),
    (["serve", ""], "non-empty string"), (["serve", 3], "non-empty string")])
def test_tags_are_required(tmp_path, tags, message):
    with pytest.raises(InvalidArgumentError, match=message):
        SavedModelBuilder(tmp_path / "m", format="tf1").add_meta_graph_and_variables(
            simple_graph()["graph"], tags)


def test_tag_sets_must_differ(tmp_path):
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(simple_graph()["graph"], ["serve", "gpu"])
    with pytest.raises(InvalidArgumentError, match="already used by meta graph 0"):
        builder.add_meta_graph(["gpu", "serve"])


def test_failed_add_leaves_the_builder_usable(tmp_path):
    model = simple_graph()
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    with pytest.raises(SignatureError):
        builder.add_meta_graph_and_variables(
            model["graph"], ["serve"], signature_def_map={"s": {"inputs": {"x": "nope:0"},
                                                                "outputs": {"y": "y:0"}}})
    builder.add_meta_graph_and_variables(model["graph"], ["serve"],
                                         signature_def_map=_sig(model))
    builder.save()
    assert len(load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs) == 1


# --------------------------------------------------------------------------- variables

def _dict_graph():
    return Graph.from_dict({"node": [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": [None, 2]}},
        {"name": "w", "op": "VarHandleOp",
         "attr": {"dtype": "float32", "shape": [2], "shared_name": "layer/w"}},
        {"name": "w/Read/ReadVariableOp", "op": "ReadVariableOp", "input": ["w"],
         "attr": {"dtype": "float32"}},
        {"name": "y", "op": "Mul", "input": ["x", "w/Read/ReadVariableOp"],
         "attr": {"T": "float32"}},
    ]})


def test_graph_from_dict_takes_values_from_variables(tmp_path):
    _build(tmp_path / "m", {"graph": _dict_graph(), "x": "x:0", "y": "y:0"},
           variables={"w": [1.0, 2.0]})
    ckpt = read_checkpoint(tmp_path / "m" / "variables" / "variables")
    assert list(ckpt) == ["layer/w"]  # the key is the shared_name
    assert ckpt["layer/w"].dtype == np.float32
    np.testing.assert_array_equal(ckpt["layer/w"], [1.0, 2.0])


@pytest.mark.parametrize("variables, error, message", [
    (None, InvalidArgumentError, r"no value for variable\(s\) \['w'\]"),
    ({"w": [1.0, 2.0], "v": [1.0]}, InvalidArgumentError, r"\['v'\], which are not VarHandleOps"),
    ({"w": np.zeros(2, np.float64)}, InvalidArgumentError,
     "variable 'w' is declared float32 but its value has numpy dtype float64"),
    ({"w": np.zeros(3, np.float32)}, InvalidArgumentError,
     r"variable 'w' is declared with shape \[2\] but its value has shape \[3\]"),
    ({"w": [[1.0, 2.0]]}, InvalidArgumentError, r"'w' is declared with shape \[2\]"),
    ({"w": ["a", "b"]}, InvalidArgumentError, r"variable 'w' \(declared float32\): cannot convert"),
    ([1.0, 2.0], InvalidArgumentError, "variables must be a mapping"),
])
def test_variable_values_are_checked(tmp_path, variables, error, message):
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    with pytest.raises(error, match=message):
        builder.add_meta_graph_and_variables(_dict_graph(), ["serve"], variables=variables)


def _two_handles(shared_a, shared_b):
    def handle(name, shared):
        attr = {"dtype": "float32", "shape": []}
        if shared is not None:
            attr["shared_name"] = shared
        return {"name": name, "op": "VarHandleOp", "attr": attr}
    return Graph.from_dict({"node": [handle("a", shared_a), handle("b", shared_b)]})


@pytest.mark.parametrize("shared_a, shared_b, message", [
    # TF aliases VarHandleOps with an empty shared_name (no fallback to the node name).
    (None, None, "'a' and 'b' are one resource in TensorFlow: both VarHandleOps have "
                 "shared_name '' and container ''"),
    (None, "", "shared_name ''"),
    ("v", "v", "shared_name 'v'"),
])
def test_variables_sharing_one_resource_are_rejected(tmp_path, shared_a, shared_b, message):
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    with pytest.raises(InvalidArgumentError, match=message):
        builder.add_meta_graph_and_variables(_two_handles(shared_a, shared_b), ["serve"],
                                             variables={"a": 1.0, "b": 2.0})
    assert not (tmp_path / "m").exists()


def test_one_variable_without_shared_name_is_keyed_by_node_name(tmp_path):
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(_two_handles(None, "b"), ["serve"],
                                         variables={"a": 1.0, "b": 2.0})
    builder.save()
    ckpt = read_checkpoint(tmp_path / "m" / "variables" / "variables")
    assert {k: float(v) for k, v in ckpt.items()} == {"a": 1.0, "b": 2.0}


def test_variables_override_graph_values(tmp_path):
    model = simple_graph()
    _build(tmp_path / "m", model, variables={"w": np.array([7.0, 8.0], np.float32)})
    ckpt = read_checkpoint(tmp_path / "m" / "variables" / "variables")
    np.testing.assert_array_equal(ckpt["w"], [7.0, 8.0])


def test_variable_values_reach_the_checkpoint_writer_uncopied(tmp_path, monkeypatch):
    given = {"w": np.arange(2, dtype=np.float32), "v": np.ones((3, 2), np.float32)}
    g = Graph()
    for name, value in given.items():
        g.variable(name, value)
    override = np.zeros((3, 2), np.float32)
    written = {}
    real_write = bundle.write_checkpoint

    def spy(prefix, tensors, **kwargs):
        written.update(tensors)
        return real_write(prefix, tensors, **kwargs)

    monkeypatch.setattr(bundle, "write_checkpoint", spy)
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"], variables={"v": override})
    builder.add_meta_graph(["other"])
    builder.save()
    assert written["w"] is given["w"] and written["v"] is override


def test_exporting_a_large_variable_allocates_no_copy_of_it(tmp_path):
    value = np.ones((4096, 4096), np.float32)  # 64 MiB
    g = Graph()
    x = g.placeholder("x", "float32", [None, 4096])
    g.op("MatMul", [x, g.variable("w", value, dtype="float32")])
    tracemalloc.start()
    try:
        builder = SavedModelBuilder(tmp_path / "m", format="tf1")
        builder.add_meta_graph_and_variables(g, ["serve"])
        builder.save()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < value.nbytes // 8, f"peak {peak} bytes while exporting {value.nbytes}"
    assert np.array_equal(read_checkpoint(tmp_path / "m" / "variables" / "variables")["w"],
                          value)


def test_checkpoint_is_written_in_key_order(tmp_path):
    g = Graph()
    values = {"zz": [1, 2, 3], "Ab": [4], "aa": [5, 6], "b/c": [7, 8, 9, 10]}
    for name, value in values.items():
        g.variable(name, np.array(value, np.int32))
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"])
    builder.save()
    # TF's saver writes the tensors sorted by key (bytewise): data order included.
    by_key = {k: np.array(values[k], np.int32) for k in sorted(values)}
    bundle.write_checkpoint(tmp_path / "sorted" / "ckpt", by_key)
    bundle.write_checkpoint(tmp_path / "created" / "ckpt",
                            {k: np.array(v, np.int32) for k, v in values.items()})
    ours = (tmp_path / "m" / "variables" / "variables.data-00000-of-00001").read_bytes()
    assert ours == (tmp_path / "sorted" / "ckpt.data-00000-of-00001").read_bytes()
    assert ours != (tmp_path / "created" / "ckpt.data-00000-of-00001").read_bytes()
    assert (tmp_path / "m" / "variables" / "variables.index").read_bytes() == \
        (tmp_path / "sorted" / "ckpt.index").read_bytes()


def _sized_variables(sizes):
    g = Graph()
    values = {f"v{i}": np.arange(n, dtype=np.float32) for i, n in enumerate(sizes)}
    reads = [g.variable(name, value) for name, value in values.items()]
    return g, values, reads


def _data_files(export: Path) -> list[str]:
    return sorted(p.name for p in (export / "variables").glob("variables.data-*"))


@pytest.mark.parametrize("format", ["tf1", "tf2"])
def test_num_shards_spreads_the_checkpoint_over_data_files(tmp_path, format):
    g, values, reads = _sized_variables([300, 20, 100, 7])
    x = g.placeholder("x", "float32", [None])
    y = g.op("AddV2", [x, reads[3]], name="y")
    builder = SavedModelBuilder(tmp_path / "m", format=format)
    builder.add_meta_graph_and_variables(
        g, ["serve"], signature_def_map=_sig({"x": x, "y": y}))
    builder.save(num_shards=3)
    assert _data_files(tmp_path / "m") == [f"variables.data-0000{i}-of-00003" for i in range(3)]
    read = load_weights(tmp_path / "m")
    assert sorted(read) == sorted(values)
    for name, value in values.items():
        np.testing.assert_array_equal(read[name], value)
    assert validate_saved_model(tmp_path / "m") == []


def test_default_num_shards_follows_the_checkpoint_bytes(tmp_path, monkeypatch):
    g, _, _ = _sized_variables([300, 20, 100, 7])  # 1,708 bytes
    builder = SavedModelBuilder(tmp_path / "small", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"])
    builder.save()
    assert _data_files(tmp_path / "small") == ["variables.data-00000-of-00001"]
    monkeypatch.setattr(sharding, "AUTO_SHARD_BYTES", 500)  # one data file per 500 bytes
    builder = SavedModelBuilder(tmp_path / "auto", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"])
    builder.save()
    assert _data_files(tmp_path / "auto") == [f"variables.data-0000{i}-of-00004"
                                              for i in range(4)]
    builder = SavedModelBuilder(tmp_path / "one", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"])
    builder.save(num_shards=1)
    assert _data_files(tmp_path / "one") == ["variables.data-00000-of-00001"]
    assert load_weights(tmp_path / "auto").keys() == load_weights(tmp_path / "one").keys()


@pytest.mark.parametrize("bad, message", [
    (0, "num_shards must be an int >= 1 (or None for one data file per started 256 MiB), "
        "got 0"),
    (-1, "got -1"), (True, "got True"), (2.0, "got 2.0"), ("2", "got '2'"),
    (5, "num_shards=5: the checkpoint holds 4 tensor(s) and every data file needs at least "
        "one; use at most 4")])
def test_bad_num_shards_is_refused_before_anything_is_written(tmp_path, bad, message):
    g, _, _ = _sized_variables([3, 2, 1, 1])
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"])
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        builder.save(num_shards=bad)
    assert _leftovers(tmp_path) == []
    builder.save(num_shards=4)  # the builder stays usable
    assert len(_data_files(tmp_path / "m")) == 4


def test_unsupported_variable_dtype(tmp_path):
    g = Graph.from_dict({"node": [{"name": "v", "op": "VarHandleOp",
                                   "attr": {"dtype": "variant", "shape": []}}]})
    with pytest.raises(UnsupportedDTypeError, match="'v' has dtype variant"):
        SavedModelBuilder(tmp_path / "m", format="tf1").add_meta_graph_and_variables(
            g, ["serve"], variables={"v": 0})


def test_model_without_variables(tmp_path):
    g = Graph()
    x = g.placeholder("x", "float32", [None])
    y = g.op("Identity", [x], name="y")
    saved = _build(tmp_path / "m", {"graph": g, "x": x, "y": y})
    meta = saved.meta_graphs[0]
    # Like TF: no saver, no variable collections, an empty variables/ directory.
    assert not meta.HasField("saver_def")
    assert "variables" not in meta.collection_def
    assert list((tmp_path / "m" / "variables").iterdir()) == []
    assert not any(n.name.startswith("save") for n in meta.graph_def.node)


def test_later_graph_must_match_the_checkpoint(tmp_path):
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(simple_graph()["graph"], ["serve"])
    other = Graph()
    other.variable("w", np.zeros(3, np.float32))
    with pytest.raises(InvalidArgumentError, match=r"'w' is float32 \[3\] but the checkpoint "
                                                   r"holds 'w' as float32 \[2\]"):
        builder.add_meta_graph(["other"], graph=other)
    unknown = Graph()
    unknown.variable("u", np.zeros(2, np.float32))
    with pytest.raises(InvalidArgumentError, match="'u'.*is not in the checkpoint"):
        builder.add_meta_graph(["other"], graph=unknown)
    same = simple_graph(np.zeros(2, np.float32))["graph"]
    builder.add_meta_graph(["other"], graph=same)  # values of later graphs are not used
    builder.save()
    metas = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs
    assert metas[1].saver_def.restore_op_name == "save/restore_all"  # a fresh graph
    np.testing.assert_array_equal(
        read_checkpoint(tmp_path / "m" / "variables" / "variables")["w"], [1.5, -2.0])


def test_non_trainable_variables(tmp_path):
    g = Graph()
    g.variable("step", np.int64(0), trainable=False)
    g.variable("w", np.ones(2, np.float32))
    meta = _build(tmp_path / "m", {"graph": g, "x": "w/Read/ReadVariableOp:0",
                                   "y": "step/Read/ReadVariableOp:0"}).meta_graphs[0]
    assert [v.variable_name for v in _variable_defs(meta, "variables")] == ["step:0", "w:0"]
    assert [v.variable_name for v in _variable_defs(meta, "trainable_variables")] == ["w:0"]


# --------------------------------------------------------------------------- assets

def _asset_graph(paths):
    g = Graph()
    tensors = [g.asset(str(p), name=f"asset_{i}") for i, p in enumerate(paths)]
    return g, tensors


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_same_name_different_content_gets_suffix(tmp_path):
    a = _write(tmp_path / "a" / "vocab.txt", "one\n")
    b = _write(tmp_path / "b" / "vocab.txt", "two\n")
    c = _write(tmp_path / "c" / "vocab.txt", "one\n")
    g, tensors = _asset_graph([a, b, c])
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"])
    builder.save()
    meta = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs[0]
    assert _asset_defs(meta) == [("asset_0:0", "vocab.txt"), ("asset_1:0", "vocab.txt_1"),
                                 ("asset_2:0", "vocab.txt")]
    assert (tmp_path / "m" / "assets" / "vocab.txt").read_text() == "one\n"
    assert (tmp_path / "m" / "assets" / "vocab.txt_1").read_text() == "two\n"
    assert _leftovers(tmp_path / "m" / "assets") == ["vocab.txt", "vocab.txt_1"]


def test_first_file_of_a_name_is_kept_across_meta_graphs(tmp_path):
    a = _write(tmp_path / "a" / "vocab.txt", "first\n")
    b = _write(tmp_path / "b" / "vocab.txt", "second\n")
    g1, _ = _asset_graph([a])
    g2, _ = _asset_graph([b])
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g1, ["serve"])
    builder.add_meta_graph(["other"], graph=g2)
    builder.save()
    metas = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs
    assert _asset_defs(metas[0]) == [("asset_0:0", "vocab.txt")]
    assert _asset_defs(metas[1]) == [("asset_0:0", "vocab.txt_1")]
    assert (tmp_path / "m" / "assets" / "vocab.txt").read_text() == "first\n"


def test_each_asset_tensor_is_recorded_once(tmp_path):
    a = _write(tmp_path / "a" / "vocab.txt", "x\n")
    g, (tensor,) = _asset_graph([a])
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"], assets=[tensor, "asset_0:0", "asset_0"])
    builder.add_meta_graph(["other"])  # graph=None: the same assets again, once
    builder.save()
    for meta in load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs:
        assert _asset_defs(meta) == [("asset_0:0", "vocab.txt")]


def test_assets_as_a_mapping_to_source_files(tmp_path):
    src = _write(tmp_path / "data" / "labels.txt", "cat\ndog\n")
    g = Graph.from_dict({"node": [{"name": "labels_path", "op": "Const",
                                   "attr": {"dtype": "string", "value": "labels.txt"}}]})
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"], assets={"labels_path:0": src})
    builder.save()
    meta = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs[0]
    assert _asset_defs(meta) == [("labels_path:0", "labels.txt")]
    assert (tmp_path / "m" / "assets" / "labels.txt").read_text() == "cat\ndog\n"


def test_bad_assets_are_refused(tmp_path):
    g, (tensor,) = _asset_graph([tmp_path / "missing.txt"])
    x = g.placeholder("p", "string", [])
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    with pytest.raises(NotFoundError, match="'asset_0:0'.*missing.txt.*does not exist"):
        builder.add_meta_graph_and_variables(g, ["serve"])
    with pytest.raises(InvalidArgumentError, match="'p:0' must be a Const"):
        builder.add_meta_graph_and_variables(g, ["serve"], assets=[x])
    with pytest.raises(NotFoundError, match="'nope:0' is not in the graph"):
        builder.add_meta_graph_and_variables(g, ["serve"], assets=["nope"])
    with pytest.raises(InvalidArgumentError, match="list of asset tensors"):
        builder.add_meta_graph_and_variables(g, ["serve"], assets="asset_0:0")


# --------------------------------------------------------------------------- init / train ops

def test_init_op_goes_to_its_signature_and_the_main_op_collection(tmp_path):
    model = simple_graph()
    g = model["graph"]
    init = g.group([model["w"]], name="my_init")
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"], init_op=init)
    builder.add_meta_graph(["inherits"])
    builder.add_meta_graph(["own"], init_op="y:0")
    builder.add_meta_graph(["none"], graph=model["graph"])
    builder.save()
    metas = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs
    assert "saved_model_main_op" not in metas[3].collection_def
    assert "__saved_model_init_op" not in metas[3].signature_def
    mains = [list(m.collection_def["saved_model_main_op"].node_list.value) for m in metas[:3]]
    assert mains == [["my_init"], ["my_init"], ["y"]]
    for meta, op_name in zip(metas[:3], ["my_init", "my_init", "y"]):
        assert dict(meta.signature_def) == {
            "__saved_model_init_op": _op_signature(op_name, "__saved_model_init_op")}
    with pytest.raises(NotFoundError, match="init_op 'nope'"):
        SavedModelBuilder(tmp_path / "n", format="tf1").add_meta_graph_and_variables(
            g, ["s"], init_op="nope")


def test_train_op_goes_to_its_signature(tmp_path):
    model = simple_graph()
    g = model["graph"]
    train = g.op("AssignVariableOp", ["w", g.constant(np.zeros(2, np.float32))], name="train")
    meta = _build(tmp_path / "m", model, train_op=train).meta_graphs[0]
    sig = meta.signature_def["__saved_model_train_op"]
    assert sig == _op_signature("train", "__saved_model_train_op")
    assert "saved_model_train_op" not in meta.collection_def
    assert set(meta.signature_def) == {"serving_default", "__saved_model_train_op"}


# --------------------------------------------------------------------------- export options

def test_clear_devices(tmp_path):
    model = simple_graph()
    kept = _build(tmp_path / "a", model).meta_graphs[0]
    assert {n.device for n in kept.graph_def.node} == {"", "/device:CPU:0", "/device:CPU:*"}
    cleared = _build(tmp_path / "b", model, clear_devices=True).meta_graphs[0]
    assert {n.device for n in cleared.graph_def.node} == {""}


def test_strip_default_attrs(tmp_path):
    model = simple_graph()
    full = _build(tmp_path / "a", model).meta_graphs[0]
    stripped = _build(tmp_path / "b", model, strip_default_attrs=True).meta_graphs[0]
    assert stripped.meta_info_def.stripped_default_attrs
    full_nodes = {n.name: n for n in full.graph_def.node}
    removed = 0
    for node in stripped.graph_def.node:
        op_def = get_op_def(node.op)
        defaults = {a.name: a.default_value for a in op_def.attr if a.HasField("default_value")}
        for name, value in full_nodes[node.name].attr.items():
            if name in defaults and value == defaults[name]:
                assert name not in node.attr, (node.name, name)
                removed += 1
            else:
                assert node.attr[name] == value, (node.name, name)
    assert removed > 0
    assert "allowed_devices" not in {k for n in stripped.graph_def.node
                                     if n.op == "VarHandleOp" for k in n.attr}
    # Non-default values stay: the saver's StringJoin separator "" is a default, N=2 is not.
    join = next(n for n in stripped.graph_def.node if n.name == "save/StringJoin")
    assert "separator" not in join.attr and join.attr["N"].i == 2


def test_as_text(tmp_path):
    model = simple_graph()
    model["graph"].asset(str(_write(tmp_path / "src" / "vocab.txt", "a\n")), name="vocab")
    binary = _build(tmp_path / "a", model)
    builder = SavedModelBuilder(tmp_path / "b", format="tf1")
    builder.add_meta_graph_and_variables(model["graph"], ["serve"], signature_def_map=_sig(model))
    path = builder.save(as_text=True)
    assert path == tmp_path / "b" / "saved_model.pbtxt"
    assert not (tmp_path / "b" / "saved_model.pb").exists()
    text = path.read_text()
    parsed = text_format.Parse(text, saved_model_pb2.SavedModel(), descriptor_pool=POOL)
    assert parsed == binary
    # Any values print expanded, as TensorFlow writes them.
    assert "[type.googleapis.com/tensorflow.AssetFileDef] {" in text
    assert (tmp_path / "b" / "assets" / "vocab.txt").read_text() == "a\n"


# --------------------------------------------------------------------------- determinism, atomicity

def _all_files(root: Path):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_building_twice_gives_identical_bytes(fixtures_dir, tmp_path, vocab_file):
    values = fixture_variables(fixtures_dir)
    save_like_fixture(build_fixture_graph(values, vocab_file), tmp_path / "one")
    save_like_fixture(build_fixture_graph(values, vocab_file), tmp_path / "two")
    one, two = _all_files(tmp_path / "one"), _all_files(tmp_path / "two")
    assert set(one) == {"saved_model.pb", "assets/vocab.txt", "variables/variables.index",
                        "variables/variables.data-00000-of-00001"}
    assert one == two


def test_failure_during_save_leaves_nothing(tmp_path, monkeypatch):
    parent = tmp_path / "out"
    parent.mkdir()
    model = simple_graph()
    builder = SavedModelBuilder(parent / "m", format="tf1")
    builder.add_meta_graph_and_variables(model["graph"], ["serve"])

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bundle, "write_checkpoint", broken)
    with pytest.raises(OSError, match="disk full"):
        builder.save()
    assert _leftovers(parent) == []
    monkeypatch.undo()
    builder.save()  # nothing was committed: a retry works
    assert _leftovers(parent) == ["m"]


def test_asset_changed_before_save_leaves_nothing(tmp_path):
    src = _write(tmp_path / "src" / "vocab.txt", "a\n")
    g, _ = _asset_graph([src])
    parent = tmp_path / "out"
    parent.mkdir()
    builder = SavedModelBuilder(parent / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"])
    src.write_text("changed\n")
    with pytest.raises(InvalidArgumentError, match="changed between add_meta_graph and save"):
        builder.save()
    assert _leftovers(parent) == []


def test_save_creates_missing_parents_and_uses_default_permissions(tmp_path):
    path = _build(tmp_path / "deep" / "er" / "m")
    assert path.saved_model_schema_version == 1
    mode = (tmp_path / "deep" / "er" / "m").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask


# --------------------------------------------------------------------------- graphs from dicts

def test_graph_dict_without_read_op_or_initializer_gets_them_in_the_copy(tmp_path):
    spec = {"node": [
        {"name": "v", "op": "VarHandleOp", "attr": {"dtype": "int64", "shape": [None]}},
    ]}
    user = Graph.from_dict(spec)
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(spec, ["serve"], variables={"v": np.arange(5)})
    builder.save()
    assert [n.name for n in user.nodes] == ["v"]
    meta = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs[0]
    nodes = {n.name: n for n in meta.graph_def.node}
    assert nodes["v/Read/ReadVariableOp"].op == "ReadVariableOp"
    assert list(nodes["save/SaveV2"].input)[3:] == ["v/Read/ReadVariableOp"]
    (var,) = _variable_defs(meta, "variables")
    assert (var.initializer_name, var.snapshot_name) == ("v/Assign", "v/Read/ReadVariableOp:0")
    # Unknown dims take the value's: the zeros initializer has the value's shape.
    shape = nodes["v/Initializer/zeros/shape_as_tensor"].attr["value"].tensor
    assert list(shape.int_val) == [5]
    np.testing.assert_array_equal(
        read_checkpoint(tmp_path / "m" / "variables" / "variables")["v"], np.arange(5))


def test_existing_tf_style_initializer_is_reused(tmp_path):
    g = Graph.from_dict({"node": [
        {"name": "v", "op": "VarHandleOp",
         "attr": {"dtype": "float32", "shape": [2], "shared_name": "v"}},
        {"name": "v/Initializer/initial_value", "op": "Const",
         "attr": {"dtype": "float32", "value": np.ones(2, np.float32)}},
        {"name": "v/Assign", "op": "AssignVariableOp",
         "input": ["v", "v/Initializer/initial_value"], "attr": {"dtype": "float32"}},
        {"name": "v/Read/ReadVariableOp", "op": "ReadVariableOp", "input": ["v"],
         "attr": {"dtype": "float32"}},
    ]})
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"], variables={"v": np.ones(2, np.float32)})
    builder.save()
    meta = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs[0]
    (var,) = _variable_defs(meta, "variables")
    assert var.initial_value_name == "v/Initializer/initial_value:0"
    assert not any("zeros" in n.name for n in meta.graph_def.node)


def test_empty_asset_list_records_nothing(tmp_path):
    src = _write(tmp_path / "src" / "vocab.txt", "a\n")
    g, _ = _asset_graph([src])
    builder = SavedModelBuilder(tmp_path / "m", format="tf1")
    builder.add_meta_graph_and_variables(g, ["serve"], assets=[])
    builder.save()
    meta = load_saved_model(tmp_path / "m" / "saved_model.pb").meta_graphs[0]
    assert "saved_model_assets" not in meta.collection_def
    assert not (tmp_path / "m" / "assets").exists()


def test_graph_argument_type_is_checked(tmp_path):
    with pytest.raises(InvalidArgumentError, match="graph must be a pysavedmodel.Graph"):
        SavedModelBuilder(tmp_path / "m", format="tf1").add_meta_graph_and_variables(42, ["serve"])


def _initializer_cases() -> Graph:
    """Variables sharing a dtype and shape (their initializers copied from the first),
    of other dtypes and shapes, one whose initializer names are taken by a user node
    (made unique: neither copied nor a template), one with its own initializer."""
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    h = x
    for i in range(4):
        w = g.variable(f"layer_{i}/w", np.full((2, 2), i, np.float32))
        h = g.op("MatMul", [h, w])
    g.variable("counts", np.arange(3, dtype=np.int64))
    g.variable("bias", np.ones(2, np.float32))
    g.constant(np.float32(0), name="layer_5/w/Initializer/zeros/Const")  # a user's node
    g.variable("layer_5/w", np.ones((2, 2), np.float32))
    g.variable("layer_6/w", np.ones((2, 2), np.float32))
    g.variable("own", np.ones((2, 2), np.float32))
    g.op("AssignVariableOp", ["own", g.constant(np.ones((2, 2), np.float32))], name="own/Assign")
    return g


def test_repeated_initializers_are_byte_identical_to_adding_each(tmp_path, monkeypatch):
    """A TF1 export copies one variable's zeros initializer for the others of its dtype
    and shape (Graph.copy_nodes_from); adding each through the Graph API writes the
    same bytes, unusual names included."""
    g = _initializer_cases()

    def export(path: Path) -> bytes:
        builder = SavedModelBuilder(path, format="tf1")
        builder.add_meta_graph_and_variables(g, ["serve"])
        builder.save()
        return (path / "saved_model.pb").read_bytes()

    copied = export(tmp_path / "copied")
    monkeypatch.setattr(Graph, "copy_nodes_from", lambda *args, **kwargs: False)
    assert copied == export(tmp_path / "each")
    meta = load_saved_model(tmp_path / "copied" / "saved_model.pb").meta_graphs[0]
    names = {n.name for n in meta.graph_def.node}
    assert {"layer_3/w/Initializer/zeros", "layer_5/w/Initializer/zeros/Const_1",
            "layer_6/w/Initializer/zeros/Const"} <= names
    assert "own/Initializer/zeros" not in names
    assert validate_saved_model(tmp_path / "copied") == []



def test_export_and_save_run_with_the_cyclic_collector_paused(tmp_path, monkeypatch):
    """Bulk export work holds the cyclic collector off (gcpause); it is on again after."""
    import gc

    import pysavedmodel.builder.builder as builder_module

    seen: dict[str, bool] = {}

    def spy(name, real):
        def wrapper(*args, **kwargs):
            seen[name] = gc.isenabled()
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(builder_module._tf2, "build_tf2_export",
                        spy("export", builder_module._tf2.build_tf2_export))
    monkeypatch.setattr(builder_module, "compute_fingerprint",
                        spy("fingerprint", builder_module.compute_fingerprint))
    model = simple_graph()
    builder = SavedModelBuilder(tmp_path / "m", format="tf2")
    builder.add_meta_graph_and_variables(
        model["graph"], ["serve"],
        signature_def_map={"serving_default": predict_signature_def({"x": model["x"]},
                                                                    {"y": model["y"]})})
    assert gc.isenabled()
    builder.save()
    assert seen == {"export": False, "fingerprint": False}
    assert gc.isenabled()
