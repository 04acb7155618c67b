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

SCRIPT = r"""
import json
import sys
import traceback

REPO_ROOT, SPEC_PATH = sys.argv[1], sys.argv[2]
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


with open(SPEC_PATH) as spec_file:
    SPEC = json.load(spec_file)
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
    results: dict[str, Any] = run_tf(SCRIPT, ROOT, spec_path)
    results["_dirs"] = {name: str(path) for name, path in dirs.items()}
    return results


@pytest.mark.parametrize("name", ["good", *FIXTURE_MODELS])
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
