"""SavedModels built by ``pysavedmodel build`` load and serve in TensorFlow 2.21.

Two specs go through the real entry point (``python -m pysavedmodel build``):

* ``examples/mlp/spec.json`` with ``--version 1``: the MLP from PyTorch-style
  safetensors weights (renamed, transposed); again with ``--shards 3`` (a TF2 export
  whose checkpoint has three data files) and ``--format tf1 --shards 2``;
* a lookup-table spec written here: an asset (vocabulary file, deleted after the
  build so only the copy in ``assets/`` can be read) and an init op that fills
  the table from it.

Then one TensorFlow subprocess runs the shared harness
(``tf_scripts/check_savedmodels.py``: the C++ loader through the C API,
``tf.compat.v1.saved_model.load``, ``tf.saved_model.load``, restore and re-save
through the SaverDef, ``saved_model_cli show --all``).  Outputs are compared with
numpy references computed from the safetensors file as the ``safetensors``
package reads it, not through pysavedmodel.
"""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import safetensors.numpy

from pysavedmodel.weights import tf2_plain_names
from tests.interop.savedmodel_harness import (
    LOADERS,
    Arrays,
    assert_outputs,
    built,
    init_op_signature_keys,
    ok,
    run_harness,
)
from tests.support.arrays_json import decode, encode
from tests.support.venvs import ROOT

EXAMPLE = ROOT / "examples" / "mlp"


@dataclass
class Case:
    name: str
    export_dir: Path
    tags: list[str]
    inputs: dict[str, Arrays]          # signature key -> feeds
    expected: dict[str, Arrays]        # signature key -> outputs
    variables: Arrays                  # checkpoint key -> value
    resave_signatures: list[str]       # runnable after a bare SaverDef restore (no init op)
    data_files: int = 1                # variables.data-* files written

    def harness_spec(self) -> dict[str, Any]:
        return {"name": self.name, "dir": str(self.export_dir), "tflite": None, "cli": True,
                "meta_graphs": [{
                    "tags": self.tags, "resave_signatures": self.resave_signatures,
                    "signatures": {key: {n: encode(v) for n, v in feeds.items()}
                                   for key, feeds in self.inputs.items()}}]}


def build_cli(spec: Path, out: Path, *extra: str) -> Path:
    proc = subprocess.run([sys.executable, "-m", "pysavedmodel", "build", str(spec), "-o",
                           str(out), *extra], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip())


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def example_mlp(root: Path, scratch: Path, *extra: str, name: str = "spec_mlp",
                data_files: int = 1) -> Case:
    written = build_cli(EXAMPLE / "spec.json", root / name, "--version", "1", *extra)
    assert written == root / name / "1"
    torch = safetensors.numpy.load_file(str(EXAMPLE / "weights.safetensors"))
    xs = np.random.default_rng(4).standard_normal((6, 4)).astype(np.float32)
    # PyTorch's Linear: y = x W^T + b.
    hidden = np.maximum(xs.astype(np.float64) @ torch["fc1.weight"].T + torch["fc1.bias"], 0)
    logits = hidden @ torch["fc2.weight"].T + torch["fc2.bias"]
    return Case(name, written, ["serve"], {"serving_default": {"x": xs}},
                {"serving_default": {"logits": logits, "probs": softmax(logits)}},
                {"fc1/kernel": torch["fc1.weight"].T, "fc1/bias": torch["fc1.bias"],
                 "fc2/kernel": torch["fc2.weight"].T, "fc2/bias": torch["fc2.bias"]},
                resave_signatures=["serving_default"], data_files=data_files)


def sharded_mlp(root: Path, scratch: Path) -> Case:
    return example_mlp(root, scratch, "--shards", "3", name="spec_mlp_shards", data_files=3)


def sharded_tf1_mlp(root: Path, scratch: Path) -> Case:
    return example_mlp(root, scratch, "--shards", "2", "--format", "tf1",
                       name="spec_mlp_tf1_shards", data_files=2)


VOCAB = ["zero", "one", "two", "drei", "quatre", "cinq"]
LOOKUP_SPEC: dict[str, Any] = {
    "description": "words -> ids from a vocabulary asset; the init op fills the table",
    "tags": ["serve"],
    "weights": {"files": ["offset.npz"]},
    "variables": [{"name": "offset", "shape": [], "dtype": "int64"}],
    "assets": {"vocab_file": "vocab.txt"},
    "graph": {"node": [
        {"name": "words", "op": "Placeholder", "attr": {"dtype": "string", "shape": [None]}},
        {"name": "table", "op": "HashTableV2",
         "attr": {"key_dtype": "string", "value_dtype": "int64",
                  "shared_name": "hash_table_vocab"}},
        {"name": "table_init", "op": "InitializeTableFromTextFileV2",
         "input": ["table", "vocab_file"], "attr": {"key_index": -2, "value_index": -1}},
        {"name": "init_all_tables", "op": "NoOp", "input": ["^table_init"]},
        {"name": "default_id", "op": "Const", "attr": {"dtype": "int64", "value": -1}},
        {"name": "ids", "op": "LookupTableFindV2", "input": ["table", "words", "default_id"]},
        {"name": "shifted", "op": "AddV2", "input": ["ids", "offset/Read/ReadVariableOp"]},
    ]},
    "signatures": {"serving_default": {"method": "predict", "inputs": {"words": "words:0"},
                                       "outputs": {"ids": "ids:0", "shifted": "shifted:0"}}},
    "init_op": "init_all_tables",
}
OFFSET = np.array(100, np.int64)


def lookup_table(root: Path, scratch: Path) -> Case:
    (scratch / "vocab.txt").write_text("".join(w + "\n" for w in VOCAB))
    np.savez(scratch / "offset.npz", offset=OFFSET)
    (scratch / "spec.json").write_text(json.dumps(LOOKUP_SPEC))
    written = build_cli(scratch / "spec.json", root / "lookup")
    (scratch / "vocab.txt").unlink()  # the loaders must read EXPORT/assets/vocab.txt
    words = np.array([b"two", b"five", b"cinq", b"zero", b""], dtype=object)
    ids = np.array([VOCAB.index(w.decode()) if w.decode() in VOCAB else -1 for w in words],
                   np.int64)
    return Case("spec_lookup", written, ["serve"], {"serving_default": {"words": words}},
                {"serving_default": {"ids": ids, "shifted": ids + OFFSET}},
                {"offset": OFFSET}, resave_signatures=[])


BUILDERS: dict[str, Callable[[Path, Path], Case]] = {
    "spec_mlp": example_mlp, "spec_lookup": lookup_table, "spec_mlp_shards": sharded_mlp,
    "spec_mlp_tf1_shards": sharded_tf1_mlp}


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case | str]:
    """Each spec built once; a failed build maps to its traceback (the others still run)."""
    root = tmp_path_factory.mktemp("built")
    out: dict[str, Case | str] = {}
    for name, build in BUILDERS.items():
        scratch = tmp_path_factory.mktemp(f"{name}-src")
        try:
            out[name] = build(root, scratch)
        except Exception:
            out[name] = traceback.format_exc()
    return out


@pytest.fixture(scope="module")
def tf_results(cases: dict[str, Case | str],
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every check for every built model, from one TensorFlow subprocess."""
    return run_harness([c.harness_spec() for c in cases.values() if isinstance(c, Case)],
                       tmp_path_factory.mktemp("tf_work"))


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_built_model_serves_in_every_loader(model: str, loader: str,
                                            cases: dict[str, Case | str],
                                            tf_results: dict[str, Any]) -> None:
    case = built(cases, model)
    what = f"{model} via {loader}"
    result = ok(tf_results[model][loader][",".join(case.tags)], what)
    servable = [k for k in result["signature_keys"] if not k.startswith("__saved_model_")]
    assert servable == sorted(case.expected), f"{what}: signature keys"
    for key, expected in case.expected.items():
        assert_outputs(result["outputs"][key], expected, f"{what} signature {key!r}")


@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_checkpoint_restores_and_resaves_identically(model: str, cases: dict[str, Case | str],
                                                     tf_results: dict[str, Any]) -> None:
    """TF restores through our SaverDef, reads back exactly the mapped weights, and its
    re-saved checkpoint has our bytes."""
    case = built(cases, model)
    result = ok(tf_results[model]["resave"][",".join(case.tags)], f"{model} resave")
    assert result["saver_def"]
    for key in case.resave_signatures:
        assert_outputs(result["outputs"][key], case.expected[key], f"{model} restored {key!r}")
    ours = tf2_plain_names({k: decode(v) for k, v in result["ours"].items()})
    assert sorted(ours) == sorted(case.variables)
    for name, value in case.variables.items():
        assert ours[name].dtype == value.dtype, name
        np.testing.assert_array_equal(ours[name], value, err_msg=name)
    n = case.data_files
    data = [f"variables.data-{i:05d}-of-{n:05d}" for i in range(n)]
    assert sorted(p.name for p in (case.export_dir / "variables").iterdir()) == \
        [*data, "variables.index"]
    if n == 1:
        assert result["files_equal"] == {data[0]: True, "variables.index": True}
    else:  # TF re-saves one data file (its one device); the values are ours
        assert result["resaved_files"] == ["variables.data-00000-of-00001", "variables.index"]
        resaved = {k: decode(v) for k, v in result["resaved"].items()}
        assert sorted(resaved) == sorted(result["ours"])
        for key, value in result["ours"].items():
            np.testing.assert_array_equal(resaved[key], decode(value), err_msg=key)


@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_saved_model_cli_shows_the_signature(model: str, cases: dict[str, Case | str],
                                            tf_results: dict[str, Any]) -> None:
    case = built(cases, model)
    result = ok(tf_results[model]["cli"], f"{model} saved_model_cli")
    assert result["returncode"] == 0, result["stderr"]
    assert "MetaGraphDef with tag-set: 'serve'" in result["stdout"]
    for key in case.expected:
        assert f"signature_def['{key}']" in result["stdout"]


def test_lookup_init_op_is_in_the_loaders_view(cases: dict[str, Case | str],
                                               tf_results: dict[str, Any]) -> None:
    """The spec's init_op reaches every loader as signature ``__saved_model_init_op``
    (that it ran is shown by the ids, which need the filled table)."""
    case = built(cases, "spec_lookup")
    for loader in LOADERS:
        keys = ok(tf_results["spec_lookup"][loader]["serve"], loader)["signature_keys"]
        assert keys == sorted([*init_op_signature_keys(case.export_dir, loader),
                               "serving_default"]), loader
