"""What a check reports: :class:`Finding`, every code it can carry, and message helpers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Callable, Final

from ... import dtypes

FINDING_CODES: Final = (
    "proto-unparseable", "no-meta-graphs", "duplicate-tag-set",
    "bad-node-name", "duplicate-node", "unknown-op", "deprecated-op", "bad-attr",
    "missing-attr", "missing-input", "bad-input-order", "input-count",
    "input-dtype-mismatch", "graph-cycle", "function-missing",
    "saver-node-missing", "restore-spec-invalid", "checkpoint-missing",
    "checkpoint-unreadable", "variable-not-in-checkpoint", "variable-dtype-mismatch",
    "variable-shape-mismatch", "checksum-mismatch",
    "asset-path-escapes", "asset-missing", "asset-tensor-missing", "asset-fed-twice",
    "bad-collection", "collection-node-missing", "init-op-missing", "init-op-count",
    "train-op-missing", "train-op-count",
    "signature-tensor-missing", "signature-dtype-mismatch",
    "serving-predict-inputs", "serving-predict-outputs",
    "serving-classify-inputs", "serving-classify-outputs",
    "serving-regress-inputs", "serving-regress-outputs",
    "object-graph-reference", "object-function-missing", "object-graph-mismatch",
    "object-checkpoint-key-missing", "object-function-signature", "fingerprint-mismatch",
)
"""Every code :func:`validate_saved_model` can report (stable identifiers)."""


@dataclass(frozen=True)
class Finding:
    """One problem: ``code`` (stable kebab-case id), ``where`` it is, ``message``."""

    code: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.where}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        """``{"code", "where", "message"}`` (for JSON output)."""
        return asdict(self)


Report = Callable[[str, str, str], None]
"""``report(code, where, message)``: records one finding; checking goes on."""


def type_name(enum: int) -> str:
    """``DT_FLOAT`` for a DataType number (``DataType 1234`` for one TF does not define)."""
    return dtypes.dtype_name(enum, proto=True)


def tags_label(tags: Iterable[str]) -> str:
    """``[serve, gpu]``: how a meta graph's tag set starts a finding's ``where``."""
    return "[" + ", ".join(tags) + "]"
