"""Write src/pysavedmodel/graph/ops.pb.zlib: every op TensorFlow registers.

Needs TensorFlow (run it with the interop virtualenv's python):

    ~/.cache/pysavedmodel/tf-2.21/bin/python scripts/gen_op_registry.py

It asks TF's C API for the serialized ``OpList`` of all registered ops,
clears the human-readable ``summary`` and ``description`` fields (of the ops,
their args and attrs: they are TF's prose, not facts the graph layer needs),
sorts the ops by name, and stores the result zlib-compressed.  It also prints
TF's graph version, which op_registry.TF_GRAPH_DEF_VERSION must equal.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "pysavedmodel" / "graph" / "ops.pb.zlib"


def main() -> int:
    import tensorflow as tf
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    buf = pywrap_tf_session.TF_GetAllOpList()
    try:
        data = pywrap_tf_session.TF_GetBuffer(buf)
    finally:
        pywrap_tf_session.TF_DeleteBuffer(buf)
    op_list = op_def_pb2.OpList.FromString(data)
    for op in op_list.op:
        op.ClearField("summary")
        op.ClearField("description")
        for arg in list(op.input_arg) + list(op.output_arg):
            arg.ClearField("description")
        for attr in op.attr:
            attr.ClearField("description")
    ops = sorted(op_list.op, key=lambda op: op.name)
    del op_list.op[:]
    op_list.op.extend(ops)
    raw = op_list.SerializeToString(deterministic=True)
    OUT.write_bytes(zlib.compress(raw, 9))
    print(f"TensorFlow {tf.__version__}, graph version {tf.compat.v1.GRAPH_DEF_VERSION}: "
          f"{len(ops)} ops, {len(data)} -> {len(raw)} bytes, {OUT.stat().st_size} compressed "
          f"-> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
