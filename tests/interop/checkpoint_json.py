"""Checkpoint tensors as JSON on both sides of a TensorFlow subprocess.

The format names dtypes as TensorFlow does (``bfloat16`` included, which numpy's dtype
string cannot tell apart from other 2-byte types): ``{"shape", "dtype", "hex"}`` for
numbers, ``{"shape", "b64"}`` for strings.  :data:`TF_PRELUDE` opens a TF script (the
imports, ``spec`` loaded from argv[1], and ``encode``); :func:`encode` is the same
encoding on the pytest side, so results compare as plain dicts.
"""

from __future__ import annotations

import base64
from typing import Any

import ml_dtypes
import numpy as np

TF_PRELUDE = r"""
import base64, json, os, sys
import numpy as np
import tensorflow as tf

spec = json.load(open(sys.argv[1]))

def encode(value):
    # string tensors come back as object arrays, scalar ones as plain bytes
    value = np.asarray(value, dtype=object) if isinstance(value, bytes) else np.asarray(value)
    if value.dtype == object:
        return {"shape": list(value.shape),
                "b64": [base64.b64encode(x).decode() for x in value.reshape(-1).tolist()]}
    return {"shape": list(value.shape), "dtype": tf.as_dtype(value.dtype).name,
            "hex": np.ascontiguousarray(value).tobytes().hex()}
"""


def encode(value: np.ndarray) -> dict[str, Any]:
    """``value`` as the TF side's ``encode`` reports it."""
    value = np.asarray(value)
    if value.dtype == object:
        return {"shape": list(value.shape),
                "b64": [base64.b64encode(x).decode() for x in value.reshape(-1).tolist()]}
    name = "bfloat16" if value.dtype == np.dtype(ml_dtypes.bfloat16) else str(value.dtype)
    return {"shape": list(value.shape), "dtype": name,
            "hex": np.ascontiguousarray(value).tobytes().hex()}
