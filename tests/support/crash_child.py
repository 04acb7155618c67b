"""Writer processes for the crash-safety test (tests/test_crash_safety.py).

Run as a script (``python crash_child.py``, with ``src`` on ``PYTHONPATH``) it is
a *zygote*: it imports numpy and the writers once, then serves one request per
stdin line by forking a process that performs exactly one write and exits.  The
test SIGKILLs that process at a random moment.  Forking from a warmed-up
process makes each write start within a millisecond, so the kills can be
spread over the write itself rather than over interpreter start-up.

Requests (one line, space separated):

* ``ckpt PREFIX VARIANT NUM_SHARDS``: ``write_checkpoint(PREFIX, tensors(VARIANT))``;
* ``sm EXPORT_DIR VARIANT ASSET_PATH``: save ``saved_model_calls(...)``.

For each request the zygote prints ``pid <PID>`` as soon as the writer is
forked, then ``exit <STATUS> <SECONDS>`` once it is gone (the status as
``os.waitpid`` reports it, the seconds from fork to exit).

The data builders are importable by the test, which uses them to check what
it reads back.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Any, Callable

import numpy as np

TAGS = ["serve"]
ASSET_TEXT = b"alpha\nbeta\ngamma\n" * 64


def tensors(variant: int) -> dict[str, Any]:
    """About 4.5 MB in six tensors of several dtypes, distinct per ``variant``."""
    rng = np.random.default_rng(variant)
    return {
        "dense/kernel": rng.standard_normal((256, 1024)).astype(np.float32),
        "dense/bias": rng.standard_normal(1024).astype(np.float64),
        "embedding": rng.integers(-2**31, 2**31 - 1, 300_000, dtype=np.int32),
        "half": rng.standard_normal((512, 512)).astype(np.float16),
        "bytes": rng.integers(-128, 127, 1 << 20, dtype=np.int8),
        "words": np.array([f"word-{variant}-{i}".encode() for i in range(1000)], dtype=object),
    }


def saved_model_variables(variant: int) -> dict[str, np.ndarray]:
    """The variables of the SavedModel (checkpoint key = variable name)."""
    rng = np.random.default_rng(1000 + variant)
    return {
        "dense/kernel": rng.standard_normal((256, 1024)).astype(np.float32),
        "dense/bias": rng.standard_normal(1024).astype(np.float32),
        "embedding": rng.standard_normal((2000, 256)).astype(np.float32),
    }


def saved_model_builder(export_dir: str, variant: int, asset_path: str) -> Any:
    """A SavedModelBuilder with one meta graph added, ready for ``save()``."""
    from pysavedmodel.builder.builder import SavedModelBuilder
    from pysavedmodel.builder.signatures import predict_signature_def
    from pysavedmodel.graph.graph import Graph

    values = saved_model_variables(variant)
    g = Graph()
    x = g.placeholder("x", "float32", [None, 256])
    kernel = g.variable("dense/kernel", values["dense/kernel"])
    bias = g.variable("dense/bias", values["dense/bias"])
    g.variable("embedding", values["embedding"])
    y = g.op("AddV2", [g.op("MatMul", [x, kernel]), bias], name="y")
    vocab = g.asset(asset_path, name="vocab")
    builder = SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(
        g, TAGS, signature_def_map={
            "serving_default": predict_signature_def({"x": x}, {"y": y, "vocab": vocab})})
    return builder


def _serve() -> None:
    from pysavedmodel.format.bundle import write_checkpoint

    cache: dict[int, dict[str, Any]] = {}
    write: Callable[[], object]
    for line in sys.stdin:
        kind, target, variant_text, extra = line.split()
        variant = int(variant_text)
        if kind == "ckpt":
            if variant not in cache:
                cache[variant] = tensors(variant)
            data = cache[variant]
            write = functools.partial(write_checkpoint, target, data, num_shards=int(extra))
        elif kind == "sm":
            builder = saved_model_builder(target, variant, extra)
            write = builder.save
        else:
            raise SystemExit(f"unknown request {line!r}")
        sys.stdout.flush()
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the writer: one write, no cleanup handlers, no shared buffers
            status = 0
            try:
                write()
            except BaseException:
                status = 3
            os._exit(status)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {status} {time.perf_counter() - start:.6f}", flush=True)


if __name__ == "__main__":
    _serve()
