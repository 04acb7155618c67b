"""build_from_spec: the JSON spec of ``pysavedmodel build`` (library level).

The example spec (examples/mlp) builds a model whose checkpoint holds the
safetensors weights renamed and transposed; every spec problem raises an error
of the pysavedmodel family whose message starts with the JSON path, and leaves
nothing on disk.  (TensorFlow loading what is built: tests/interop/test_build_interop.py.)
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysavedmodel import load_weights
from pysavedmodel._proto import meta_graph_pb2, saved_model_pb2
from pysavedmodel.errors import (
    AlreadyExistsError,
    CorruptCheckpointError,
    Error,
    GraphError,
    InvalidArgumentError,
    NotFoundError,
    OpError,
    SignatureError,
    UnsupportedDTypeError,
)
from pysavedmodel.spec import build_from_spec, load_spec
from tests.support.venvs import ROOT

EXAMPLE = ROOT / "examples" / "mlp"
SPEC = EXAMPLE / "spec.json"


def example_spec() -> dict[str, Any]:
    return copy.deepcopy(json.loads(SPEC.read_text()))


def torch_weights() -> dict[str, np.ndarray]:
    """The example's weights read by the safetensors package itself (an independent reader)."""
    return safetensors.numpy.load_file(str(EXAMPLE / "weights.safetensors"))


def saved_model(export_dir: Path) -> saved_model_pb2.SavedModel:
    return saved_model_pb2.SavedModel.FromString((export_dir / "saved_model.pb").read_bytes())


def only_meta_graph(export_dir: Path) -> meta_graph_pb2.MetaGraphDef:
    (meta,) = saved_model(export_dir).meta_graphs
    return meta


# --------------------------------------------------------------------------- the example
def test_example_spec_builds_the_mlp_with_transposed_torch_weights(tmp_path: Path) -> None:
    written = build_from_spec(SPEC, tmp_path / "out")
    assert written == tmp_path / "out"
    ckpt = load_weights(written)
    torch = torch_weights()
    assert sorted(ckpt) == ["fc1/bias", "fc1/kernel", "fc2/bias", "fc2/kernel"]
    for layer in ("fc1", "fc2"):
        np.testing.assert_array_equal(ckpt[f"{layer}/kernel"], torch[f"{layer}.weight"].T)
        np.testing.assert_array_equal(ckpt[f"{layer}/bias"], torch[f"{layer}.bias"])
        assert ckpt[f"{layer}/kernel"].dtype == np.float32
    meta = only_meta_graph(written)
    assert list(meta.meta_info_def.tags) == ["serve"]
    sig = meta.signature_def["serving_default"]
    assert sig.method_name == "tensorflow/serving/predict"
    assert sig.inputs["x"].name == "serving_default_x:0"  # a TF2 export's placeholder
    assert [d.size for d in sig.inputs["x"].tensor_shape.dim] == [-1, 4]
    assert {k: v.name for k, v in sig.outputs.items()} == {
        "logits": "StatefulPartitionedCall:0", "probs": "StatefulPartitionedCall:1"}
    assert [d.size for d in sig.outputs["probs"].tensor_shape.dim] == [-1, 3]
    nodes = {n.name: n for n in meta.graph_def.node}
    assert nodes["fc1/kernel"].op == "VarHandleOp"
    assert nodes["fc1/kernel"].attr["shared_name"].s == b"fc1/kernel"
    body = next(f for f in meta.graph_def.library.function
                if f.signature.name.startswith("__inference_serve_"))
    matmul = next(n for n in body.node_def if n.name == "fc1/MatMul")
    assert matmul.input[1] == "fc1/kernel/Read/ReadVariableOp:value:0"


def test_version_writes_tf_serving_layout_next_to_other_versions(tmp_path: Path) -> None:
    base = tmp_path / "models" / "mlp"
    first = build_from_spec(SPEC, base, version=1)
    second = build_from_spec(SPEC, base, version=2)
    assert (first, second) == (base / "1", base / "2")
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
    assert (first / "saved_model.pb").read_bytes() == (second / "saved_model.pb").read_bytes()
    with pytest.raises(AlreadyExistsError, match=r"version 1 already exists"):
        build_from_spec(SPEC, base, version=1)
    (base / "3").mkdir()  # an empty version folder may be filled
    assert build_from_spec(SPEC, base, version=3) == base / "3"
    assert (base / "3" / "saved_model.pb").is_file()


def test_same_spec_gives_the_same_bytes(tmp_path: Path) -> None:
    a = build_from_spec(SPEC, tmp_path / "a")
    b = build_from_spec(example_spec(), tmp_path / "b", base_dir=EXAMPLE)
    for rel in ("saved_model.pb", "variables/variables.index",
                "variables/variables.data-00000-of-00001"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_load_spec_reads_a_json_object(tmp_path: Path) -> None:
    assert load_spec(SPEC) == example_spec()
    bad = tmp_path / "bad.json"
    bad.write_text('{"tags": ["serve"],\n "graph": {]}')
    with pytest.raises(InvalidArgumentError, match=r"not valid JSON: .* line 2 column 12"):
        load_spec(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(InvalidArgumentError, match="JSON object at the top, got an array"):
        load_spec(bad)
    with pytest.raises(NotFoundError, match="spec file .*absent.json.* not found"):
        load_spec(tmp_path / "absent.json")


# --------------------------------------------------------------------------- mapping rules
def write_npz(path: Path, **arrays: np.ndarray) -> str:
    np.savez(path, **arrays)
    return path.name


def scalar_graph(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"node": [{"name": "x", "op": "Placeholder",
                      "attr": {"dtype": "float32", "shape": [None]}}, *nodes]}


def test_rules_first_match_wins_keep_unmatched_drop_cast_and_permute(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    conv = rng.standard_normal((8, 3, 2, 2))          # torch Conv2d: [out, in, kh, kw], float64
    arrays = {"enc.conv.weight": conv, "enc.scale": np.full(3, 2.0, np.float32),
              "bn.num_batches_tracked": np.array(5, np.int64),
              "plain": np.arange(3, dtype=np.int32)}
    spec = {
        "weights": {"files": [write_npz(tmp_path / "w.npz", **arrays)], "map": [
            {"match": r"num_batches_tracked$", "drop": True},
            {"match": r"^enc\.conv\.weight$", "to": "conv/kernel", "transpose": [2, 3, 1, 0],
             "dtype": "float32"},
            {"match": r"^enc\.", "to": "encoder/"},       # re.sub: only the prefix is replaced
        ]},
        "variables": ["conv/kernel", {"name": "encoder/scale", "dtype": "float32"},
                      {"name": "counts", "weight": "plain", "shape": [None]}],
        "graph": scalar_graph(),
    }
    written = build_from_spec(spec, tmp_path / "out", base_dir=tmp_path)
    ckpt = load_weights(written)
    assert sorted(ckpt) == ["conv/kernel", "counts", "encoder/scale"]
    assert ckpt["conv/kernel"].dtype == np.float32 and ckpt["conv/kernel"].shape == (2, 2, 3, 8)
    np.testing.assert_array_equal(ckpt["conv/kernel"],
                                  conv.transpose(2, 3, 1, 0).astype(np.float32))
    np.testing.assert_array_equal(ckpt["encoder/scale"], arrays["enc.scale"])
    np.testing.assert_array_equal(ckpt["counts"], arrays["plain"])
    assert ckpt["counts"].dtype == np.int32


def test_safetensors_weights_of_every_kind_reach_the_checkpoint(tmp_path: Path) -> None:
    # safetensors files are read through a memory map (views of the file, no copy): the
    # checkpoint must still hold exactly the file's values, for every dtype and layout.
    rng = np.random.default_rng(3)
    arrays = {"w": rng.standard_normal((5, 3)).astype(np.float32),
              "h": rng.standard_normal(7).astype(np.float16),
              "i": np.arange(-4, 4, dtype=np.int64).reshape(2, 4),
              "b": np.array([True, False, True]),
              "e": np.zeros((0, 3), np.float32),
              "s": np.array(2.5, np.float64)}
    safetensors.numpy.save_file(arrays, str(tmp_path / "w.safetensors"))
    spec = {"weights": {"files": ["w.safetensors"], "map": [
                {"match": "^w$", "to": "wt", "transpose": [1, 0]},
                {"match": "^h$", "to": "h32", "dtype": "float32"}]},
            "variables": ["wt", "h32", "i", "b", "e", "s"], "graph": scalar_graph()}
    written = build_from_spec(spec, tmp_path / "out", base_dir=tmp_path)
    ckpt = load_weights(written)
    np.testing.assert_array_equal(ckpt["wt"], arrays["w"].T)
    np.testing.assert_array_equal(ckpt["h32"], arrays["h"].astype(np.float32))
    for name in "ibes":
        assert ckpt[name].dtype == arrays[name].dtype and ckpt[name].shape == arrays[name].shape
        np.testing.assert_array_equal(ckpt[name], arrays[name])
    # The source is untouched and can be replaced at once (the map holds no lock).
    (tmp_path / "w.safetensors").unlink()


def test_graph_varhandleops_take_weights_by_name_or_by_entry(tmp_path: Path) -> None:
    """VarHandleOps written in spec.graph: one gets the weight of its own name, the
    other is bound to a differently named weight by a spec.variables entry; shared_name
    (the checkpoint key) may differ from the node name."""
    w, b = np.arange(6, dtype=np.float32).reshape(3, 2), np.array([0.5, -1], np.float32)
    spec = {
        "weights": {"files": [write_npz(tmp_path / "w.npz", w=w, bias_values=b)]},
        "variables": [{"name": "layer/b", "weight": "bias_values"}],
        "graph": {"node": [
            {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": [None, 3]}},
            {"name": "w", "op": "VarHandleOp",
             "attr": {"dtype": "float32", "shape": [3, 2], "shared_name": "w"}},
            {"name": "layer/b", "op": "VarHandleOp",
             "attr": {"dtype": "float32", "shape": [2], "shared_name": "bias"}},
            {"name": "y", "op": "AddV2", "input": ["mm", "layer/b/read"]},
            {"name": "mm", "op": "MatMul", "input": ["x", "w/read"]},
            {"name": "w/read", "op": "ReadVariableOp", "input": ["w"]},
            {"name": "layer/b/read", "op": "ReadVariableOp", "input": ["layer/b"]},
        ]},
        "signatures": {"serving_default": {"inputs": {"x": "x"}, "outputs": {"y": "y:0"}}},
    }
    written = build_from_spec(spec, tmp_path / "out", base_dir=tmp_path)
    ckpt = load_weights(written)
    assert sorted(ckpt) == ["bias", "w"]
    np.testing.assert_array_equal(ckpt["w"], w)
    np.testing.assert_array_equal(ckpt["bias"], b)


VOCAB = "apple\nbanana\ncherry\n"


def lookup_spec(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "vocab.txt").write_text(VOCAB)
    return {
        "tags": ["serve", "lookup"],
        "assets": {"vocab": "vocab.txt"},
        "graph": {"node": [
            {"name": "words", "op": "Placeholder", "attr": {"dtype": "string", "shape": [None]}},
            {"name": "table", "op": "HashTableV2",
             "attr": {"key_dtype": "string", "value_dtype": "int64", "shared_name": "vocab_table"}},
            {"name": "table_init", "op": "InitializeTableFromTextFileV2",
             "input": ["table", "vocab"],
             "attr": {"key_index": -2, "value_index": -1}},
            {"name": "default_id", "op": "Const", "attr": {"dtype": "int64", "value": -1}},
            {"name": "ids", "op": "LookupTableFindV2", "input": ["table", "words", "default_id"]},
            {"name": "init_all_tables", "op": "NoOp", "input": ["^table_init"]},
        ]},
        "signatures": {"serving_default": {"method": "predict", "inputs": {"words": "words:0"},
                                           "outputs": {"ids": "ids:0"}}},
        "init_op": "init_all_tables",
    }


def test_assets_and_init_op(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    written = build_from_spec(lookup_spec(src), tmp_path / "out", base_dir=src, format="tf1")
    assert (written / "assets" / "vocab.txt").read_text() == VOCAB
    meta = only_meta_graph(written)
    assert sorted(meta.meta_info_def.tags) == ["lookup", "serve"]
    nodes = {n.name: n for n in meta.graph_def.node}
    # The Const holds the file's name only (no path of the machine that built it).
    assert list(nodes["vocab"].attr["value"].tensor.string_val) == [b"vocab.txt"]
    (asset,) = meta.collection_def["saved_model_assets"].any_list.value
    asset_def = meta_graph_pb2.AssetFileDef.FromString(asset.value)
    assert (asset_def.filename, asset_def.tensor_info.name) == ("vocab.txt", "vocab:0")
    assert meta.signature_def["__saved_model_init_op"].outputs[
        "__saved_model_init_op"].name == "init_all_tables"
    assert list(meta.collection_def["saved_model_main_op"].node_list.value) == ["init_all_tables"]


def test_assets_and_init_op_in_the_default_tf2_export(tmp_path: Path) -> None:
    """The same spec by default: a TF2 export carrying the asset and the table."""
    src = tmp_path / "src"
    src.mkdir()
    written = build_from_spec(lookup_spec(src), tmp_path / "out", base_dir=src)
    assert (written / "assets" / "vocab.txt").read_text() == VOCAB
    meta = only_meta_graph(written)
    assert [a.filename for a in meta.asset_file_def] == ["vocab.txt"]
    kinds = [n.WhichOneof("kind") for n in meta.object_graph_def.nodes]
    assert kinds.count("asset") == 1 and kinds.count("resource") == 1


# --------------------------------------------------------------------------- errors
Edit = Callable[[dict[str, Any], Path], None]


def set_path(spec: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    target: Any = spec
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def setter(dotted: str, value: Any) -> Edit:
    return lambda spec, _: set_path(spec, dotted, value)


def add_rule(rule: dict[str, Any]) -> Edit:
    return lambda spec, _: spec["weights"]["map"].append(rule)


def extra_weight(spec: dict[str, Any], tmp: Path) -> None:
    spec["weights"]["files"].append(write_npz(tmp / "extra.npz", fc3=np.zeros(2, np.float32)))


def duplicate_weight(spec: dict[str, Any], tmp: Path) -> None:
    spec["weights"]["files"].append(write_npz(tmp / "dup.npz", **{"fc1.bias": np.zeros(2)}))


def badly_named_asset(spec: dict[str, Any], tmp: Path) -> None:
    (tmp / "v.txt").write_text("a\n")
    spec["assets"] = {"bad name!": "v.txt"}


def colliding_rename(spec: dict[str, Any], tmp: Path) -> None:
    spec["weights"]["map"][1]["to"] = "fc1/bias"


ERRORS: dict[str, tuple[Edit, type[Exception], list[str]]] = {
    "unknown top-level key": (
        setter("weigths", {}), InvalidArgumentError, ["spec: unknown key(s) 'weigths'"]),
    "no graph": (
        lambda spec, _: spec.pop("graph"), InvalidArgumentError, ["spec: needs \"graph\""]),
    "tags not an array": (
        setter("tags", "serve"), InvalidArgumentError, ["spec.tags: expected an array"]),
    "weight file missing": (
        setter("weights.files.0", "w.safetensors"), NotFoundError,
        ["spec.weights.files[0]: file 'w.safetensors' not found"]),
    "weight file not a string": (
        setter("weights.files.0", 3), InvalidArgumentError,
        ["spec.weights.files[0]: expected a non-empty string, got a number 3"]),
    "same weight in two files": (
        duplicate_weight, InvalidArgumentError,
        ["spec.weights.files[1]:", "'fc1.bias' is also in 'weights.safetensors'"]),
    "regex matches nothing": (
        add_rule({"match": r"^layer\d\.weight$", "to": "x"}), InvalidArgumentError,
        ["spec.weights.map[2].match: regex '^layer\\\\d\\\\.weight$' matches no weight",
         "'fc1.weight'"]),
    "invalid regex": (
        setter("weights.map.0.match", "(fc"), InvalidArgumentError,
        ["spec.weights.map[0].match: invalid regex '(fc'"]),
    "bad group reference": (
        setter("weights.map.0.to", r"\2/kernel"), InvalidArgumentError,
        ["spec.weights.map[0].to: cannot rename 'fc1.weight'"]),
    "transpose not a permutation": (
        setter("weights.map.0.transpose", [0, 0]), InvalidArgumentError,
        ["spec.weights.map[0].transpose: expected a permutation", "[0, 0]"]),
    "transpose of the wrong rank": (
        setter("weights.map.1.transpose", [1, 0]), InvalidArgumentError,
        ["spec.weights.map[1].transpose: axes [1, 0] do not fit weight 'fc1.bias'", "[16]"]),
    "rule with neither to nor drop": (
        lambda spec, _: spec["weights"]["map"][1].pop("to"), InvalidArgumentError,
        ["spec.weights.map[1]: needs \"to\""]),
    "unknown cast dtype": (
        setter("weights.map.0.dtype", "float33"), UnsupportedDTypeError,
        ["spec.weights.map[0].dtype: unknown dtype name 'float33'"]),
    "string cast dtype": (
        setter("weights.map.0.dtype", "string"), UnsupportedDTypeError,
        ["spec.weights.map[0].dtype: dtype 'string' cannot be a weight's dtype"]),
    "two weights renamed to one name": (
        colliding_rename, InvalidArgumentError,
        ["spec.weights: weights fc1.bias [16] (from 'weights.safetensors') and fc2.bias [3]",
         "are both mapped to 'fc1/bias'"]),
    "shape after transpose does not fit": (
        setter("variables.0.shape", [4, 8]), InvalidArgumentError,
        ["spec.variables[0]: fc1.weight [16,4] transposed to [4,16] but variable 'fc1/kernel' "
         "is [4,8] (weight from 'weights.safetensors')"]),
    "dtype does not fit": (
        setter("variables.0.dtype", "float64"), InvalidArgumentError,
        ["spec.variables[0]:", "has dtype float32 but variable 'fc1/kernel' is float64",
         "add \"dtype\": \"float64\""]),
    "variable without weight": (
        setter("variables.1", {"name": "fc1/bais"}), NotFoundError,
        ["spec.variables[1]: no weight named 'fc1/bais' for variable 'fc1/bais'",
         "(did you mean 'fc1/bias'?)"]),
    "weight used twice": (
        setter("variables.3", {"name": "fc2/bias", "weight": "fc1/bias"}), InvalidArgumentError,
        ["spec.variables[3]: weight 'fc1/bias' already feeds variable 'fc1/bias'"]),
    "unused weight under strict": (
        extra_weight, InvalidArgumentError,
        ["spec.weights: weight(s) not used by any variable: 'fc3' = fc3 [2] from 'extra.npz'",
         "\"strict\": false"]),
    "variable declared twice": (
        setter("variables.1", "fc1/kernel"), InvalidArgumentError,
        ["spec.variables[1]: variable 'fc1/kernel' is already declared at spec.variables[0]"]),
    "bad variable shape": (
        setter("variables.0.shape", [4, -1]), InvalidArgumentError,
        ["spec.variables[0].shape: expected sizes"]),
    "unknown op": (
        setter("graph.node.1.op", "Matmul"), OpError,
        ["spec.graph.node[1]: node 'fc1/MatMul'", "did you mean 'MatMul'?"]),
    "input that does not exist": (
        setter("graph.node.3.input", ["fc1/BiasAd"]), GraphError,
        ["spec.graph.node[3]: node 'fc1/Relu' (Relu) input 'fc1/BiasAd'"]),
    "node clashes with a created variable": (
        setter("graph.node.6.name", "fc2/bias/Read/ReadVariableOp"), InvalidArgumentError,
        ["spec.graph.node[6]: node name 'fc2/bias/Read/ReadVariableOp' is also created by "
         "spec.variables[3]"]),
    "signature tensor missing": (
        setter("signatures.serving_default.outputs.probs", "prob:0"), NotFoundError,
        ["spec.signatures.serving_default.outputs.probs:", "'prob'"]),
    "signature unknown method": (
        setter("signatures.serving_default.method", "predikt"), InvalidArgumentError,
        ["spec.signatures.serving_default.method: unknown method 'predikt'"]),
    "classify signature against TF Serving's rules": (
        setter("signatures.serving_default.method", "classify"), SignatureError,
        ["spec.signatures.serving_default:", "classify"]),
    "signature with unknown key": (
        setter("signatures.serving_default.output", {}), InvalidArgumentError,
        ["spec.signatures.serving_default: unknown key(s) 'output'"]),
    "init op missing": (
        setter("init_op", "init_all"), NotFoundError, ["spec.init_op: no node 'init_all'"]),
    "asset file missing": (
        setter("assets", {"vocab": "vocab.txt"}), NotFoundError,
        ["spec.assets.vocab: file 'vocab.txt' not found"]),
    "asset name not a node name": (
        badly_named_asset, GraphError, ['spec.assets["bad name!"]:', "invalid node name"]),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_spec_errors_name_the_json_path_and_write_nothing(case: str, tmp_path: Path) -> None:
    edit, kind, parts = ERRORS[case]
    base = tmp_path / "src"
    base.mkdir()
    (base / "weights.safetensors").write_bytes((EXAMPLE / "weights.safetensors").read_bytes())
    spec = example_spec()
    edit(spec, base)
    out = tmp_path / "out"
    with pytest.raises(kind) as info:
        build_from_spec(spec, out, version=1, base_dir=base)
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"], "something was written"


def test_unused_weights_are_fine_when_not_strict(tmp_path: Path) -> None:
    base = tmp_path / "src"
    base.mkdir()
    (base / "weights.safetensors").write_bytes((EXAMPLE / "weights.safetensors").read_bytes())
    spec = example_spec()
    extra_weight(spec, base)
    spec["weights"]["strict"] = False
    written = build_from_spec(spec, tmp_path / "out", base_dir=base)
    assert "fc3" not in load_weights(written)


@pytest.mark.parametrize("version", [-1, True, 1.0, "1"])
def test_version_must_be_a_non_negative_int(version: Any, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(f"got {version!r}")):
        build_from_spec(SPEC, tmp_path / "out", version=version)
    assert list(tmp_path.iterdir()) == []


def test_non_empty_export_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(AlreadyExistsError, match="not empty"):
        build_from_spec(SPEC, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_spec_must_be_a_mapping_or_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="spec must be a mapping or the path"):
        build_from_spec(["graph"], tmp_path / "out")  # type: ignore[arg-type]


def test_unreadable_weight_file_names_the_spec_path(tmp_path: Path) -> None:
    (tmp_path / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    spec = {"weights": {"files": ["broken.safetensors"]}, "graph": scalar_graph()}
    with pytest.raises(CorruptCheckpointError) as info:
        build_from_spec(spec, tmp_path / "out", base_dir=tmp_path)
    assert str(info.value).startswith("spec.weights.files[0] ('broken.safetensors'): ")
    assert not (tmp_path / "out").exists()


def test_make_weights_reproduces_the_committed_file(tmp_path: Path) -> None:
    out = tmp_path / "weights.safetensors"
    proc = subprocess.run([sys.executable, str(EXAMPLE / "make_weights.py"), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    assert out.read_bytes() == (EXAMPLE / "weights.safetensors").read_bytes()
    assert {k: v.shape for k, v in torch_weights().items()} == {
        "fc1.weight": (16, 4), "fc1.bias": (16,), "fc2.weight": (3, 16), "fc2.bias": (3,)}


# --------------------------------------------------------------------------- robustness
def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position in a JSON document (object keys and array indices)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += json_paths(item, (*prefix, index))
    return out


EXAMPLE_PATHS = json_paths(json.loads(SPEC.read_text()))[1:]
ODD_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 20), st.sampled_from([2**64, -2**70]),
              st.floats(allow_nan=True), st.text(max_size=6),
              st.sampled_from(["x:0", "fc1/kernel", "(", "\\9", "float64", "string", "",
                               "weights.safetensors", "/", "..", "\ud800"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)


@settings(derandomize=True, deadline=None, database=None, max_examples=300,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(where=st.sampled_from(EXAMPLE_PATHS), value=ODD_JSON)
def test_any_odd_value_anywhere_gives_an_error_of_the_family(where: tuple[Any, ...],
                                                             value: Any) -> None:
    """One value of the example spec replaced by odd JSON: the build succeeds or raises
    a pysavedmodel.Error whose message starts with a JSON path; on failure nothing is
    left in the output's parent directory."""
    spec = example_spec()
    target: Any = spec
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        try:
            build_from_spec(spec, out, version=1, base_dir=EXAMPLE)
        except Error as exc:
            assert str(exc).startswith("spec"), str(exc)
            assert list(Path(tmp).iterdir()) == []
        else:
            assert (out / "1" / "saved_model.pb").is_file()


def _mapping_rss(path: Path) -> int:
    """Bytes of ``path``'s memory mapping resident in this process (/proc/self/smaps)."""
    rss = 0
    inside = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line[:1].isdigit() or line[:1] in "abcdef" and "-" in line.split()[0]:
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            rss += int(line.split()[1]) * 1024
    return rss


@pytest.mark.parametrize("limit, expected_mib", [(None, 4), (1 << 20, 1)])
def test_mapped_weights_are_paged_in_by_a_helper_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int | None,
        expected_mib: int) -> None:
    import threading

    from pysavedmodel.spec import weights_map

    if limit is not None:
        monkeypatch.setattr(weights_map, "_PREFAULT_MAX_BYTES", limit)
    path = tmp_path / "w.safetensors"
    safetensors.numpy.save_file({"w": np.ones((1024, 1024), np.float32)}, str(path))  # 4 MiB
    arrays = weights_map._mapped_safetensors(path)
    assert arrays is not None
    for thread in threading.enumerate():
        if thread.name == "pysavedmodel-prefault":
            thread.join()
    resident = _mapping_rss(path)
    # every page up to the limit, give or take the kernel's fault-around (64 KiB)
    assert expected_mib * (1 << 20) - 8192 <= resident <= expected_mib * (1 << 20) + (128 << 10)
    np.testing.assert_array_equal(arrays["w"], 1)
