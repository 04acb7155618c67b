"""The ONNX model corpus of issue 10, generated on first use and cached.

tests/onnx/corpus/generate.py (seeded, deterministic) runs in the ONNX venv and
writes, under ``~/.cache/pysavedmodel/onnx-corpus-<hash>`` (``$PYSAVEDMODEL_CACHE``
moves the root), one directory per case::

    <case>/model.onnx            the exported model
    <case>/model.onnx.data       external weights (dynamo exports only)
    <case>/inputs_<i>.npz        input set i (i = 0, 1; set 1 has another batch
                                 size / sequence length for dynamic models)
    <case>/expected_<i>.npz      onnxruntime's outputs for input set i
    <case>/manifest.json         exporter, opset, framework, dynamic axes, op census, notes
    manifest.json                case list, union op census, versions, seconds taken

``<hash>`` covers the generator's sources and the ONNX venv's requirement key, so
changing either regenerates the corpus.  Nothing binary is committed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import onnx_env, venvs

if TYPE_CHECKING:
    import numpy as np

GENERATOR_DIR = venvs.ROOT / "tests" / "onnx" / "corpus"
CACHE = Path(os.environ.get("PYSAVEDMODEL_CACHE", Path.home() / ".cache" / "pysavedmodel"))


def corpus_key() -> str:
    """Hash of the generator sources and the ONNX venv key."""
    digest = hashlib.sha256(onnx_env.onnx_key().encode())
    for path in sorted(GENERATOR_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def corpus_dir() -> Path:
    """The generated corpus directory, generating it first if it is missing or stale."""
    out = CACHE / f"onnx-corpus-{corpus_key()}"
    if (out / "manifest.json").exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"onnx-corpus-{corpus_key()}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)   # one generator at a time across processes
        if not (out / "manifest.json").exists():
            onnx_env.run_onnx((GENERATOR_DIR / "generate.py").read_text(), out, timeout=1800)
    return out


@dataclass
class CorpusCase:
    """One exported model with its input sets and onnxruntime's outputs for them."""

    name: str
    path: Path
    inputs: list[dict[str, np.ndarray]] = field(repr=False)
    expected: list[dict[str, np.ndarray]] = field(repr=False)
    meta: dict[str, Any] = field(repr=False)


def _npz(path: Path) -> dict[str, np.ndarray]:
    import numpy as np

    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def manifest() -> dict[str, Any]:
    """The corpus's top-level manifest (cases, union op census, versions)."""
    result: dict[str, Any] = json.loads((corpus_dir() / "manifest.json").read_text())
    return result


def cases() -> list[CorpusCase]:
    """Every corpus case, in generation order."""
    root = corpus_dir()
    out = []
    for name in manifest()["cases"]:
        cdir = root / name
        meta = json.loads((cdir / "manifest.json").read_text())
        count = int(meta["input_sets"])
        out.append(CorpusCase(
            name=name, path=cdir / "model.onnx",
            inputs=[_npz(cdir / f"inputs_{i}.npz") for i in range(count)],
            expected=[_npz(cdir / f"expected_{i}.npz") for i in range(count)],
            meta=meta))
    return out
