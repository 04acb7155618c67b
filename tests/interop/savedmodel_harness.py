"""The pytest side of ``tf_scripts/check_savedmodels.py``, shared by the interop modules
that build SavedModels and check them in TensorFlow (the public API and ``pysavedmodel
build``): one TF subprocess for all models, and the checks on what it reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from tests.support.arrays_json import decode
from tests.support.tf import run_tf
from tests.support.venvs import ROOT

SCRIPT = Path(__file__).with_name("tf_scripts") / "check_savedmodels.py"
LOADERS = ("capi", "v1", "v2")
Arrays = dict[str, np.ndarray]

CaseT = TypeVar("CaseT")


def run_harness(models: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    """Every loader's report for every model spec, from one TensorFlow subprocess."""
    spec = work / "spec.json"
    spec.write_text(json.dumps({"work_dir": str(work), "models": models}))
    result: dict[str, Any] = run_tf(SCRIPT.read_text(), ROOT, spec)
    return result


def built(cases: dict[str, CaseT | str], model: str) -> CaseT:
    """The built case, or a failure showing the traceback of its build."""
    case = cases[model]
    if isinstance(case, str):
        pytest.fail(f"building {model!r} with pysavedmodel failed:\n{case}")
    return case


def ok(result: Any, what: str) -> dict[str, Any]:
    """The result of one check, or a failure carrying TensorFlow's message."""
    assert isinstance(result, dict), f"{what}: no result"
    if "error" in result:
        pytest.fail(f"{what} failed in TensorFlow:\n{result['error']}\n"
                    f"{result.get('traceback', '')}")
    return result


def assert_outputs(got: dict[str, Any], expected: Arrays, what: str) -> None:
    """TF's outputs equal the numpy references: exactly for strings, integers and
    booleans, to float32 rounding otherwise."""
    assert sorted(got) == sorted(expected), f"{what}: output keys"
    for key, want in expected.items():
        actual = decode(got[key])
        label = f"{what} output {key!r}"
        assert actual.shape == want.shape, f"{label}: shape {actual.shape} != {want.shape}"
        if want.dtype == object:
            assert actual.tolist() == want.tolist(), label
        elif want.dtype.kind in "iub":
            assert actual.dtype == want.dtype, f"{label}: dtype {actual.dtype}"
            np.testing.assert_array_equal(actual, want, err_msg=label)
        else:
            assert actual.dtype == np.float32, f"{label}: dtype {actual.dtype}"
            np.testing.assert_allclose(actual, want, rtol=1e-5, atol=1e-6, err_msg=label)


def is_tf2_export(export_dir: Path) -> bool:
    """Whether our builder wrote ``export_dir`` as a TF2 SavedModel (an object graph)."""
    from pysavedmodel._proto import saved_model_pb2

    model = saved_model_pb2.SavedModel.FromString((export_dir / "saved_model.pb").read_bytes())
    return any(m.HasField("object_graph_def") for m in model.meta_graphs)


def init_op_signature_keys(export_dir: Path, loader: str) -> list[str]:
    """The init op signature key the ``loader`` lists: every loader lists it for a TF1
    export; ``tf.saved_model.load`` ("v2") runs a TF2 export's init op through its
    tables' ``_initialize`` and lists only the real signatures."""
    return [] if loader == "v2" and is_tf2_export(export_dir) else ["__saved_model_init_op"]
