"""Checks of the signatures, and TF Serving's rules for their method names.

Each signature tensor (dense, sparse parts, composite components) is an output
of the graph with the recorded dtype.  The serving rules of the method names are
the builder's, :mod:`pysavedmodel.builder.serving_rules` (written once), here
collected as findings.
"""

from __future__ import annotations

from ..._proto import meta_graph_pb2
from ...builder.serving_rules import check_serving_rules
from ...constants import RESERVED_SIGNATURE_KEYS
from ...graph.inference import base_enum
from ...names import parse_input
from .context import MetaGraphContext
from .findings import type_name


def check_signatures(ctx: MetaGraphContext) -> None:
    """Every signature but the init/train op ones: its tensors, then the serving rules."""
    for key, signature in sorted(ctx.meta.signature_def.items()):
        if key in RESERVED_SIGNATURE_KEYS:
            continue
        for side, infos in (("input", signature.inputs), ("output", signature.outputs)):
            for alias, info in sorted(infos.items()):
                where = ctx.at(f"signature {key!r} {side} {alias!r}")
                _check_tensor_info(ctx, info, where)
        check_serving_rules(ctx.at(f"signature {key!r}"), signature, ctx.report)


def _check_tensor_info(ctx: MetaGraphContext, info: meta_graph_pb2.TensorInfo,
                       where: str) -> None:
    encoding = info.WhichOneof("encoding")
    if encoding == "coo_sparse":
        sparse = info.coo_sparse
        for part in (sparse.values_tensor_name, sparse.indices_tensor_name,
                     sparse.dense_shape_tensor_name):
            problem = ctx.tensor_exists(part)
            if problem is not None:
                ctx.report("signature-tensor-missing", where, f"{part!r}: {problem}")
        return
    if encoding == "composite_tensor":
        for index, component in enumerate(info.composite_tensor.components):
            _check_tensor_info(ctx, component, f"{where} component {index}")
        return
    problem = ctx.tensor_exists(info.name)
    if problem is not None:
        ctx.report("signature-tensor-missing", where, f"{info.name!r}: {problem}")
        return
    source, index, _ = parse_input(info.name)
    produced = ctx.outputs[source].dtypes
    got = produced[index] if produced is not None else None
    if got is not None and base_enum(got) != base_enum(info.dtype):  # ref dtypes: TF1
        ctx.report("signature-dtype-mismatch", where,
                   f"records {type_name(info.dtype)} but {info.name!r} is "
                   f"{type_name(base_enum(got))}")
