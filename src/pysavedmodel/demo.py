"""The main job end to end: ``pysavedmodel demo OUT_DIR``.

Writes a checkpoint of assorted tensors and reads it back, then exports a
numpy MLP as a SavedModel and reads its signature back.  Prints what it did.
"""

from __future__ import annotations

from pathlib import Path

import ml_dtypes
import numpy as np

from . import remote
from .errors import AlreadyExistsError, Error


def _demo_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "dense/kernel": rng.standard_normal((4, 8)).astype(np.float32),
        "dense/bias": np.zeros(8, np.float32),
        "embedding": rng.standard_normal((16, 4)).astype(ml_dtypes.bfloat16),
        "step": np.int64(1000),
        "vocab": np.array([b"apple", b"banana", "cherry"], dtype=object),
        "mask": rng.random((2, 3)) > 0.5,
    }


def run_demo(out_dir: Path | str) -> None:
    """Write and verify a checkpoint and an MLP SavedModel under ``out_dir`` (a path,
    or a URL: written and read back through the same remote writers and readers)."""
    from .builder.builder import SavedModelBuilder
    from .builder.signatures import predict_signature_def
    from .format.bundle import read_checkpoint, write_checkpoint
    from .graph.graph import Graph

    if isinstance(out_dir, str) and remote.is_remote(out_dir):
        if remote.exists(out_dir):
            raise AlreadyExistsError(f"demo output directory {out_dir!r} is not empty")
    else:
        out_dir = Path(out_dir)
        if out_dir.exists() and any(out_dir.iterdir()):
            raise AlreadyExistsError(f"demo output directory {str(out_dir)!r} is not empty")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "checkpoint").mkdir()
    rng = np.random.default_rng(0)

    tensors = _demo_tensors(rng)
    prefix = remote.join(out_dir, "checkpoint", "ckpt")
    files = write_checkpoint(prefix, tensors)
    print(f"wrote checkpoint: {', '.join(str(f) for f in files)}")
    back = read_checkpoint(prefix)
    for name, value in tensors.items():
        expected = np.asarray(value)
        if expected.dtype == object:
            expected = np.array([v.encode() if isinstance(v, str) else v for v in expected.flat],
                                dtype=object).reshape(expected.shape)
        same = back[name].shape == expected.shape and bool(np.all(back[name] == expected))
        if not same:
            raise Error(f"demo: tensor {name!r} read back differs")
        print(f"  read back {name}: {back[name].dtype} {list(back[name].shape)} ok")

    graph = Graph()
    x = graph.placeholder("x", "float32", [None, 4])
    w1 = graph.variable("dense/kernel", tensors["dense/kernel"])
    b1 = graph.variable("dense/bias", tensors["dense/bias"])
    w2 = graph.variable("logits/kernel", rng.standard_normal((8, 3)).astype(np.float32))
    hidden = graph.op("Relu", [graph.op("BiasAdd", [graph.op("MatMul", [x, w1]), b1])])
    probs = graph.op("Softmax", [graph.op("MatMul", [hidden, w2])], name="probs")
    export_dir = remote.join(out_dir, "mlp", "1")
    builder = SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(
        graph, ["serve"],
        signature_def_map={"serving_default": predict_signature_def({"x": x}, {"probs": probs})})
    path = builder.save()
    print(f"wrote SavedModel: {path}")
    for name in sorted(read_checkpoint(remote.join(export_dir, "variables", "variables"))):
        print(f"  variable {name}")
