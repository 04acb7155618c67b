"""Warmup requests: what the builder writes, and every request TF Serving would refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pysavedmodel import (
    BuilderStateError,
    Graph,
    InvalidArgumentError,
    SavedModelBuilder,
    build_signature_def,
    predict_signature_def,
)
from pysavedmodel._proto import prediction_log_pb2
from pysavedmodel.builder.warmup import MAX_WARMUP_RECORDS, read_warmup_records
from pysavedmodel.constants import CLASSIFY_METHOD_NAME
from pysavedmodel.format.tfrecord import read_records
from pysavedmodel.graph.attrs import tensor_proto_to_numpy

WARMUP = Path("assets.extra") / "tf_serving_warmup_requests"


def _builder(tmp_path: Path) -> SavedModelBuilder:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 3])
    ids = g.placeholder("ids", "int64", [None])
    w = g.variable("w", np.ones((3, 2), np.float32))
    y = g.op("MatMul", [x, w], name="y")
    examples = g.placeholder("examples", "string", [None])
    scores = g.op("Identity", [g.constant(np.zeros((1, 2), np.float32))], name="scores")
    b = SavedModelBuilder(tmp_path / "m")
    b.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x, "ids": ids}, {"y": y}),
        "classify": build_signature_def({"inputs": examples}, {"scores": scores},
                                        CLASSIFY_METHOD_NAME)})
    return b


def _request(n: int = 2) -> dict[str, np.ndarray]:
    return {"x": np.arange(3 * n, dtype=np.float32).reshape(n, 3),
            "ids": np.arange(n, dtype=np.int64)}


def test_records_hold_the_requests(tmp_path: Path) -> None:
    b = _builder(tmp_path)
    b.add_warmup_requests({"serving_default": [_request(1), _request(4)],
                           "classify": [{"age": [3.5], "tag": ["a", "b"]},
                                        [{"n": 1}, {"n": 2}]]})
    b.save()
    records = list(read_records((tmp_path / "m" / WARMUP).read_bytes()))
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
    assert [log.WhichOneof("log_type") for log in logs] == [
        "predict_log", "predict_log", "classify_log", "classify_log"]
    second = logs[1].predict_log.request
    assert second.model_spec.signature_name == "serving_default"
    np.testing.assert_array_equal(tensor_proto_to_numpy(second.inputs["x"]), _request(4)["x"])
    np.testing.assert_array_equal(tensor_proto_to_numpy(second.inputs["ids"]),
                                  _request(4)["ids"])
    example = logs[2].classify_log.request.input.example_list.examples[0]
    assert list(example.features.feature["age"].float_list.value) == [3.5]
    assert list(example.features.feature["tag"].bytes_list.value) == [b"a", b"b"]
    assert len(logs[3].classify_log.request.input.example_list.examples) == 2
    shown = read_warmup_records((tmp_path / "m" / WARMUP).read_bytes(), "warmup")
    assert shown[0] == {"kind": "predict_log", "signature": "serving_default", "inputs": {
        "ids": {"dtype": "DT_INT64", "shape": [1]}, "x": {"dtype": "DT_FLOAT", "shape": [1, 3]}}}
    assert shown[3] == {"kind": "classify_log", "signature": "classify", "examples": 2}


def test_no_warmup_file_without_requests(tmp_path: Path) -> None:
    b = _builder(tmp_path)
    b.save()
    assert not (tmp_path / "m" / "assets.extra").exists()


@pytest.mark.parametrize("requests, message", [
    ({"nope": [_request()]}, r"signature 'nope'; the model has \['classify', 'serving_default'\]"),
    ({"serving_default": [{"x": _request()["x"]}]}, r"inputs \['x'\]; the signature takes "
                                                      r"exactly \['ids', 'x'\]"),
    ({"serving_default": [{**_request(), "x": np.zeros((2, 3), np.float64)}]},
     "input 'x' is float64; the signature wants float32"),
    ({"serving_default": [{**_request(), "x": np.zeros((2, 4), np.float32)}]},
     r"input 'x' has shape \[2, 4\]; the signature wants \[-1, 3\]"),
    ({"serving_default": [_request()] * (MAX_WARMUP_RECORDS + 1)}, "at most 1000"),
    ({"serving_default": _request()}, "must be a list of requests"),
    ({"classify": [{"v": [object()]}]}, "feature 'v'"),
    ({"classify": [{"t": ["\ud800"]}]}, "feature 't' value .* not encodable as UTF-8"),
    ({}, "non-empty mapping"),
])
def test_refused_requests_name_the_problem_and_write_nothing(
        tmp_path: Path, requests: object, message: str) -> None:
    b = _builder(tmp_path)
    with pytest.raises(InvalidArgumentError, match=message):
        b.add_warmup_requests(requests)  # type: ignore[arg-type]
    b.save()
    assert not (tmp_path / "m" / "assets.extra").exists()


def test_warmup_needs_the_meta_graph_first_and_its_tags(tmp_path: Path) -> None:
    with pytest.raises(BuilderStateError, match="before add_meta_graph_and_variables"):
        SavedModelBuilder(tmp_path / "early").add_warmup_requests({"s": []})
    with pytest.raises(InvalidArgumentError, match=r"no meta graph with tags \['gpu', "):
        _builder(tmp_path).add_warmup_requests({"serving_default": [_request()]},
                                               tags=["serve", "gpu"])
