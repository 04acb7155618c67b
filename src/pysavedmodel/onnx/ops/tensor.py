"""Shape and data-movement ONNX ops: Reshape, Flatten, Transpose, Concat, (Un)Squeeze, Gather,
Slice, Split, Cast, Shape, Expand, Tile, Constant.

Shape vectors known at conversion time stay numpy arrays (see ``convert``'s constant folding);
otherwise TF computes them (``Shape`` with ``out_type=int64``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ModelError
from ..context import Context
from ..ir import Node
from .registry import handler, same_rank


def axes_of(ctx: Context, node: Node, index: int, attr: str = "axes") -> list[int] | None:
    """Axes from an attribute (older opsets) or a constant input (newer)."""
    if attr in node.attrs:
        return [int(a) for a in node.attrs[attr]]
    name = node.input(index)
    if not name:
        return None
    value = ctx.const(name)
    if value is None:
        raise ctx.fail(f"input {name!r} ({attr}) must be known at conversion time")
    return [int(a) for a in np.asarray(value).reshape(-1)]


def norm_axis(axis: int, rank: int, *, inclusive: bool = False) -> int:
    """``axis`` in ``[0, rank)`` (``[0, rank]`` when ``inclusive``, as Flatten allows);
    negative axes count from the end.  Out of range: ModelError naming axis and rank."""
    top = rank + 1 if inclusive else rank
    if not -rank <= axis < top:
        raise ModelError(f"axis {axis} is out of range for rank {rank} "
                         f"(expected {-rank}..{top - 1})")
    return axis + rank if axis < 0 else axis


def dynamic_shape(ctx: Context, name: str) -> Any:
    """``name``'s shape as an int64 tensor (ONNX layout)."""
    return ctx.op("Shape", [ctx.tensor(name)], out_type="int64")


def _vector_length(ctx: Context, node: Node, index: int = 0) -> int | None:
    shape_ = ctx.shape(node.input(index))
    return shape_[0] if shape_ is not None and len(shape_) == 1 else None


def _expand_rank(ctx: Context, node: Node) -> int | None:
    rank, length = ctx.rank(node.inputs[0]), _vector_length(ctx, node, 1)
    return None if rank is None or length is None else max(rank, length)


def _gather_rank(ctx: Context, node: Node) -> int | None:
    rank, indices = ctx.rank(node.inputs[0]), ctx.rank(node.inputs[1])
    return None if rank is None or indices is None else rank - 1 + indices


def _unsqueeze_rank(ctx: Context, node: Node) -> int | None:
    rank, axes = ctx.rank(node.inputs[0]), axes_of(ctx, node, 1)
    return None if rank is None or axes is None else rank + len(axes)


@handler("Constant", tf="(conversion-time constant; Const where consumed)")
def constant(ctx: Context, node: Node) -> None:
    from ..load import import_onnx
    onnx = import_onnx()
    for key, value in node.attrs.items():
        if key == "value":
            ctx.set_const(node.outputs[0], onnx.numpy_helper.to_array(value))
        elif key in ("value_float", "value_int"):
            dtype = np.float32 if key == "value_float" else np.int64
            ctx.set_const(node.outputs[0], np.array(value, dtype))
        elif key in ("value_floats", "value_ints"):
            dtype = np.float32 if key == "value_floats" else np.int64
            ctx.set_const(node.outputs[0], np.array(list(value), dtype))
        else:
            raise ctx.fail(f"attribute {key!r} is not supported")


@handler("Shape", tf="(folded when static) or Shape")
def shape(ctx: Context, node: Node) -> None:
    static = ctx.shape(node.inputs[0])
    start = int(node.attr("start", 0))
    end = node.attr("end")
    if static is not None and all(d is not None for d in static):
        sl = slice(start, None if end is None else int(end))
        ctx.set_const(node.outputs[0], np.array(static, np.int64)[sl])
        return
    out = dynamic_shape(ctx, node.inputs[0])
    if start != 0 or end is not None:
        rank = len(static) if static is not None else None
        if rank is None:
            raise ctx.fail("Shape start/end with unknown rank")
        # ONNX clamps Shape's start and end into [0, rank] after adding rank to negatives.
        s = min(max(start + rank if start < 0 else start, 0), rank)
        e = rank if end is None else min(max(int(end) + rank if int(end) < 0 else int(end), 0),
                                         rank)
        out = ctx.op("StridedSlice", [out, np.array([s], np.int64), np.array([e], np.int64),
                                      np.array([1], np.int64)])
    ctx.set(node.outputs[0], out)


@handler("Size", tf="(folded when static) or Size")
def size(ctx: Context, node: Node) -> None:
    static = ctx.shape(node.inputs[0])
    if static is not None and all(d is not None for d in static):
        ctx.set_const(node.outputs[0], np.array(int(np.prod([int(d or 0) for d in static])),
                                                np.int64))
        return
    ctx.set(node.outputs[0], ctx.op("Size", [ctx.tensor(node.inputs[0])], out_type="int64"))


@handler("Cast", tf="Cast", rank=same_rank)
def cast(ctx: Context, node: Node) -> None:
    from ..load import numpy_dtype
    dtype = numpy_dtype(int(node.attr("to")), node.where())
    x = node.inputs[0]
    nhwc = ctx.is_nhwc(x)
    src = ctx.nhwc(x) if nhwc else ctx.tensor(x)
    if np.issubdtype(ctx.dtype(x), np.floating) and dtype == np.bool_:
        out = ctx.op("NotEqual", [src, np.array(0, ctx.dtype(x))])
    else:
        out = ctx.op("Cast", [src], DstT=dtype.name)
    ctx.set(node.outputs[0], out, nhwc=nhwc)


@handler("Transpose", tf="Transpose (cancelled against a pending layout change when possible)",
         rank=same_rank)
def transpose(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = ctx.rank(x)
    perm = node.attr("perm")
    if perm is None:
        if rank is None:
            raise ctx.fail("Transpose without perm needs the input's rank")
        perm = list(range(rank))[::-1]
    perm = [int(p) for p in perm]
    if ctx.is_nhwc(x) and rank is not None:
        # The stored tensor is x transposed by to_nhwc; compose so one Transpose remains.
        from ..context import to_nchw
        back = to_nchw(rank)
        composed = [back[p] for p in perm]
        if composed == list(range(rank)):
            ctx.set(node.outputs[0], ctx.op("Identity", [ctx.nhwc(x)]))
        else:
            ctx.set(node.outputs[0], ctx.op("Transpose", [ctx.nhwc(x),
                                                          np.array(composed, np.int32)]))
        return
    ctx.set(node.outputs[0], ctx.op("Transpose", [ctx.tensor(x), np.array(perm, np.int32)]))


@handler("Reshape", tf="Reshape (0 copies the input dim unless allowzero, -1 inferred)",
         rank=lambda ctx, node: _vector_length(ctx, node, 1))
def reshape(ctx: Context, node: Node) -> None:
    x, target_name = node.inputs[0], node.inputs[1]
    target = ctx.const(target_name)
    if target is None:
        ctx.set(node.outputs[0], ctx.op("Reshape", [ctx.tensor(x), ctx.tensor(target_name)]))
        return
    target = np.asarray(target, np.int64).reshape(-1).copy()
    zeros = [i for i, d in enumerate(target) if d == 0]
    if zeros and not node.attr("allowzero", 0):
        in_shape = ctx.shape(x)
        static = [in_shape[i] if in_shape is not None and i < len(in_shape) else None
                  for i in zeros]
        if all(s is not None for s in static):
            for i, s in zip(zeros, static):
                target[i] = s
        else:
            dims = dynamic_shape(ctx, x)
            parts: list[Any] = []
            for i, d in enumerate(target):
                if d == 0:
                    parts.append(ctx.op("StridedSlice", [
                        dims, np.array([i], np.int64), np.array([i + 1], np.int64),
                        np.array([1], np.int64)]))
                else:
                    parts.append(np.array([d], np.int64))
            shape_t = ctx.op("ConcatV2", [parts, np.array(0, np.int32)])
            ctx.set(node.outputs[0], ctx.op("Reshape", [ctx.tensor(x), shape_t]))
            return
    ctx.set(node.outputs[0], ctx.op("Reshape", [ctx.tensor(x), target]))


@handler("Flatten", tf="Reshape", rank=lambda ctx, node: 2)
def flatten(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    in_shape = ctx.shape(x)
    if in_shape is None:
        raise ctx.fail("Flatten needs the input's rank")
    axis = norm_axis(int(node.attr("axis", 1)), len(in_shape), inclusive=True)
    inner = in_shape[axis:]
    outer = in_shape[:axis]
    if all(d is not None for d in inner):
        target = [-1 if axis else 1, int(np.prod(inner))]  # type: ignore[arg-type]
        if axis and all(d is not None for d in outer) and not inner:
            target = [int(np.prod(outer)), 1]  # type: ignore[arg-type]
    elif all(d is not None for d in outer):
        target = [int(np.prod(outer)), -1]  # type: ignore[arg-type]
    else:
        raise ctx.fail("Flatten with unknown dims on both sides of the axis")
    ctx.set(node.outputs[0], ctx.op("Reshape", [ctx.tensor(x), np.array(target, np.int64)]))


@handler("Squeeze", tf="Squeeze")
def squeeze(ctx: Context, node: Node) -> None:
    axes = axes_of(ctx, node, 1)
    x = node.inputs[0]
    rank = ctx.rank(x)
    if axes is None:
        shape_ = ctx.shape(x)
        if shape_ is None or any(d is None for d in shape_):
            raise ctx.fail("Squeeze without axes needs a static input shape")
        axes = [i for i, d in enumerate(shape_) if d == 1]
    if rank is not None:
        axes = [norm_axis(a, rank) for a in axes]
    ctx.set(node.outputs[0], ctx.op("Squeeze", [ctx.tensor(x)], squeeze_dims=axes))


@handler("Unsqueeze", tf="Reshape or ExpandDims", rank=_unsqueeze_rank)
def unsqueeze(ctx: Context, node: Node) -> None:
    axes = axes_of(ctx, node, 1) or []
    x = node.inputs[0]
    rank = ctx.rank(x)
    if rank is None:
        raise ctx.fail("Unsqueeze needs the input's rank")
    out_rank = rank + len(axes)
    axes = sorted(norm_axis(a, out_rank) for a in axes)
    out = ctx.tensor(x)
    for a in axes:
        out = ctx.op("ExpandDims", [out, np.array(a, np.int32)])
    ctx.set(node.outputs[0], out)


@handler("Concat", tf="ConcatV2", rank=same_rank)
def concat(ctx: Context, node: Node) -> None:
    names = [n for n in node.inputs if n]
    rank = ctx.rank(names[0])
    axis = int(node.attr("axis"))
    if rank is not None:
        axis = norm_axis(axis, rank)
    if len(names) == 1:
        nhwc = ctx.is_nhwc(names[0])
        src = ctx.nhwc(names[0]) if nhwc else ctx.tensor(names[0])
        ctx.set(node.outputs[0], ctx.op("Identity", [src]), nhwc=nhwc)
        return
    if rank is not None and rank >= 3 and all(ctx.is_nhwc(n) for n in names):
        from ..context import to_nhwc
        nhwc_axis = to_nhwc(rank).index(axis)
        out = ctx.op("ConcatV2", [[ctx.nhwc(n) for n in names], np.array(nhwc_axis, np.int32)])
        ctx.set(node.outputs[0], out, nhwc=True)
        return
    out = ctx.op("ConcatV2", [[ctx.tensor(n) for n in names], np.array(axis, np.int32)])
    ctx.set(node.outputs[0], out)


@handler("Gather", tf="GatherV2 (negative indices wrapped)", rank=_gather_rank)
def gather(ctx: Context, node: Node) -> None:
    data, idx_name = node.inputs[0], node.inputs[1]
    in_shape = ctx.shape(data)
    axis = int(node.attr("axis", 0))
    if in_shape is not None:
        axis = norm_axis(axis, len(in_shape))
    dim = in_shape[axis] if in_shape is not None else None
    idx = ctx.const(idx_name)
    if idx is not None and dim is not None:
        indices: Any = np.where(idx < 0, idx + dim, idx).astype(idx.dtype)
    else:
        raw = ctx.tensor(idx_name)
        dims = ctx.op("Cast", [ctx.op("Shape", [ctx.tensor(data)], out_type="int64")],
                      DstT=ctx.dtype(idx_name).name)
        size_ = ctx.op("GatherV2", [dims, np.array(axis, np.int32), np.array(0, np.int32)])
        neg = ctx.op("Less", [raw, np.array(0, ctx.dtype(idx_name))])
        indices = ctx.op("SelectV2", [neg, ctx.op("AddV2", [raw, size_]), raw])
    out = ctx.op("GatherV2", [ctx.tensor(data), indices, np.array(axis, np.int32)])
    ctx.set(node.outputs[0], out)


@handler("Slice", tf="StridedSlice (INT64 ends and negative steps clamp as in ONNX; starts/ends "
         "from run-time shape arithmetic become ConcatV2 of clamped StridedSlice pieces)",
         rank=same_rank)
def slice_(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = ctx.rank(x)
    if rank is None:
        raise ctx.fail("Slice needs the input's rank")
    bounds: list[list[int] | Any] = []
    if ctx.opset < 10:
        bounds = [[int(a) for a in node.attr("starts")], [int(a) for a in node.attr("ends")]]
        axes = [int(a) for a in node.attr("axes", list(range(len(bounds[0]))))]
        steps = [1] * len(axes)
    else:
        count = None
        for i in (1, 2):
            v = ctx.const(node.input(i))
            if v is not None:
                bounds.append([int(a) for a in v.reshape(-1)])
                count = len(bounds[-1])
            else:
                bounds.append(ctx.tensor(node.input(i)))
                length = ctx.shape(node.input(i))
                if length is not None and len(length) == 1 and length[0] is not None:
                    count = int(length[0])
        given_axes = axes_of(ctx, node, 3, attr="_axes_")
        if given_axes is None and count is None:
            raise ctx.fail("Slice with run-time starts and ends needs axes or their length")
        axes = given_axes if given_axes is not None else list(range(int(count or 0)))
        steps = axes_of(ctx, node, 4, attr="_steps_") or [1] * len(axes)
    axes = [norm_axis(int(a), rank) for a in axes]
    big = 2**62
    stride = [1] * rank
    for a, st in zip(axes, steps):
        stride[a] = st
    begin_mask = end_mask = (1 << rank) - 1
    for a in axes:
        begin_mask &= ~(1 << a)
        end_mask &= ~(1 << a)
    vectors: list[Any] = []
    for which, values in enumerate(bounds):
        if isinstance(values, list):
            vec = [0] * rank
            for v, a, st in zip(values, axes, steps):
                if which == 1 and (st < 0 and v <= -big or st > 0 and v >= big):
                    end_mask |= 1 << a
                elif which == 0 and (st > 0 and v <= -big or st < 0 and v >= big):
                    # Starting before the first (after the last) element: from the edge.
                    # (TF's shape function for slices of a Shape rejects huge begins.)
                    begin_mask |= 1 << a
                else:
                    vec[a] = max(min(v, big), -big)
            vectors.append(np.array(vec, np.int64))
            continue
        # Run-time values (shape arithmetic on dynamic dims): clamp, then place per axis.
        t = ctx.op("Cast", [values], DstT="int64")
        t = ctx.op("Minimum", [ctx.op("Maximum", [t, np.array(-big, np.int64)]),
                               np.array(big, np.int64)])
        where = {a: k for k, a in enumerate(axes)}
        pieces: list[Any] = []
        for a in range(rank):
            if a in where:
                k = where[a]
                pieces.append(ctx.op("StridedSlice", [t, np.array([k], np.int64),
                                                      np.array([k + 1], np.int64),
                                                      np.array([1], np.int64)]))
            else:
                pieces.append(np.array([0], np.int64))
        vectors.append(pieces[0] if rank == 1 else ctx.op("ConcatV2", [
            pieces, np.array(0, np.int32)]))
    out = ctx.op("StridedSlice", [ctx.tensor(x), vectors[0], vectors[1],
                                  np.array(stride, np.int64)],
                 begin_mask=begin_mask, end_mask=end_mask)
    ctx.set(node.outputs[0], out)


@handler("Split", tf="SplitV", rank=same_rank)
def split(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    in_shape = ctx.shape(x)
    if in_shape is None:
        raise ctx.fail("Split needs the input's rank")
    axis = norm_axis(int(node.attr("axis", 0)), len(in_shape))
    sizes = axes_of(ctx, node, 1, attr="split")
    n = len(node.outputs)
    if sizes is None:
        dim = in_shape[axis]
        if dim is None:
            raise ctx.fail("Split into equal parts needs a static dim on the split axis")
        part = -(-dim // n)
        sizes = [part] * (n - 1) + [dim - part * (n - 1)]
    outs = ctx.op("SplitV", [ctx.tensor(x), np.array(sizes, np.int64), np.array(axis, np.int32)],
                  num_split=len(sizes)).outputs
    for name, out in zip(node.outputs, outs):
        ctx.set(name, out)


@handler("Expand", tf="BroadcastTo(x, BroadcastArgs(Shape(x), shape))", rank=_expand_rank)
def expand(ctx: Context, node: Node) -> None:
    x = ctx.tensor(node.inputs[0])
    target = ctx.tensor(node.inputs[1])
    full = ctx.op("BroadcastArgs", [ctx.op("Shape", [x], out_type="int64"), target])
    ctx.set(node.outputs[0], ctx.op("BroadcastTo", [x, full]))


@handler("Tile", tf="Tile", rank=same_rank)
def tile(ctx: Context, node: Node) -> None:
    ctx.set(node.outputs[0], ctx.op("Tile", [ctx.tensor(node.inputs[0]),
                                             ctx.tensor(node.inputs[1])]))


@handler("ConstantOfShape", tf="Fill", rank=_vector_length)
def constant_of_shape(ctx: Context, node: Node) -> None:
    from ..load import import_onnx
    value = node.attrs.get("value")
    fill = (import_onnx().numpy_helper.to_array(value).reshape(()) if value is not None
            else np.array(0, np.float32))
    ctx.set(node.outputs[0], ctx.op("Fill", [ctx.tensor(node.inputs[0]), fill]))


@handler("Range", tf="Range")
def range_(ctx: Context, node: Node) -> None:
    ctx.set(node.outputs[0], ctx.op("Range", [ctx.tensor(n) for n in node.inputs]))
