"""The op handler registry: ONNX op type → handler, and the TF ops each one emits (for docs)."""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context
from ..ir import Node

__all__ = ["HANDLERS", "TF_OPS", "handler"]

Handler = Callable[[Context, Node], None]
HANDLERS: dict[str, Handler] = {}
TF_OPS: dict[str, str] = {}
"""ONNX op type → the TF ops its handler emits (documentation table)."""


def handler(*op_types: str, tf: str) -> Callable[[Handler], Handler]:
    """Register the decorated function for ``op_types``; ``tf`` describes what it emits."""
    def register(func: Handler) -> Handler:
        for op_type in op_types:
            HANDLERS[op_type] = func
            TF_OPS[op_type] = tf
        return func
    return register
