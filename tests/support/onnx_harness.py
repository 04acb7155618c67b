"""Batched ONNX-converter checks: ORT references in one subprocess, conversion in-process, all
SavedModels served in ONE TensorFlow subprocess (C API harness and tf.saved_model.load).

``run_cases(cases, tmp)`` takes ``[(name, onnx.ModelProto, feeds)]`` (or ``(name,
(model, reference), feeds)``: ORT runs ``reference``, an equivalent model using only
features ORT has) and returns
``{name: Result}`` with ``ort`` (expected), ``capi`` and ``keras`` (tf.saved_model.load)
outputs, or ``error`` when our conversion raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import pysavedmodel

from . import venvs
from .onnx_env import ort_run
from .tf import run_tf

_TF_SCRIPT = r"""
import json, sys, traceback
sys.path.insert(0, sys.argv[1])
import numpy as np
import tensorflow as tf
from tests.support import tf_capi
spec = json.loads(open(sys.argv[2]).read())
report = {}
for case in spec:
    entry = {}
    feeds = dict(np.load(case["feeds"]))
    try:
        with tf_capi.SavedModelSession(case["dir"], ["serve"]) as sess:
            out = sess.run_signature("serving_default", feeds)
        np.savez(case["capi"], **out)
        entry["capi"] = True
    except BaseException as exc:
        entry["capi_error"] = f"{type(exc).__name__}: {exc}"[:3000]
    try:
        loaded = tf.saved_model.load(case["dir"])
        fn = loaded.signatures["serving_default"]
        out = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
        np.savez(case["loaded"], **out)
        entry["loaded"] = True
    except BaseException as exc:
        entry["loaded_error"] = f"{type(exc).__name__}: {exc}"[:3000]
    report[case["name"]] = entry
print(json.dumps(report))
"""


@dataclass
class Result:
    ort: dict[str, np.ndarray[Any, Any]] = field(default_factory=dict)
    capi: dict[str, np.ndarray[Any, Any]] | None = None
    loaded: dict[str, np.ndarray[Any, Any]] | None = None
    error: str = ""


def run_cases(cases: list[tuple[str, Any, dict[str, np.ndarray[Any, Any]]]],
              tmp: Path) -> dict[str, Result]:
    import onnx
    paths = []
    for name, model, _ in cases:
        path = tmp / f"{name}.onnx"
        # (model, reference): onnxruntime runs an equivalent reference model, for ONNX
        # features ORT itself lacks (LSTM/GRU layout=1)
        onnx.save(model[1] if isinstance(model, tuple) else model, str(path))
        paths.append(path)
    expected = ort_run(paths, [feeds for _, _, feeds in cases])
    results: dict[str, Result] = {}
    served = []
    for (name, model, feeds), ort in zip(cases, expected):
        result = results[name] = Result(ort=ort)
        export = tmp / f"{name}_sm"
        try:
            pysavedmodel.from_onnx(model[0] if isinstance(model, tuple) else model, export)
        except pysavedmodel.Error as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            continue
        served.append((name, export, feeds))
    serve(served, tmp, results)
    return results


def serve(models: list[tuple[str, Path, dict[str, np.ndarray[Any, Any]]]], tmp: Path,
          results: dict[str, Result]) -> None:
    """Run each (name, SavedModel dir, feeds) through the C API harness and
    tf.saved_model.load, all in ONE TF subprocess; fills ``results[name]``."""
    spec = []
    for name, export, feeds in models:
        np.savez(tmp / f"{name}_feeds.npz", **feeds)
        spec.append({"name": name, "dir": str(export), "feeds": str(tmp / f"{name}_feeds.npz"),
                     "capi": str(tmp / f"{name}_capi.npz"),
                     "loaded": str(tmp / f"{name}_loaded.npz")})
    (tmp / "spec.json").write_text(json.dumps(spec))
    report = run_tf(_TF_SCRIPT, venvs.ROOT, tmp / "spec.json") if spec else {}
    for case in spec:
        entry, result = report[case["name"]], results[case["name"]]
        if "capi" in entry:
            result.capi = dict(np.load(case["capi"]))
        else:
            result.error += "C API: " + entry["capi_error"]
        if "loaded" in entry:
            result.loaded = dict(np.load(case["loaded"]))
        else:
            result.error += " tf.saved_model.load: " + entry["loaded_error"]


def assert_matches(result: Result, rtol: float = 1e-3, atol: float = 1e-4) -> None:
    """Both TF routes give ORT's outputs (integers and bools exactly)."""
    assert not result.error, result.error
    for route, got in (("C API", result.capi), ("tf.saved_model.load", result.loaded)):
        assert got is not None
        assert set(got) == set(result.ort), (route, sorted(got), sorted(result.ort))
        for key, want in result.ort.items():
            have = got[key]
            assert have.dtype == want.dtype, (route, key, have.dtype, want.dtype)
            assert have.shape == want.shape, (route, key, have.shape, want.shape)
            if np.issubdtype(want.dtype, np.floating):
                # float16: a few ulps (2**-10 relative) of rounding order between kernels.
                tol = (max(rtol, 4e-3), max(atol, 1e-3)) if want.dtype == np.float16 else (
                    rtol, atol)
                np.testing.assert_allclose(have, want, rtol=tol[0], atol=tol[1],
                                           err_msg=f"{route} {key}")
            else:
                np.testing.assert_array_equal(have, want, err_msg=f"{route} {key}")
