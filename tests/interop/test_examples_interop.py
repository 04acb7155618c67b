"""tf.Example front ends served by TF's C++ loader: serialized ``tf.train.Example``s
(built with pysavedmodel's vendored proto) fed to classify / regress signatures whose
``inputs`` go through ``ParseExampleV2`` (pysavedmodel.builder.examples)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pysavedmodel as psm
from pysavedmodel.builder.examples import FixedLenFeature, VarLenFeature, example_input
from pysavedmodel.builder.warmup import make_example
from tests.support.tf import run_tf

pytestmark = pytest.mark.interop

SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from tests.support import tf_capi
feeds = json.loads(open(sys.argv[3]).read())
out = {}
with tf_capi.SavedModelSession(sys.argv[2], ["serve"]) as session:
    for key, examples in feeds.items():
        batch = np.array([bytes.fromhex(e) for e in examples], dtype=object)
        got = session.run_signature(key, {"inputs": batch})
        out[key] = {k: (np.asarray(v).astype(object).tolist() if np.asarray(v).dtype == object
                        else np.asarray(v).tolist()) for k, v in got.items()}
        out[key] = {k: [x.decode() if isinstance(x, bytes) else x for x in np.ravel(v)]
                    if np.asarray(got[k]).dtype == object else v for k, v in out[key].items()}
print(json.dumps(out))
"""

FEATURES = {
    "age": FixedLenFeature([1], "float32", default=[40.0]),
    "counts": FixedLenFeature([2], "int64"),
    "tags": VarLenFeature("string"),
}
EXAMPLES = [{"age": [31.0], "counts": [1, 2], "tags": ["a", "b", "c"]},
            {"counts": [5, 0], "tags": ["z"]}]  # no age: the default 40 applies


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("examples")
    g = psm.Graph()
    serialized, parsed = example_input(g, FEATURES)
    age, counts, tags = parsed["age"], parsed["counts"], parsed["tags"]
    total = g.op("Cast", [g.op("Sum", [counts, g.constant(np.int32(1)), ], keep_dims=True)],
                 DstT="float32")
    outputs = g.op("AddV2", [g.op("Mul", [age, g.constant(np.float32(2))]), total],
                   name="outputs")
    classes = g.op("Identity", [tags.values], name="classes")
    scores = g.op("Identity", [outputs], name="scores")
    builder = psm.SavedModelBuilder(tmp / "model")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "regress": psm.regression_signature_def(serialized, outputs),
        "classify": psm.classification_signature_def(serialized, None, scores),
        "tags": {"inputs": {"inputs": serialized}, "outputs": {"classes": classes}}})
    builder.save()
    serialized_examples = [make_example(e, "test").SerializeToString().hex() for e in EXAMPLES]
    feeds = tmp / "feeds.json"
    feeds.write_text(json.dumps({key: serialized_examples
                                 for key in ("regress", "classify", "tags")}))
    result: dict[str, Any] = run_tf(SCRIPT, Path(__file__).resolve().parents[2], tmp / "model",
                                    feeds)
    return result


def test_regress_signature_parses_fixed_length_features_with_defaults(
        served: dict[str, Any]) -> None:
    # 2 * age + sum(counts): 2*31 + 3 and, with the default age 40, 2*40 + 5
    assert served["regress"]["outputs"] == [[65.0], [85.0]]


def test_classify_signature_serves_scores(served: dict[str, Any]) -> None:
    assert served["classify"]["scores"] == [[65.0], [85.0]]


def test_var_length_features_come_out_sparse(served: dict[str, Any]) -> None:
    assert served["tags"]["classes"] == ["a", "b", "c", "z"]
