"""Every corpus model (torch TorchScript/dynamo exports, transformers BERT, jax2onnx Flax)
converted and served through the TF C API harness and tf.saved_model.load, on each of the
corpus's input sets, against the corpus's onnxruntime outputs (all in ONE TF subprocess).
Every corpus case must convert: BERT's run-time Slice bounds and GatherND, ViT's ranks that
ONNX shape inference leaves unknown, LSTM/GRU over a dynamic sequence axis (While loops)."""

from __future__ import annotations

import pytest

import pysavedmodel
from tests.support.onnx_corpus import cases
from tests.support.onnx_harness import Result, assert_matches, serve

CASES = cases()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    tmp = tmp_path_factory.mktemp("corpus")
    results: dict[str, Result] = {}
    models = []
    for case in CASES:
        export = pysavedmodel.from_onnx(case.path, tmp / f"{case.name}_sm")
        for i, (feeds, expected) in enumerate(zip(case.inputs, case.expected)):
            results[f"{case.name}#{i}"] = Result(ort=expected)
            models.append((f"{case.name}#{i}".replace("#", "_set"), export, feeds))
    renamed = {name.replace("#", "_set"): r for name, r in results.items()}
    serve(models, tmp, renamed)
    return results


@pytest.mark.interop
@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_corpus_model_matches_onnxruntime(served: dict[str, Result], name: str) -> None:
    sets = [k for k in served if k.split("#")[0] == name]
    assert len(sets) >= 2
    for key in sets:
        assert_matches(served[key])
