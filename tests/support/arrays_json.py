"""Arrays as JSON, exactly: raw bytes (hex) for numbers, base64 items for strings.

Shared by the pytest side and the scripts that run under TensorFlow, so that
what crosses the subprocess boundary is bit-exact (NaN payloads included).
Needs only numpy.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np


def encode(value: Any) -> dict[str, Any]:
    """An array (or array-like) as a JSON-ready dict."""
    a = np.asarray(value)
    if a.dtype == object or a.dtype.kind in "SU":
        flat = [v if isinstance(v, bytes) else str(v).encode() for v in a.reshape(-1)]
        return {"dtype": "string", "shape": list(a.shape),
                "values_b64": [base64.b64encode(v).decode() for v in flat]}
    # tobytes() is C order whatever the layout (ascontiguousarray would make a scalar 1-D)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "hex": a.tobytes().hex()}


def decode(enc: dict[str, Any]) -> np.ndarray:
    """The inverse of :func:`encode` (strings come back as object arrays of bytes)."""
    if enc["dtype"] == "string":
        flat = [base64.b64decode(v) for v in enc["values_b64"]]
        return np.array(flat, dtype=object).reshape(enc["shape"])
    return np.frombuffer(bytes.fromhex(enc["hex"]), dtype=enc["dtype"]).reshape(enc["shape"])
