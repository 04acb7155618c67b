"""Index-producing and index-consuming ONNX ops: ArgMax/ArgMin, TopK, NonZero, CumSum,
GatherElements, ScatterND, Pad, Einsum."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..ir import Node
from .registry import handler
from .tensor import norm_axis


def _rank(ctx: Context, name: str) -> int:
    rank = ctx.rank(name)
    if rank is None:
        raise ctx.fail(f"the rank of {name!r} must be known")
    return rank


@handler("ArgMax", "ArgMin", tf="ArgMax/ArgMin (int64), ExpandDims for keepdims")
def arg_extreme(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = _rank(ctx, x)
    if node.attr("select_last_index", 0):
        raise ctx.fail("select_last_index=1 is not supported")
    axis = norm_axis(int(node.attr("axis", 0)), rank)
    out = ctx.op(node.op_type, [ctx.tensor(x), np.array(axis, np.int32)], output_type="int64")
    if node.attr("keepdims", 1):
        out = ctx.op("ExpandDims", [out, np.array(axis, np.int32)])
    ctx.set(node.outputs[0], out)


def _move_last(ctx: Context, t: Any, axis: int, rank: int) -> tuple[Any, list[int] | None]:
    if axis == rank - 1:
        return t, None
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    return ctx.op("Transpose", [t, np.array(perm, np.int32)]), perm


@handler("TopK", tf="TopKV2 (on the last axis; Transpose around it; Neg for largest=0)")
def topk(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = _rank(ctx, x)
    axis = norm_axis(int(node.attr("axis", -1)), rank)
    k = ctx.const(node.input(1))
    k_arg: Any = (np.array(int(k.reshape(-1)[0]), np.int32) if k is not None else
                  ctx.op("Cast", [ctx.op("Reshape", [ctx.tensor(node.input(1)),
                                                     np.array([], np.int64)])], DstT="int32"))
    t, perm = _move_last(ctx, ctx.tensor(x), axis, rank)
    largest = bool(node.attr("largest", 1))
    if not largest:
        t = ctx.op("Neg", [t])
    result = ctx.op("TopKV2", [t, k_arg], sorted=True)
    values, indices = result.outputs
    if not largest:
        values = ctx.op("Neg", [values])
    indices = ctx.op("Cast", [indices], DstT="int64")
    if perm is not None:
        values = ctx.op("Transpose", [values, np.array(perm, np.int32)])
        indices = ctx.op("Transpose", [indices, np.array(perm, np.int32)])
    ctx.set(node.outputs[0], values)
    if len(node.outputs) > 1:
        ctx.set(node.outputs[1], indices)


@handler("NonZero", tf="Where (coordinates) + Transpose, int64")
def nonzero(ctx: Context, node: Node) -> None:
    coords = ctx.op("Where", [ctx.tensor(node.inputs[0])])
    ctx.set(node.outputs[0], ctx.op("Transpose", [coords, np.array([1, 0], np.int32)]))


@handler("CumSum", tf="Cumsum (exclusive/reverse attrs)")
def cumsum(ctx: Context, node: Node) -> None:
    ctx.set(node.outputs[0], ctx.op("Cumsum", [ctx.tensor(node.inputs[0]),
                                               ctx.tensor(node.inputs[1])],
                                    exclusive=bool(node.attr("exclusive", 0)),
                                    reverse=bool(node.attr("reverse", 0))))


@handler("GatherElements", tf="GatherNd with full coordinates (negative indices wrapped)")
def gather_elements(ctx: Context, node: Node) -> None:
    data, idx = node.inputs[0], node.inputs[1]
    rank = _rank(ctx, data)
    axis = norm_axis(int(node.attr("axis", 0)), rank)
    ind = ctx.op("Cast", [ctx.tensor(idx)], DstT="int64")
    dims = ctx.op("Shape", [ctx.tensor(data)], out_type="int64")
    dim = ctx.op("GatherV2", [dims, np.array(axis, np.int32), np.array(0, np.int32)])
    ind = ctx.op("SelectV2", [ctx.op("Less", [ind, np.array(0, np.int64)]),
                              ctx.op("AddV2", [ind, dim]), ind])
    ishape = ctx.op("Shape", [ind], out_type="int64")
    grids = []
    for i in range(rank):
        if i == axis:
            grids.append(ind)
            continue
        n = ctx.op("GatherV2", [ishape, np.array(i, np.int32), np.array(0, np.int32)])
        r = ctx.op("Range", [np.array(0, np.int64), n, np.array(1, np.int64)])
        shape = [1] * rank
        shape[i] = -1
        r = ctx.op("Reshape", [r, np.array(shape, np.int64)])
        grids.append(ctx.op("BroadcastTo", [r, ishape]))
    coords = ctx.op("Pack", [grids], axis=-1)
    ctx.set(node.outputs[0], ctx.op("GatherNd", [ctx.tensor(data), coords]))


def _gather_nd_rank(ctx: Context, node: Node) -> int | None:
    rank, ishape = ctx.rank(node.inputs[0]), ctx.shape(node.inputs[1])
    if rank is None or ishape is None or ishape[-1] is None:
        return None
    return len(ishape) - 1 + rank - int(node.attr("batch_dims", 0)) - int(ishape[-1])


@handler("GatherND", tf="GatherNd (negative indices wrapped per coordinate; batch_dims as "
         "leading Range coordinates)", rank=_gather_nd_rank)
def gather_nd(ctx: Context, node: Node) -> None:
    data, idx = node.inputs[0], node.inputs[1]
    rank = _rank(ctx, data)
    ishape = ctx.shape(idx)
    if ishape is None or ishape[-1] is None:
        raise ctx.fail(f"the last dim of indices {idx!r} must be static")
    depth, batch = int(ishape[-1]), int(node.attr("batch_dims", 0))
    q = len(ishape)
    ind = ctx.op("Cast", [ctx.tensor(idx)], DstT="int64")
    dims = ctx.op("Shape", [ctx.tensor(data)], out_type="int64")
    # Wrap negative coordinates: coordinate k indexes data axis batch + k.
    limits = ctx.op("StridedSlice", [dims, np.array([batch], np.int64),
                                     np.array([batch + depth], np.int64),
                                     np.array([1], np.int64)])
    ind = ctx.op("SelectV2", [ctx.op("Less", [ind, np.array(0, np.int64)]),
                              ctx.op("AddV2", [ind, limits]), ind])
    if batch:
        # TF's GatherNd has no batch dims: prepend each position's batch coordinates.
        ishape_t = ctx.op("Shape", [ind], out_type="int64")
        lead = ctx.op("StridedSlice", [ishape_t, np.array([0], np.int64),
                                       np.array([q - 1], np.int64), np.array([1], np.int64)])
        grid_shape = ctx.op("ConcatV2", [[lead, np.array([1], np.int64)],
                                         np.array(0, np.int32)])
        grids = []
        for i in range(batch):
            n = ctx.op("GatherV2", [ishape_t, np.array(i, np.int32), np.array(0, np.int32)])
            r = ctx.op("Range", [np.array(0, np.int64), n, np.array(1, np.int64)])
            shape = [1] * q
            shape[i] = -1
            r = ctx.op("Reshape", [r, np.array(shape, np.int64)])
            grids.append(ctx.op("BroadcastTo", [r, grid_shape]))
        ind = ctx.op("ConcatV2", [[*grids, ind], np.array(-1, np.int32)])
    del rank
    ctx.set(node.outputs[0], ctx.op("GatherNd", [ctx.tensor(data), ind]))


@handler("ScatterND", tf="TensorScatterUpdate (reduction none)")
def scatter_nd(ctx: Context, node: Node) -> None:
    if node.attr("reduction", "none") != "none":
        raise ctx.fail(f"reduction {node.attr('reduction')!r} is not supported")
    ctx.set(node.outputs[0], ctx.op("TensorScatterUpdate", [ctx.tensor(n) for n in node.inputs]))


@handler("Pad", tf="Pad / PadV2 (constant), MirrorPad (reflect), edge via GatherV2 clamp")
def pad(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = _rank(ctx, x)
    mode = node.attr("mode", "constant")
    if ctx.opset < 11:
        pads = [int(p) for p in node.attr("pads")]
        value = float(node.attr("value", 0.0))
    else:
        raw = ctx.const(node.input(1))
        if raw is None:
            raise ctx.fail("pads must be known at conversion time")
        pads = [int(p) for p in raw.reshape(-1)]
        cv = ctx.array(node.input(2)) if node.input(2) else None
        value = float(cv.reshape(-1)[0]) if cv is not None else 0.0
    axes = list(range(rank))
    if ctx.opset >= 18 and node.input(3):
        ax = ctx.const(node.input(3))
        if ax is None:
            raise ctx.fail("axes must be known at conversion time")
        axes = [norm_axis(int(a), rank) for a in ax.reshape(-1)]
    n = len(axes)
    spec = np.zeros((rank, 2), np.int64)
    for i, a in enumerate(axes):
        spec[a] = (pads[i], pads[i + n])
    if (spec < 0).any():
        raise ctx.fail("negative pads (cropping) are not supported")
    t = ctx.tensor(x)
    if mode == "constant":
        out = ctx.op("PadV2", [t, spec, np.array(value, ctx.dtype(x))])
    elif mode == "reflect":
        out = ctx.op("MirrorPad", [t, spec], mode="REFLECT")
    elif mode == "edge":
        shape = ctx.shape(x)
        out = t
        for a in range(rank):
            before, after = (int(v) for v in spec[a])
            if not before and not after:
                continue
            size = shape[a] if shape is not None else None
            if size is None:
                raise ctx.fail("edge padding needs static dims on padded axes")
            idx = np.clip(np.arange(-before, size + after), 0, size - 1).astype(np.int32)
            out = ctx.op("GatherV2", [out, idx, np.array(a, np.int32)])
    else:
        raise ctx.fail(f"Pad mode {mode!r} is not supported")
    ctx.set(node.outputs[0], out)


@handler("Einsum", tf="Einsum")
def einsum(ctx: Context, node: Node) -> None:
    equation = str(node.attr("equation")).replace(" ", "")
    ctx.set(node.outputs[0], ctx.op("Einsum", [[ctx.tensor(n) for n in node.inputs]],
                                    equation=equation))
