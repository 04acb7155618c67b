"""``validate_saved_model`` and ``pysavedmodel validate``.

Good models (TF-written fixtures, models our builder writes) give no finding;
each deliberately broken model (tests/savedmodel/broken_models.py) gives
exactly the findings it should, naming the broken thing.  Hostile bytes give
findings or a pysavedmodel.Error, never a crash; nothing is ever written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysavedmodel._proto import attr_value_pb2, meta_graph_pb2
from pysavedmodel.builder import SavedModelBuilder, predict_signature_def
from pysavedmodel.errors import Error, NotFoundError
from pysavedmodel.graph.graph import Graph
from pysavedmodel.savedmodel.validate import FINDING_CODES, Finding, validate_saved_model
from tests.savedmodel.broken_models import (
    DAMAGES,
    Damage,
    build_good,
    edit_meta,
    load_proto,
    node,
    save_proto,
)
from tests.support import damage as byte_damage
from tests.support.venvs import ROOT

FIXTURE_MODELS = ("savedmodel_v1_builder", "savedmodel_v2_module")


@pytest.fixture(scope="module")
def good_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("validate")
    return build_good(tmp / "good", tmp / "src")


def broken_copy(good: Path, tmp_path: Path, damage: Damage) -> Path:
    target = tmp_path / damage.name
    shutil.copytree(good, target)
    damage.apply(target)
    return target


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: bytes and mtime (validation must change neither)."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def run_cli(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run([sys.executable, "-m", "pysavedmodel", "validate", *map(str, args)],
                          capture_output=True, text=True, timeout=120, env=env)


# --------------------------------------------------------------------------- good models

@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_tensorflow_fixtures_have_no_findings(fixtures_dir: Path, name: str) -> None:
    assert validate_saved_model(fixtures_dir / name) == []


def test_builder_models_have_no_findings(good_model: Path, tmp_path: Path) -> None:
    assert validate_saved_model(good_model) == []
    as_text = build_good(tmp_path / "text", tmp_path / "src")
    proto = load_proto(as_text)
    (as_text / "saved_model.pb").unlink()
    from google.protobuf import text_format

    (as_text / "saved_model.pbtxt").write_text(text_format.MessageToString(proto))
    assert validate_saved_model(as_text) == []


def test_builder_models_without_variables_or_with_train_op(tmp_path: Path) -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    y = g.op("Relu", [x], name="y")
    builder = SavedModelBuilder(tmp_path / "novars")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"y": y})})
    builder.save()
    assert validate_saved_model(tmp_path / "novars") == []

    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    w = g.variable("w", np.ones(2, np.float32))
    y = g.op("Mul", [x, w], name="y")
    train = g.op("AssignAddVariableOp", [g.get_tensor("w"), g.constant(np.ones(2, np.float32))],
                 name="train")
    builder = SavedModelBuilder(tmp_path / "train")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"y": y})}, train_op=train)
    builder.add_meta_graph(["train"], signature_def_map={
        "serving_default": predict_signature_def({"x": "x:0"}, {"y": "y:0"})})
    builder.save(as_text=True)
    assert validate_saved_model(tmp_path / "train") == []


def test_builder_fixture_twin_has_no_findings(fixtures_dir: Path, tmp_path: Path) -> None:
    """The fixture's model rebuilt by our builder (two meta graphs, asset table, main op)."""
    from tests.builder.conftest import build_fixture_graph, fixture_variables, save_like_fixture

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("apple\nbanana\ncherry\n")
    model = build_fixture_graph(fixture_variables(fixtures_dir), vocab)
    save_like_fixture(model, tmp_path / "twin")
    assert validate_saved_model(tmp_path / "twin") == []


# --------------------------------------------------------------------------- broken models

def test_damages_cover_many_codes() -> None:
    codes = {code for damage in DAMAGES for code, _ in damage.expected}
    assert len(DAMAGES) >= 15 and len(codes) >= 25
    assert codes <= set(FINDING_CODES)


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.name for d in DAMAGES])
def test_each_damage_gives_exactly_its_findings(good_model: Path, tmp_path: Path,
                                                damage: Damage) -> None:
    model = broken_copy(good_model, tmp_path, damage)
    findings = validate_saved_model(model)
    assert Counter(f.code for f in findings) == Counter(code for code, _ in damage.expected), \
        "\n".join(map(str, findings))
    unmatched = list(findings)
    for code, where in damage.expected:
        match = next((f for f in unmatched if f.code == code and where in f.where), None)
        assert match is not None, f"no {code} finding at {where!r}: {findings}"
        unmatched.remove(match)
        assert match.message


def test_findings_accumulate(good_model: Path, tmp_path: Path) -> None:
    """Several problems at once: all reported, not just the first."""
    model = tmp_path / "many"
    shutil.copytree(good_model, model)
    by_name = {d.name: d for d in DAMAGES}
    for name in ("dangling-input", "signature-dtype", "asset-deleted", "checkpoint-byte-flipped",
                 "classify-float-input"):
        by_name[name].apply(model)
    codes = Counter(f.code for f in validate_saved_model(model))
    assert codes == Counter({"missing-input": 1, "signature-dtype-mismatch": 1,
                             "asset-missing": 1, "checksum-mismatch": 1,
                             "serving-classify-inputs": 1})


def test_function_library_ops_are_known(fixtures_dir: Path, tmp_path: Path) -> None:
    """TF2 graphs call library functions as ops; renaming the function breaks the calls."""
    model = tmp_path / "v2"
    shutil.copytree(fixtures_dir / "savedmodel_v2_module", model)
    proto = load_proto(model)
    function = proto.meta_graphs[0].graph_def.library.function[0]
    old = function.signature.name
    function.signature.name = "renamed_function"
    save_proto(model, proto)
    findings = validate_saved_model(model)
    calls = [f for f in findings if f.code == "function-missing"]
    assert calls and all(old in f.message for f in calls)
    # the object graph's concrete function of that name is gone from the library too
    # (the edit changes the hashes too: fingerprint.pb no longer matches)
    others = [f for f in findings if f.code not in ("function-missing", "fingerprint-mismatch")]
    assert [(f.code, old in f.where) for f in others] == [("object-function-missing", True)]


def test_undeclared_attrs_are_not_findings(good_model: Path, tmp_path: Path) -> None:
    """TF 2.21's loaders ignore attrs an op does not declare (the interop test loaded one)."""
    model = tmp_path / "extra-attr"
    shutil.copytree(good_model, model)
    edit_meta(lambda meta: node(meta, "y").attr["frobnicate"].MergeFrom(
        type(node(meta, "y").attr["T"])(i=3)))(model)
    assert validate_saved_model(model) == []


def test_finding_is_one_line() -> None:
    finding = Finding("unknown-op", "[serve] node 'y'", "unknown op 'Mull'")
    assert str(finding) == "unknown-op [serve] node 'y': unknown op 'Mull'"
    assert finding.as_dict() == {"code": "unknown-op", "where": "[serve] node 'y'",
                                 "message": "unknown op 'Mull'"}


def test_missing_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        validate_saved_model(tmp_path / "nope")
    with pytest.raises(NotFoundError, match="saved_model.pb"):
        validate_saved_model(tmp_path)


def test_nothing_is_written(good_model: Path, tmp_path: Path) -> None:
    by_name = {d.name: d for d in DAMAGES}
    for name in ("checkpoint-byte-flipped", "asset-path-traversal", "index-truncated"):
        model = broken_copy(good_model, tmp_path, by_name[name])
        before = snapshot(tmp_path)
        assert validate_saved_model(model)
        assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- hostile bytes

@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(target=st.sampled_from(["saved_model.pb", "variables/variables.index",
                               "variables/variables.data-00000-of-00001"]),
       kind=byte_damage.kinds, offset=st.integers(0, 1 << 16),
       payload=st.binary(min_size=1, max_size=16), length=st.integers(1, 64))
def test_hostile_bytes_give_findings_or_errors(good_model: Path, tmp_path: Path, target: str,
                                               kind: str, offset: int, payload: bytes,
                                               length: int) -> None:
    model = tmp_path / "fuzz"
    if model.exists():
        shutil.rmtree(model)
    shutil.copytree(good_model, model)
    path = model / target
    path.write_bytes(byte_damage.mutate(path.read_bytes(), kind, offset, payload, length))
    try:
        findings = validate_saved_model(model)
    except Error:
        return
    assert all(isinstance(f, Finding) and f.code in FINDING_CODES for f in findings)


NAMES = ("", "x", "x:0", "x:99", "^x", "y:-1", ":", "a:b:c", "\u00e9", "../..", "/abs", "w",
         "save/Const:0", "x:" + "9" * 30, "a" * 5000)


def _attr_value(data: st.DataObject) -> attr_value_pb2.AttrValue:
    kind = data.draw(st.sampled_from(["i", "type", "s", "shape", "tensor", "func", "placeholder",
                                      "list_type", "list_i"]))
    value = attr_value_pb2.AttrValue()
    if kind == "i":
        value.i = data.draw(st.sampled_from([-1, 0, 2, 2**40, 2**62]))
    elif kind == "type":
        value.type = data.draw(st.integers(0, 130))  # type: ignore[assignment]
    elif kind == "s":
        value.s = data.draw(st.binary(max_size=4))
    elif kind == "shape":
        value.shape.dim.add(size=data.draw(st.sampled_from([-5, -1, 0, 3, 2**62])))
    elif kind == "tensor":
        value.tensor.dtype = data.draw(st.integers(0, 25))  # type: ignore[assignment]
        value.tensor.tensor_shape.dim.add(size=data.draw(st.sampled_from([-1, 2, 2**40])))
        value.tensor.tensor_content = data.draw(st.binary(max_size=9))
    elif kind == "func":
        value.func.name = data.draw(st.sampled_from(["f", "", "Mul"]))
    elif kind == "placeholder":
        value.placeholder = "T"
    elif kind == "list_type":
        value.list.type.extend(data.draw(st.lists(st.integers(0, 30), max_size=3)))  # type: ignore[arg-type]
    else:
        value.list.i.extend(data.draw(st.lists(st.integers(-5, 5), max_size=3)))
    return value


def _mutate(meta: meta_graph_pb2.MetaGraphDef, data: st.DataObject) -> None:
    """One structural edit of a meta graph (nodes, attrs, signatures, saver, assets...)."""
    nodes = meta.graph_def.node
    target = nodes[data.draw(st.integers(0, len(nodes) - 1))]
    name = st.sampled_from(NAMES)
    kind = data.draw(st.sampled_from(["op", "input", "attr", "name", "signature", "saver",
                                      "collection", "function", "asset", "delete"]))
    if kind == "op":
        target.op = data.draw(st.sampled_from(OP_NAMES))
    elif kind == "input":
        target.input.append(data.draw(name))
    elif kind == "attr":
        key = data.draw(st.sampled_from([*target.attr, "T", "N", "dtype", "value", "dtypes", "f"]))
        target.attr[key].CopyFrom(_attr_value(data))
    elif kind == "name":
        target.name = data.draw(name)
    elif kind == "signature":
        signature = meta.signature_def[data.draw(st.sampled_from(sorted(meta.signature_def)))]
        signature.method_name = data.draw(st.sampled_from(
            ["", "tensorflow/serving/classify", "tensorflow/serving/regress"]))
        for info in signature.inputs.values():
            info.name = data.draw(name)
            info.dtype = data.draw(st.integers(0, 200))  # type: ignore[assignment]
    elif kind == "saver":
        meta.saver_def.restore_op_name = data.draw(name)
        meta.saver_def.filename_tensor_name = data.draw(name)
    elif kind == "collection":
        key = data.draw(st.sampled_from(["saved_model_assets", "saved_model_main_op", "other"]))
        type_url = data.draw(st.sampled_from(["", "type.googleapis.com/tensorflow.AssetFileDef"]))
        meta.collection_def[key].any_list.value.add(type_url=type_url,
                                                    value=data.draw(st.binary(max_size=6)))
    elif kind == "function":
        function = meta.graph_def.library.function.add()
        function.signature.name = data.draw(st.sampled_from(["f", "Mul", ""]))
        body = function.node_def.add(name="a", op=data.draw(st.sampled_from([*OP_NAMES, "f"])))
        body.input.append(data.draw(name))
        function.ret["o"] = data.draw(name)
    elif kind == "asset":
        meta.asset_file_def.add(filename=data.draw(name)).tensor_info.name = data.draw(name)
    else:
        nodes.remove(target)


OP_NAMES = ("Mul", "Const", "RestoreV2", "VarHandleOp", "AssignVariableOp", "Identity",
            "StatefulPartitionedCall", "IdentityN", "Placeholder", "NoOp", "Merge", "Mull")


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_protos_give_findings_or_errors(good_model: Path, tmp_path: Path,
                                                data: st.DataObject) -> None:
    model = tmp_path / "fuzz-proto"
    if model.exists():
        shutil.rmtree(model)
    shutil.copytree(good_model, model)
    proto = load_proto(model)
    for _ in range(data.draw(st.integers(1, 4))):
        _mutate(proto.meta_graphs[0], data)
    save_proto(model, proto)
    try:
        findings = validate_saved_model(model)
    except Error:
        return
    assert all(isinstance(f, Finding) and f.code in FINDING_CODES for f in findings)


# --------------------------------------------------------------------------- CLI

def test_cli_ok(good_model: Path, fixtures_dir: Path) -> None:
    proc = run_cli(good_model)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"OK: {good_model} (1 meta graphs, 4 signatures, 1 variables)\n"
    proc = run_cli(fixtures_dir / "savedmodel_v1_builder")
    assert proc.returncode == 0
    assert "(2 meta graphs, 3 signatures, 2 variables)" in proc.stdout


def test_cli_one_line_per_finding(good_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "two"
    shutil.copytree(good_model, model)
    by_name = {d.name: d for d in DAMAGES}
    by_name["init-op-missing"].apply(model)
    by_name["asset-deleted"].apply(model)
    findings = validate_saved_model(model)
    proc = run_cli(model)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [str(f) for f in findings]
    assert sorted(line.split(" ")[0] for line in proc.stdout.splitlines()) == \
        ["asset-missing", "init-op-missing", "init-op-missing"]
    proc = run_cli(model, "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == [f.as_dict() for f in findings]


def test_cli_json_ok_is_empty_list(good_model: Path) -> None:
    proc = run_cli("--json", good_model)
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def test_cli_missing_dir_is_one_line_error(tmp_path: Path) -> None:
    proc = run_cli(tmp_path / "nope")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("pysavedmodel: error: ")
