"""The op handler registry: ONNX op type → handler, and the TF ops each one emits (for docs).

A handler may come with a *rank rule*: after the handler ran, every output whose rank neither
ONNX's shape inference nor the TF graph's knows gets the rank the rule computes from the
inputs' ranks (ONNX shape inference gives up after data-dependent Reshapes in some exports,
and later handlers need at least the rank).
"""

from __future__ import annotations

from collections.abc import Callable

from ..context import Context
from ..ir import Node

__all__ = ["HANDLERS", "TF_OPS", "handler", "broadcast_rank", "same_rank"]

Handler = Callable[[Context, Node], None]
RankRule = Callable[[Context, Node], "int | None"]
HANDLERS: dict[str, Handler] = {}
TF_OPS: dict[str, str] = {}
"""ONNX op type → the TF ops its handler emits (documentation table)."""


def broadcast_rank(ctx: Context, node: Node) -> int | None:
    """Numpy broadcasting: the largest input rank (None if any input's rank is unknown)."""
    ranks = [ctx.rank(n) for n in node.inputs if n]
    if not ranks or any(r is None for r in ranks):
        return None
    return max(r for r in ranks if r is not None)


def same_rank(ctx: Context, node: Node) -> int | None:
    """The first input's rank."""
    return ctx.rank(node.inputs[0])


def handler(*op_types: str, tf: str,
            rank: RankRule | None = None) -> Callable[[Handler], Handler]:
    """Register the decorated function for ``op_types``; ``tf`` describes what it emits;
    ``rank`` (optional) derives output ranks the shape inferences leave unknown."""
    def register(func: Handler) -> Handler:
        run = func
        if rank is not None:
            def run(ctx: Context, node: Node) -> None:
                func(ctx, node)
                for out in node.outputs:
                    if out and ctx.rank(out) is None:
                        value = rank(ctx, node)
                        if value is not None:
                            ctx.ranks[out] = value
        for op_type in op_types:
            HANDLERS[op_type] = run
            TF_OPS[op_type] = tf
        return func
    return register
