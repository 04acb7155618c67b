"""Linear algebra, reductions and normalisations: MatMul, Gemm, Reduce*, Softmax,
LayerNormalization."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..ir import Node
from .registry import handler, same_rank
from .tensor import axes_of, norm_axis


def _matmul(ctx: Context, a: Any, b: Any, rank_a: int | None, rank_b: int | None,
            **attrs: Any) -> Any:
    if rank_a == 2 and rank_b == 2:
        return ctx.op("MatMul", [a, b], **attrs)
    if attrs:
        raise ctx.fail("transposed batched MatMul")
    return ctx.op("BatchMatMulV2", [a, b])


def _matmul_rank(ra: int | None, rb: int | None) -> int | None:
    if ra is None or rb is None:
        return None
    if ra == 1 or rb == 1:
        return max(ra, rb) - 1
    return max(ra, rb)


@handler("MatMul", tf="MatMul (2-D) or BatchMatMulV2 (broadcasting; 1-D operands expanded)",
         rank=lambda ctx, node: _matmul_rank(ctx.rank(node.inputs[0]), ctx.rank(node.inputs[1])))
def matmul(ctx: Context, node: Node) -> None:
    an, bn = node.inputs
    ra, rb = ctx.rank(an), ctx.rank(bn)
    a, b = ctx.tensor(an), ctx.tensor(bn)
    if ra == 1:
        a = ctx.op("ExpandDims", [a, np.array(0, np.int32)])
    if rb == 1:
        b = ctx.op("ExpandDims", [b, np.array(-1, np.int32)])
    out = _matmul(ctx, a, b, 2 if ra == 1 else ra, 2 if rb == 1 else rb)
    if rb == 1:
        out = ctx.op("Squeeze", [out], squeeze_dims=[-1])
    if ra == 1:
        out = ctx.op("Squeeze", [out], squeeze_dims=[-2])
    ctx.set(node.outputs[0], out)


@handler("Gemm", tf="MatMul (transpose_a/b), Mul by alpha/beta, AddV2")
def gemm(ctx: Context, node: Node) -> None:
    an, bn = node.inputs[0], node.inputs[1]
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    dtype = ctx.dtype(an)
    # transB stays MatMul's transpose_b: the weight streams from the model file into the
    # checkpoint unchanged (no transposed copy in memory), and TF's kernel reads it either way.
    trans_b = bool(node.attr("transB", 0))
    b: Any = ctx.tensor(bn)
    out = ctx.op("MatMul", [ctx.tensor(an), b], transpose_a=bool(node.attr("transA", 0)),
                 transpose_b=trans_b)
    if alpha != 1.0:
        out = ctx.op("Mul", [out, np.array(alpha, dtype)])
    cn = node.input(2)
    if cn and beta != 0.0:
        c: Any = ctx.tensor(cn)
        if beta != 1.0:
            c = ctx.op("Mul", [c, np.array(beta, dtype)])
        out = ctx.op("AddV2", [out, c])
    ctx.set(node.outputs[0], out)


_REDUCE = {"ReduceMean": "Mean", "ReduceSum": "Sum", "ReduceMax": "Max", "ReduceMin": "Min",
           "ReduceProd": "Prod"}


def _reduce_rank(ctx: Context, node: Node) -> int | None:
    rank = ctx.rank(node.inputs[0])
    if rank is None or node.attr("keepdims", 1):
        return rank
    axes = axes_of(ctx, node, 1)
    return 0 if not axes else rank - len(set(norm_axis(a, rank) for a in axes))


@handler(*_REDUCE, tf="Mean, Sum, Max, Min, Prod (axes attribute or input by opset)",
         rank=_reduce_rank)
def reduce(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = ctx.rank(x)
    if rank is None:
        raise ctx.fail("reduction needs the input's rank")
    axes = axes_of(ctx, node, 1)
    if not axes:
        if node.attr("noop_with_empty_axes", 0):
            ctx.set(node.outputs[0], ctx.op("Identity", [ctx.tensor(x)]))
            return
        axes = list(range(rank))
    axes = sorted(norm_axis(a, rank) for a in axes)
    keep = bool(node.attr("keepdims", 1))
    if ctx.is_nhwc(x) and keep:
        from ..context import to_nhwc
        perm = to_nhwc(rank)
        out = ctx.op(_REDUCE[node.op_type], [ctx.nhwc(x), np.array(
            sorted(perm.index(a) for a in axes), np.int32)], keep_dims=True)
        ctx.set(node.outputs[0], out, nhwc=True)
        return
    out = ctx.op(_REDUCE[node.op_type], [ctx.tensor(x), np.array(axes, np.int32)],
                 keep_dims=keep)
    ctx.set(node.outputs[0], out)


@handler("Softmax", "LogSoftmax", tf="Softmax/LogSoftmax (Transpose or Reshape for the axis "
         "semantics of the opset)", rank=same_rank)
def softmax(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = ctx.rank(x)
    if rank is None:
        raise ctx.fail("Softmax needs the input's rank")
    op = node.op_type
    if ctx.opset < 13:
        axis = norm_axis(int(node.attr("axis", 1)), rank)
        shape_ = ctx.op("Shape", [ctx.tensor(x)], out_type="int64")
        flat = ctx.op("Reshape", [ctx.tensor(x), ctx.op("ConcatV2", [[
            ctx.op("Prod", [ctx.op("StridedSlice", [shape_, np.array([0], np.int64),
                                                    np.array([axis], np.int64),
                                                    np.array([1], np.int64)]),
                            np.array([0], np.int32)], keep_dims=True),
            np.array([-1], np.int64)], np.array(0, np.int32)])])
        out = ctx.op(op, [flat])
        ctx.set(node.outputs[0], ctx.op("Reshape", [out, shape_]))
        return
    axis = norm_axis(int(node.attr("axis", -1)), rank)
    if axis == rank - 1:
        ctx.set(node.outputs[0], ctx.op(op, [ctx.tensor(x)]))
        return
    perm = list(range(rank))
    perm[axis], perm[-1] = perm[-1], perm[axis]
    moved = ctx.op("Transpose", [ctx.tensor(x), np.array(perm, np.int32)])
    out = ctx.op("Transpose", [ctx.op(op, [moved]), np.array(perm, np.int32)])
    ctx.set(node.outputs[0], out)


@handler("LayerNormalization", tf="Mean, Sub, Square, Rsqrt, Mul, AddV2", rank=same_rank)
def layer_norm(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = ctx.rank(x)
    if rank is None:
        raise ctx.fail("LayerNormalization needs the input's rank")
    if len([o for o in node.outputs if o]) > 1:
        raise ctx.fail("LayerNormalization Mean/InvStdDev outputs are not supported")
    axis = norm_axis(int(node.attr("axis", -1)), rank)
    axes = np.arange(axis, rank, dtype=np.int32)
    eps = np.array(float(node.attr("epsilon", 1e-5)), ctx.dtype(x))
    t = ctx.tensor(x)
    mean = ctx.op("Mean", [t, axes], keep_dims=True)
    # Sub + Square rather than SquaredDifference: TF's oneDNN grappler pass rewrites the
    # Keras-shaped pattern into a fused layer norm that loses ~1e-3 relative accuracy.
    centred = ctx.op("Sub", [t, mean])
    var = ctx.op("Mean", [ctx.op("Square", [centred]), axes], keep_dims=True)
    out = ctx.op("Mul", [centred, ctx.op("Rsqrt", [ctx.op("AddV2", [var, eps])])])
    out = ctx.op("Mul", [out, ctx.tensor(node.inputs[1])])
    if node.input(2):
        out = ctx.op("AddV2", [out, ctx.tensor(node.input(2))])
    ctx.set(node.outputs[0], out)
