"""Whole small models against onnxruntime (batched): a ResNet-style CNN with dynamic batch and
an attention block with a transformers-style mask chain, each on two input sets (batch and
sequence sizes differ); and the layout pass: a conv stack transposes only at its ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto

import pysavedmodel
from tests.onnx.cases import model, node, rand
from tests.support.onnx_harness import Result, assert_matches, run_cases


def _resnet_block() -> Any:
    """conv-bn-relu, a residual block with BN (non-trivial stats), maxpool ceil, GAP, Gemm."""
    bn = {f"{p}{k}": v for p in ("bn1_", "bn2_") for k, v in (
        ("s", rand(8, low=0.5, high=1.5)), ("b", rand(8)), ("m", rand(8)),
        ("v", rand(8, low=0.5, high=2)))}
    nodes = [
        node("Conv", ["x", "W0", "B0"], ["c0"], pads=[1, 1, 1, 1], strides=[2, 2]),
        node("Relu", ["c0"], ["r0"]),
        node("MaxPool", ["r0"], ["p0"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
             ceil_mode=1),
        node("Conv", ["p0", "W1"], ["c1"], pads=[1, 1, 1, 1]),
        node("BatchNormalization", ["c1", "bn1_s", "bn1_b", "bn1_m", "bn1_v"], ["n1"]),
        node("Relu", ["n1"], ["r1"]),
        node("Conv", ["r1", "W2"], ["c2"], pads=[1, 1, 1, 1]),
        node("BatchNormalization", ["c2", "bn2_s", "bn2_b", "bn2_m", "bn2_v"], ["n2"]),
        node("Add", ["n2", "p0"], ["res"]), node("Relu", ["res"], ["r2"]),
        node("GlobalAveragePool", ["r2"], ["gap"]), node("Flatten", ["gap"], ["flat"]),
        node("Gemm", ["flat", "FC", "FB"], ["logits"], transB=1),
    ]
    inits = {"W0": rand(8, 3, 3, 3), "B0": rand(8), "W1": rand(8, 8, 3, 3),
             "W2": rand(8, 8, 3, 3), "FC": rand(5, 8), "FB": rand(5), **bn}
    return model(nodes, {"x": rand(2, 3, 32, 32)}, ["logits"], inits=inits,
                 input_shapes={"x": ["N", 3, 32, 32]})


def _attention() -> Any:
    """One self-attention head with a mask built the way transformers exports it:
    Shape/Gather/Unsqueeze/Concat shape arithmetic, Cast, Equal, Where, Expand, Sqrt, Softmax."""
    d = 8
    nodes = [
        node("Gather", ["E", "ids"], ["emb"]),
        node("LayerNormalization", ["emb", "g", "b"], ["h"]),
        node("MatMul", ["h", "Wq"], ["q"]), node("MatMul", ["h", "Wk"], ["k"]),
        node("MatMul", ["h", "Wv"], ["v"]),
        node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        node("MatMul", ["q", "kt"], ["scores"]),
        node("Shape", ["q"], ["qs"]), node("Gather", ["qs", "minus1"], ["dim"]),
        node("Cast", ["dim"], ["dimf"], to=TensorProto.FLOAT), node("Sqrt", ["dimf"], ["sq"]),
        node("Div", ["scores", "sq"], ["scaled"]),
        node("Unsqueeze", ["mask", "ax1"], ["m3"]),
        node("Shape", ["scores"], ["ss"]), node("Expand", ["m3", "ss"], ["mexp"]),
        node("Equal", ["mexp", "zero"], ["masked"]),
        node("Where", ["masked", "neg", "scaled"], ["biased"]),
        node("Softmax", ["biased"], ["probs"], axis=-1),
        node("MatMul", ["probs", "v"], ["ctx"]),
        node("Shape", ["ids"], ["is"]), node("Gather", ["is", "zero_i"], ["bsz"]),
        node("Unsqueeze", ["bsz", "ax0"], ["bsz1"]),
        node("Concat", ["bsz1", "m1"], ["flat_shape"], axis=0),
        node("Reshape", ["ctx", "flat_shape"], ["pooled"]),
    ]
    inits = {"E": rand(20, d), "g": rand(d, low=0.5, high=1.5), "b": rand(d),
             "Wq": rand(d, d), "Wk": rand(d, d), "Wv": rand(d, d),
             "minus1": np.array(-1, np.int64), "ax1": np.array([1], np.int64),
             "zero": np.array(0, np.int64), "neg": np.array(-1e4, np.float32),
             "zero_i": np.array(0, np.int64), "ax0": np.array([0], np.int64),
             "m1": np.array([-1], np.int64)}
    ids = np.array([[1, 2, 3]], np.int64)
    return model(nodes, {"ids": ids, "mask": ids}, ["pooled"], inits=inits,
                 input_shapes={"ids": ["batch", "seq"], "mask": ["batch", "seq"]})


def _ids(batch: int, seq: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(batch * 100 + seq)
    mask = np.ones((batch, seq), np.int64)
    mask[:, seq - 1:] = 0
    return {"ids": rng.integers(-20, 20, (batch, seq)).astype(np.int64), "mask": mask}


RESNET = _resnet_block()
ATTENTION = _attention()
CASES = [
    ("resnet_batch2", RESNET, {"x": rand(2, 3, 32, 32)}),
    ("resnet_batch5", RESNET, {"x": rand(5, 3, 32, 32)}),
    ("attention_2x5", ATTENTION, _ids(2, 5)),
    ("attention_3x9", ATTENTION, _ids(3, 9)),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    return run_cases(CASES, tmp_path_factory.mktemp("models"))


@pytest.mark.interop
@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_model_matches_onnxruntime(results: dict[str, Result], name: str) -> None:
    assert_matches(results[name])


def test_conv_stack_transposes_only_at_its_ends(tmp_path: Path) -> None:
    out = pysavedmodel.from_onnx(RESNET, tmp_path / "sm", format="tf1")  # the graph, not a function
    graph = pysavedmodel.read_saved_model(out).meta_graphs[0].graph_def
    ops = [n.op for n in graph.node]
    # NCHW input -> NHWC once; GAP's NHWC result -> NCHW once for Flatten; nothing between.
    assert ops.count("Transpose") == 2, [n.name for n in graph.node if n.op == "Transpose"]
    assert ops.count("Conv2D") == 3 and ops.count("FusedBatchNormV3") == 2
    assert not [n for n in graph.node if n.op == "Conv2D"
                and n.attr["data_format"].s not in (b"", b"NHWC")]
