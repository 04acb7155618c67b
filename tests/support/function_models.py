"""Small graphs with functional control flow, shared by the interop tests that serve them
(TF1 exports in test_function_interop, TF2 exports in test_tf2_interop).

Each returns ``(graph, input placeholder, output tensor, xs, expected)``: the output is
named after its role and ``expected`` is the numpy reference for the input ``xs``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import pysavedmodel as psm
from pysavedmodel import Function


def running_sum() -> tuple[psm.Graph, Any, Any, np.ndarray, np.ndarray]:
    """``total`` = x added five times by a While loop (cond and body functions)."""
    cond = Function("loop_cond")
    i = cond.arg("i", "int32", [])
    cond.arg("acc", "float32", [None])
    cond.arg("x", "float32", [None])
    cond.ret("keep", cond.graph.op("Less", [i, cond.graph.constant(np.int32(5))]))
    body = Function("loop_body")
    i = body.arg("i", "int32", [])
    acc = body.arg("acc", "float32", [None])
    x = body.arg("x", "float32", [None])
    body.ret("i", body.graph.op("AddV2", [i, body.graph.constant(np.int32(1))]))
    body.ret("acc", body.graph.op("AddV2", [acc, x]))
    body.ret("x", body.graph.op("Identity", [x]))
    g = psm.Graph()
    inp = g.placeholder("x", "float32", [None])
    loop = g.op("While", [[g.constant(np.int32(0)), g.op("ZerosLike", [inp]), inp]],
                cond=cond, body=body, parallel_iterations=4)
    total = g.op("Identity", [loop.outputs[1]], name="total")
    xs = np.array([1.5, -2.0, 0.25], np.float32)
    return g, inp, total, xs, xs * 5


def double_or_negate() -> tuple[psm.Graph, Any, Any, np.ndarray, np.ndarray]:
    """``y`` = 2x if sum(x) > 0 else -x, by an If with two branch functions (no
    ``output_shapes``: exports fill them from the branches; Keras needs the rank)."""
    then = Function("then_double")
    x = then.arg("x", "float32", [None])
    then.ret("y", then.graph.op("Mul", [x, then.graph.constant(np.float32(2))]))
    other = Function("else_negate")
    x = other.arg("x", "float32", [None])
    other.ret("y", other.graph.op("Neg", [x]))
    g = psm.Graph()
    inp = g.placeholder("x", "float32", [None])
    pred = g.op("Greater", [g.op("Sum", [inp, g.constant(np.int32(0))]),
                            g.constant(np.float32(0))])
    branch = g.op("If", [pred, [inp]], then_branch=then, else_branch=other)
    y = g.op("Identity", [branch], name="y")
    xs = np.array([-3.0, 1.0], np.float32)
    return g, inp, y, xs, -xs
