"""The findings of ``validate_saved_model`` are real: TensorFlow agrees with them.

Every deliberately broken model of tests/savedmodel/broken_models.py, the good
model it starts from and the TF-written fixtures go through ONE TensorFlow
subprocess, which for each model:

* loads it with the C++ loader (``TF_LoadSessionFromSavedModel``, TF Serving's
  code path) and, when that works, runs signature ``serving_default``;
* loads it with ``tf.compat.v1.saved_model.load`` in a Session;
* asks TF's ``is_valid_signature`` (the serving rules) about every signature.

Models that validate with no finding must pass all of that (and compute
``y = x * w``); each broken model must fail the way its ``tf_load`` label says:
the C++ loader refuses it, or only the v1 loader does, or it loads and running
its serving signature fails, or TF judges the damaged signature invalid.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysavedmodel.savedmodel.validate import validate_saved_model
from tests.savedmodel.broken_models import DAMAGES, W_VALUE, Damage, build_good
from tests.support.tf import FIXTURES, run_tf
from tests.support.venvs import ROOT

X_VALUE = [[1.0, 2.0], [-3.0, 0.5]]
FIXTURE_MODELS = ("savedmodel_v1_builder", "savedmodel_v2_module")
TF_WRITTEN = ("tf_v1_resource_cfv2", "tf_v1_ref_cfv1_partitioned", "tf2_module_control_flow")
"""Models the TF subprocess writes: v1 Builder with resource or ref (partitioned)
variables and functional or v1 control flow; tf.saved_model.save of a module with a
loop, a cond and an asset-backed table (asset_file_def)."""

SCRIPT = r"""
import json
import os
import sys

REPO_ROOT, SPEC_PATH, TF_OUT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, REPO_ROOT)

import numpy as np
import tensorflow as tf

from tests.support import tf_capi

RESERVED = ("__saved_model_init_op", "__saved_model_train_op")
WORDS = [b"apple", b"banana", b"durian"]


def error(exc):
    return {"error": f"{type(exc).__name__}: {exc}"[:2000]}


def check_capi(model):
    try:
        session = tf_capi.SavedModelSession(model["dir"], ["serve"])
    except BaseException as exc:
        return error(exc), None
    with session:
        if model["run"] is None:
            return {"ok": True}, None
        try:
            x = np.array(model["run"], np.float32)
            out = session.run_signature("serving_default", {"x": x})
            ids = session.run_signature("lookup", {"words": np.array(WORDS, object)})["ids"]
            return {"ok": True}, {"y": np.asarray(out["y"]).tolist(), "ids": ids.tolist()}
        except BaseException as exc:
            return {"ok": True}, error(exc)


def check_v1(model):
    try:
        with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
            meta = tf.compat.v1.saved_model.load(sess, ["serve"], model["dir"])
            valid = {key: bool(tf.compat.v1.saved_model.is_valid_signature(sig))
                     for key, sig in meta.signature_def.items() if key not in RESERVED}
        return {"ok": True}, valid
    except BaseException as exc:
        return error(exc), None


def write_v1(path, *, ref_variables, control_flow_v2, partitioned):
    # tf.compat.v1 Builder: variables, while loop, cond (v1 or functional control flow).
    if control_flow_v2:
        tf.compat.v1.enable_control_flow_v2()
    else:
        tf.compat.v1.disable_control_flow_v2()
    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 4], name="x")
        partitioner = tf.compat.v1.fixed_size_partitioner(2) if partitioned else None
        w = tf.compat.v1.get_variable("w", shape=[4, 6], partitioner=partitioner,
                                      use_resource=not ref_variables,
                                      initializer=tf.compat.v1.ones_initializer())
        y = tf.matmul(x, w)
        _, total = tf.compat.v1.while_loop(lambda i, acc: i < 3,
                                           lambda i, acc: (i + 1, acc + y),
                                           [tf.constant(0), tf.zeros_like(y)])
        out = tf.cond(tf.reduce_sum(total) > 0, lambda: total, lambda: -total)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(path)
            signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"y": out})
            builder.add_meta_graph_and_variables(
                sess, ["serve"], signature_def_map={"serving_default": signature})
            builder.save()
    tf.compat.v1.enable_control_flow_v2()


class Module(tf.Module):
    def __init__(self, vocab):
        super().__init__()
        self.w = tf.Variable(tf.ones([4, 6]))
        self.table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
            vocab, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64,
            tf.lookup.TextFileIndex.LINE_NUMBER), -1)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32),
                                  tf.TensorSpec([None], tf.string)])
    def __call__(self, x, words):
        # Explicit loop: autograph cannot read the source of a `python -c` script.
        _, total = tf.while_loop(lambda i, acc: i < 3,
                                 lambda i, acc: (i + 1, acc + tf.matmul(x, self.w)),
                                 [tf.constant(0), tf.zeros([tf.shape(x)[0], 6])])
        y = tf.cond(tf.reduce_sum(total) > 0, lambda: total, lambda: -total)
        return {"y": y, "ids": self.table.lookup(words)}


def write_tf_models(out):
    os.makedirs(out, exist_ok=True)
    vocab = os.path.join(out, "vocab.txt")
    with open(vocab, "w") as f:
        f.write("apple\nbanana\n")
    written = {
        "tf_v1_resource_cfv2": dict(ref_variables=False, control_flow_v2=True, partitioned=False),
        "tf_v1_ref_cfv1_partitioned": dict(ref_variables=True, control_flow_v2=False,
                                           partitioned=True),
    }
    for name, options in written.items():
        write_v1(os.path.join(out, name), **options)
    module = Module(vocab)
    tf.saved_model.save(module, os.path.join(out, "tf2_module_control_flow"),
                        signatures=module.__call__)
    return [*written, "tf2_module_control_flow"]


with open(SPEC_PATH) as spec_file:
    SPEC = json.load(spec_file)
for name in write_tf_models(TF_OUT):
    SPEC.append({"name": name, "dir": os.path.join(TF_OUT, name), "run": None})
results = {}
for model in SPEC:
    capi, run = check_capi(model)
    v1, valid = check_v1(model)
    results[model["name"]] = {"capi": capi, "run": run, "v1": v1, "valid": valid}
print(json.dumps(results))
"""


def _prepare(tmp: Path) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    good = build_good(tmp / "good", tmp / "src")
    dirs: dict[str, Path] = {"good": good}
    for damage in DAMAGES:
        target = tmp / damage.name
        shutil.copytree(good, target)
        damage.apply(target)
        dirs[damage.name] = target
    for name in FIXTURE_MODELS:
        dirs[name] = FIXTURES / name
    spec = [{"name": name, "dir": str(path),
             "run": None if name in FIXTURE_MODELS else X_VALUE} for name, path in dirs.items()]
    return spec, dirs


@pytest.fixture(scope="module")
def tf_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("validate_interop")
    spec, dirs = _prepare(tmp)
    spec_path = tmp / "spec.json"
    spec_path.write_text(json.dumps(spec))
    tf_out = tmp / "tf_written"
    results: dict[str, Any] = run_tf(SCRIPT, ROOT, spec_path, tf_out)
    for name in TF_WRITTEN:
        dirs[name] = tf_out / name
    results["_dirs"] = {name: str(path) for name, path in dirs.items()}
    return results


@pytest.mark.parametrize("name", ["good", *FIXTURE_MODELS, *TF_WRITTEN])
def test_models_that_validate_load_and_serve(tf_results: dict[str, Any], name: str) -> None:
    assert validate_saved_model(tf_results["_dirs"][name]) == []
    result = tf_results[name]
    assert result["capi"] == {"ok": True}, result["capi"]
    assert result["v1"] == {"ok": True}, result["v1"]
    assert result["valid"] and all(result["valid"].values()), result["valid"]
    if name == "good":
        expected = np.array(X_VALUE, np.float32) * W_VALUE
        np.testing.assert_array_equal(np.array(result["run"]["y"], np.float32), expected)
        assert result["run"]["ids"] == [0, 1, -1]  # apple, banana, durian in assets/vocab.txt


def _signature_named(damage: Damage) -> str:
    where = damage.expected[0][1]
    return where.split("'")[1]


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.name for d in DAMAGES])
def test_findings_are_real(tf_results: dict[str, Any], damage: Damage) -> None:
    result = tf_results[damage.name]
    if damage.tf_load == "capi-fails":
        assert "error" in result["capi"], \
            f"TF's C++ loader accepted {damage.name}: {result}"
    elif damage.tf_load == "v1-fails":
        assert result["capi"] == {"ok": True}, result["capi"]
        assert "error" in result["v1"], f"tf.compat.v1 loader accepted {damage.name}"
    elif damage.tf_load == "run-fails":
        assert result["capi"] == {"ok": True}, result["capi"]
        assert result["run"] is not None and "error" in result["run"], result["run"]
    elif damage.tf_load == "invalid-signature":
        assert result["capi"] == {"ok": True}, result["capi"]
        assert result["valid"][_signature_named(damage)] is False, result["valid"]
    else:
        assert damage.tf_load in ("loads", "loads-outside-assets"), damage.tf_load
        assert result["capi"] == {"ok": True}, result["capi"]
        if damage.tf_load == "loads-outside-assets":
            # TF read DIR/vocab.txt (banana, apple), not DIR/assets/vocab.txt.
            assert result["run"]["ids"] == [1, 0, -1], result["run"]
