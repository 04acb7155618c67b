"""Every corpus model (torch TorchScript/dynamo exports, transformers BERT, jax2onnx Flax)
converted and served through the TF C API harness and tf.saved_model.load, on each of the
corpus's input sets, against the corpus's onnxruntime outputs (all in ONE TF subprocess).

Models the converter does not cover yet are listed in NOT_YET with the error they must raise,
so the list fails the moment one starts converting (and cannot hide a regression)."""

from __future__ import annotations

from pathlib import Path

import pytest

import pysavedmodel
from tests.support.onnx_corpus import CorpusCase, cases
from tests.support.onnx_harness import Result, assert_matches, serve

NOT_YET: dict[str, str] = {
    # exported with a dynamic sequence axis: needs the While-loop form of LSTM/GRU
    **{f"{m}_{k}": "dynamic sequence length" for m in ("lstm", "gru")
       for k in ("ts13", "ts17", "dynamo")},
}

CASES = cases()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    tmp = tmp_path_factory.mktemp("corpus")
    results: dict[str, Result] = {}
    models = []
    for case in CASES:
        if case.name in NOT_YET:
            continue
        export = pysavedmodel.from_onnx(case.path, tmp / f"{case.name}_sm")
        for i, (feeds, expected) in enumerate(zip(case.inputs, case.expected)):
            results[f"{case.name}#{i}"] = Result(ort=expected)
            models.append((f"{case.name}#{i}".replace("#", "_set"), export, feeds))
    renamed = {name.replace("#", "_set"): r for name, r in results.items()}
    serve(models, tmp, renamed)
    return results


def _by_name(name: str) -> CorpusCase:
    return next(c for c in CASES if c.name == name)


@pytest.mark.interop
@pytest.mark.parametrize("name", [c.name for c in CASES if c.name not in NOT_YET])
def test_corpus_model_matches_onnxruntime(served: dict[str, Result], name: str) -> None:
    sets = [k for k in served if k.split("#")[0] == name]
    assert len(sets) >= 2
    for key in sets:
        assert_matches(served[key])


@pytest.mark.parametrize("name", sorted(NOT_YET))
def test_not_yet_covered_models_fail_clearly(tmp_path: Path, name: str) -> None:
    with pytest.raises(pysavedmodel.UnsupportedError, match=NOT_YET[name]):
        pysavedmodel.from_onnx(_by_name(name).path, tmp_path / "sm")
    assert not (tmp_path / "sm").exists()
