"""Benchmark family ``mlp``: a SavedModel of an MLP with ``--mlp-variables`` variables
(kernels and biases of ``--mlp-width`` units).  Ours runs in a fresh interpreter, import
included, and reports import, build and save separately; TensorFlow's graph building and
``SavedModelBuilder`` run in its worker (import excluded) for ``--tf-mlp-rounds`` rounds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from .common import HERE, REPLY, Family, WorkerOp
from .report import Row

if TYPE_CHECKING:
    from .driver import Bench
    from .workers import Worker


def mlp_weights(variables: int, width: int) -> list[tuple[Any, Any]]:
    import numpy as np

    rng = np.random.default_rng(0)
    return [(rng.standard_normal((width, width), dtype=np.float32),
             rng.standard_normal(width, dtype=np.float32)) for _ in range(max(1, variables // 2))]


def mlp_ours(variables: int, width: int, export_dir: str) -> dict[str, float]:
    """In a fresh interpreter: import pysavedmodel, build the graph, save (the weights,
    numpy arrays, exist before the clock starts)."""
    weights = mlp_weights(variables, width)
    start = time.perf_counter()
    from pysavedmodel import Graph, SavedModelBuilder, predict_signature_def

    imported = time.perf_counter()
    graph = Graph()
    x = graph.placeholder("x", "float32", [None, width])
    h = x
    for i, (kernel, bias) in enumerate(weights):
        w = graph.variable(f"dense_{i}/kernel", kernel)
        b = graph.variable(f"dense_{i}/bias", bias)
        h = graph.op("BiasAdd", [graph.op("MatMul", [h, w]), b])
        if i < len(weights) - 1:
            h = graph.op("Relu", [h])
    builder = SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(
        graph, ["serve"],
        signature_def_map={"serving_default": predict_signature_def({"x": x}, {"y": h})})
    built = time.perf_counter()
    builder.save()
    saved = time.perf_counter()
    return {"import": imported - start, "build": built - imported, "save": saved - built,
            "total": saved - start}


def mlp_tf(tf: Any, weights: list[tuple[Any, Any]], width: int, export_dir: str
           ) -> dict[str, float]:
    """TF1-style graph with resource variables initialized from the same values; the
    SavedModel written by ``tf.compat.v1.saved_model.Builder``."""
    v1 = tf.compat.v1
    start = time.perf_counter()
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, width], name="x")
        h = x
        for i, (kernel, bias) in enumerate(weights):
            w = v1.get_variable(f"dense_{i}/kernel", initializer=kernel, use_resource=True)
            b = v1.get_variable(f"dense_{i}/bias", initializer=bias, use_resource=True)
            h = tf.nn.bias_add(tf.matmul(h, w), b)
            if i < len(weights) - 1:
                h = tf.nn.relu(h)
        session = v1.Session(graph=graph)
        session.run(v1.global_variables_initializer())
        signature = v1.saved_model.predict_signature_def({"x": x}, {"y": h})
        built = time.perf_counter()
        builder = v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map={"serving_default": signature})
        builder.save()
        saved = time.perf_counter()
    session.close()
    return {"build": built - start, "save": saved - built}


def _mlp_tf_op(kind: str, command: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    width = command["width"]
    mlp_tf(tf, mlp_weights(4, width), width, command["out"] + "-warmup")
    weights = mlp_weights(command["variables"], width)
    results = []
    for i in range(command["rounds"]):
        results.append(mlp_tf(tf, weights, width, f"{command['out']}-{i}"))
    return {"runs": results}


def _mlp_ours_main(argv: list[str]) -> int:
    print(REPLY + json.dumps(mlp_ours(int(argv[0]), int(argv[1]), argv[2])))
    return 0


WORKER_OPS: dict[str, WorkerOp] = {"mlp_tf": _mlp_tf_op}


def run(bench: Bench, only: set[str], core: Worker | None, tf: Worker | None) -> None:
    """Ours in fresh processes (``scripts/bench.py --mlp-ours``), TensorFlow in its worker."""
    args = bench.args
    group = f"mlp ({args.mlp_variables} variables, width {args.mlp_width})"
    ours: list[dict[str, float]] = []
    env = bench.env("core")
    for round_ in range(args.rounds + 1):
        bench.log(f"mlp: pysavedmodel {'warm-up' if round_ == 0 else f'round {round_}'}")
        export = bench.workdir / f"mlp-ours-{round_}"
        proc = subprocess.run(
            [sys.executable, str(HERE), "--mlp-ours", str(args.mlp_variables),
             str(args.mlp_width), str(export)], capture_output=True, text=True, env=env)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLY)]
        if proc.returncode != 0 or not lines:
            raise SystemExit(f"mlp (ours) failed:\n{proc.stderr[-3000:]}")
        if round_:
            ours.append(json.loads(lines[-1][len(REPLY):]))
        shutil.rmtree(export, ignore_errors=True)
    rows = {}
    for key, name in (("total", "pysavedmodel import+build+save (fresh process)"),
                      ("import", "pysavedmodel import"),
                      ("build", "pysavedmodel build"),
                      ("save", "pysavedmodel save")):
        rows[key] = Row(group, name, samples=[r[key] for r in ours])
    if tf is not None:
        bench.log(f"mlp: TensorFlow ({args.tf_mlp_rounds} round(s) after a small warm-up)")
        runs = tf.call(op="mlp_tf", variables=args.mlp_variables, width=args.mlp_width,
                       rounds=args.tf_mlp_rounds,
                       out=str(bench.workdir / "mlp-tf"))["runs"]
        rows["tf_build"] = Row(group, "TF graph + variables",
                               samples=[r["build"] for r in runs])
        rows["tf_save"] = Row(group, "TF SavedModelBuilder save",
                              samples=[r["save"] for r in runs])
        rows["tf_total"] = Row(group, "TF build+save (import excluded)",
                               samples=[r["build"] + r["save"] for r in runs])
    for row in rows.values():
        row.finish()
    if tf is not None:
        for key, ref in (("total", "tf_total"), ("build", "tf_build"), ("save", "tf_save")):
            ours_s, tf_s = rows[key].seconds, rows[ref].seconds
            if ours_s and tf_s:
                rows[key].ratio = tf_s / ours_s
                rows[key].ratio_to = rows[ref].name
    bench.rows.extend(rows.values())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mlp-variables", type=int, default=1000)
    parser.add_argument("--mlp-width", type=int, default=64)
    parser.add_argument("--tf-mlp-rounds", type=int, default=1,
                        help="TensorFlow MLP rounds (slow: default 1)")


FAMILY = Family("mlp", ("mlp",), run, add_arguments, WORKER_OPS,
                {"--mlp-ours": _mlp_ours_main}, uses_tf=True)
