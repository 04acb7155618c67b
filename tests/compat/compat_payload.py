"""What the protobuf-range test writes under each runtime: {relative path: sha256}.

Runs in the range venvs too, which have numpy, ml_dtypes and protobuf only (no
crc32c: the pure-Python CRC path).  Everything is written through the public
API, so every proto the library serializes goes through the runtime under test.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_outputs(out_dir: str) -> dict[str, str]:
    import pysavedmodel as psm

    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    tensors = {"a": rng.standard_normal((3, 4)).astype(np.float32),
               "s": np.array([b"x", b"", b"yz"], dtype=object),
               "i": np.arange(5, dtype=np.int64)}
    psm.write_checkpoint(root / "ckpt" / "model", tensors, num_shards=2)
    back = psm.read_checkpoint(root / "ckpt" / "model")
    assert sorted(back) == sorted(tensors)
    assert np.array_equal(back["a"], tensors["a"])

    graph = psm.Graph()
    x = graph.placeholder("x", "float32", [None, 3])
    w = graph.variable("w", tensors["a"][:, :3].T.copy())
    y = graph.op("MatMul", [x, w], name="y")
    vocab = root / "vocab.txt"
    vocab.write_text("a\nb\n")
    graph.asset(str(vocab), name="vocab")
    builder = psm.SavedModelBuilder(root / "model")
    builder.add_meta_graph_and_variables(
        graph, ["serve"],
        signature_def_map={"serving_default": psm.predict_signature_def({"x": x}, {"y": y})})
    builder.add_meta_graph(["other"])
    builder.save()
    vocab.unlink()
    return _digest_tree(root)
