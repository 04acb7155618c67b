"""Checks of the collections and of the init and train ops.

``node_list`` collections name existing nodes; the init op (signature
``__saved_model_init_op``, else collection ``saved_model_main_op`` or
``legacy_init_op``) and the train op (signature ``__saved_model_train_op``,
else collection ``saved_model_train_op``) exist, and the collection TensorFlow
would use holds exactly one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ...constants import (
    INIT_OP_SIGNATURE_KEY,
    LEGACY_INIT_OP_COLLECTION,
    MAIN_OP_COLLECTION,
    TRAIN_OP_COLLECTION,
    TRAIN_OP_SIGNATURE_KEY,
)
from ...graph.graph import op_name_of
from .context import MetaGraphContext

_INIT_COLLECTIONS: Final = (MAIN_OP_COLLECTION, LEGACY_INIT_OP_COLLECTION)
_TRAIN_COLLECTION: Final = TRAIN_OP_COLLECTION


def check_collections(ctx: MetaGraphContext) -> None:
    """``node_list`` entries name nodes; the init and train ops exist and are unique."""
    op_collections = (*_INIT_COLLECTIONS, _TRAIN_COLLECTION)  # checked below
    for key, collection in sorted(ctx.meta.collection_def.items()):
        if collection.WhichOneof("kind") != "node_list" or key in op_collections:
            continue
        for value in collection.node_list.value:
            name = value[1:] if value.startswith("^") else op_name_of(value)
            if name not in ctx.nodes:
                ctx.report("collection-node-missing", ctx.at(f"collection {key!r}"),
                           f"entry {value!r} names no node of the graph")
    _check_op_reference(ctx, INIT_OP_SIGNATURE_KEY, _INIT_COLLECTIONS, "init-op-missing",
                        "init-op-count", "init op")
    _check_op_reference(ctx, TRAIN_OP_SIGNATURE_KEY, (_TRAIN_COLLECTION,), "train-op-missing",
                        "train-op-count", "train op")


def _check_op_reference(ctx: MetaGraphContext, key: str, collections: Sequence[str], code: str,
                        count_code: str, what: str) -> None:
    """The op named by signature ``key``, else by the first of ``collections`` present.

    Every collection entry must name a node (the Python loader imports them); only
    the collection TF would use must hold exactly one.
    """
    signature = ctx.meta.signature_def.get(key)
    if signature is not None:
        where = ctx.at(f"signature {key!r}")
        info = signature.outputs.get(key)
        if info is None:
            ctx.report(code, where, f"has no output {key!r} naming the {what}")
        elif op_name_of(info.name) not in ctx.nodes:
            ctx.report(code, where, f"names {info.name!r}, no node of the graph")
    used = signature is None
    for name in collections:
        collection = ctx.meta.collection_def.get(name)
        if collection is None:
            continue
        where = ctx.at(f"collection {name!r}")
        values = list(collection.node_list.value)
        if used and len(values) != 1:
            ctx.report(count_code, where, f"holds {len(values)} entries; TensorFlow "
                       f"expects exactly one {what}")
        used = False
        for value in values:
            if op_name_of(value) not in ctx.nodes:
                ctx.report(code, where, f"names {value!r}, no node of the graph")
