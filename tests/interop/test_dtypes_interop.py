"""Our dtype table agrees with TensorFlow's DType objects."""

from __future__ import annotations

from pysavedmodel import dtypes
from tests.support.tf import run_tf

SCRIPT = """
import json
import tensorflow as tf
from tensorflow.core.framework import types_pb2
out = {}
for v in types_pb2.DataType.values():
    if 0 < v < 100:
        d = tf.dtypes.as_dtype(v)
        np_name = None if v in (20, 21) else str(__import__("numpy").dtype(d.as_numpy_dtype))
        out[v] = {"name": d.name, "size": d.size, "numpy": np_name}
print(json.dumps(out))
"""


def test_table_matches_tensorflow() -> None:
    theirs = {int(k): v for k, v in run_tf(SCRIPT, pythonpath=False).items()}
    assert set(theirs) == set(dtypes.DTYPES)
    for enum, row in dtypes.DTYPES.items():
        assert row.name == theirs[enum]["name"], enum
        if row.checkpointable and not row.is_string:
            assert row.itemsize == theirs[enum]["size"], row.name
            assert str(row.numpy) == theirs[enum]["numpy"], row.name
