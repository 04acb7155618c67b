"""What a checkpoint holds, for tests: values recorded in the fixture manifests
(/work/shared/fixtures/tf-2.21/...) and the parsed entries of a ``.index`` file."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

from pysavedmodel._proto import tensor_bundle_pb2
from pysavedmodel.format.table import TableReader


def manifest_value(desc: Mapping[str, Any]) -> np.ndarray:
    """The exact array a fixture manifest describes (hex bytes or base64 strings)."""
    if "values_b64" in desc:
        flat = [base64.b64decode(v) for v in desc["values_b64"]]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(desc["shape"])
    dtype = ml_dtypes.bfloat16 if desc["dtype"] == "bfloat16" else np.dtype(desc["dtype"])
    return np.frombuffer(bytes.fromhex(desc["values_hex"]), dtype=dtype).reshape(desc["shape"])


def index_entries(prefix: str | Path) -> dict[bytes, Any]:
    """The BundleEntryProto of every key in ``<prefix>.index`` (the header left out)."""
    table = TableReader(Path(f"{prefix}.index").read_bytes())
    return {key: tensor_bundle_pb2.BundleEntryProto.FromString(value)
            for key, value in table.items() if key}
