"""What the protobuf-range test writes under each runtime: {relative path: sha256}.

Runs in the range venvs, which have numpy, ml_dtypes and protobuf only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def write_outputs(out_dir: str) -> dict[str, str]:
    from pysavedmodel._proto import meta_graph_pb2, node_def_pb2

    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    node = node_def_pb2.NodeDef(name="x", op="Placeholder")
    node.attr["shape"].shape.unknown_rank = True
    node.attr["dtype"].type = 1
    meta = meta_graph_pb2.MetaGraphDef()
    meta.graph_def.node.add().CopyFrom(node)
    meta.collection_def["c"].bytes_list.value.append(b"v")
    (root / "meta.pb").write_bytes(meta.SerializeToString(deterministic=True))
    return _digest_tree(root)
