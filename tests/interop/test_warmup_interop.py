"""Warmup files as TF Serving reads them: TensorFlow's TFRecord reader and TF Serving's own
``PredictionLog`` class parse every record, and each predict request, run through TF's C++
loader (the C API, TF Serving's code path), gives the numpy reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysavedmodel import Graph, SavedModelBuilder, predict_signature_def
from tests.support.tf import run_tf

pytestmark = pytest.mark.interop

SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tests.support import tf_capi

export = sys.argv[2]
out = []
path = export + "/assets.extra/tf_serving_warmup_requests"
with tf_capi.SavedModelSession(export, ["serve"]) as session:
    for raw in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(raw.numpy())
        kind = log.WhichOneof("log_type")
        entry = {"kind": kind}
        if kind == "predict_log":
            request = log.predict_log.request
            feeds = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            got = session.run_signature(request.model_spec.signature_name, feeds)
            entry["inputs"] = {k: v.tolist() for k, v in feeds.items()}
            entry["outputs"] = {k: np.asarray(v).tolist() for k, v in got.items()}
        else:
            request = getattr(log, kind).request
            examples = request.input.example_list.examples
            serialized = np.array([e.SerializeToString() for e in examples], dtype=object)
            got = session.run_signature(request.model_spec.signature_name,
                                        {"inputs": serialized})
            entry["examples"] = [
                {k: list(f.float_list.value) for k, f in e.features.feature.items()}
                for e in examples]
            entry["outputs"] = {k: np.asarray(v).tolist() for k, v in got.items()}
        out.append(entry)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Any], list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("warmup")
    rng = np.random.default_rng(7)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    g = Graph()
    x = g.placeholder("x", "float32", [None, 3])
    y = g.op("BiasAdd", [g.op("MatMul", [x, g.variable("w", w)]), g.variable("b", b)],
             name="y")
    builder = SavedModelBuilder(tmp / "model")
    examples = g.placeholder("examples", "string", [None])
    count = g.op("Cast", [g.op("Size", [examples])], DstT="float32")
    scores = g.op("Reshape", [count, g.constant(np.array([1, 1], np.int32))], name="scores")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"y": y}),
        "count": {"inputs": {"inputs": examples}, "outputs": {"scores": scores},
                  "method_name": "classify"}})
    requests = [{"x": rng.standard_normal((n, 3)).astype(np.float32)} for n in (1, 5, 2)]
    builder.add_warmup_requests({"serving_default": requests,
                                 "count": [[{"f": [1.5]}, {"f": [2.0, 3.0]}]]})
    builder.save()
    result = run_tf(SCRIPT, Path(__file__).resolve().parents[2], tmp / "model")
    expected = [{"y": r["x"] @ w + b} for r in requests]
    return result, expected


def test_tensorflow_reads_every_record(served: tuple[list[Any], list[Any]]) -> None:
    result, expected = served
    assert [r["kind"] for r in result] == ["predict_log"] * len(expected) + ["classify_log"]
    classify = result[-1]
    assert classify["examples"] == [{"f": [1.5]}, {"f": [2.0, 3.0]}]
    assert classify["outputs"] == {"scores": [[2.0]]}  # the signature saw both Examples


@pytest.mark.parametrize("index", range(3))
def test_each_request_served_by_the_cpp_loader_gives_the_reference(
        served: tuple[list[Any], list[Any]], index: int) -> None:
    result, expected = served
    got = np.asarray(result[index]["outputs"]["y"], np.float32)
    np.testing.assert_allclose(got, expected[index]["y"], rtol=1e-5, atol=1e-5)
    assert json.dumps(result[index]["inputs"])  # the request's inputs came back as sent
