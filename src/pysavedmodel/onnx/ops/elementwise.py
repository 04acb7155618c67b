"""Elementwise ONNX ops (unary, binary with numpy broadcasting, comparisons, activations).

Layout: an op whose inputs are all channels-last (or scalars) keeps the result channels-last,
so activation/residual chains between convolutions need no transposes.
"""

from __future__ import annotations

import numpy as np

from ..context import Context
from ..ir import Node
from .registry import broadcast_rank, handler

_UNARY = {
    "Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp", "Log": "Log",
    "Sqrt": "Sqrt", "Neg": "Neg", "Abs": "Abs", "Erf": "Erf", "Floor": "Floor", "Ceil": "Ceil",
    "Reciprocal": "Reciprocal", "Sin": "Sin", "Cos": "Cos", "Softplus": "Softplus",
    "Not": "LogicalNot", "Identity": "Identity", "IsNaN": "IsNan", "Sign": "Sign",
    "Round": "Round",
}
_BINARY = {
    "Add": "AddV2", "Sub": "Sub", "Mul": "Mul", "Pow": "Pow", "Equal": "Equal",
    "Less": "Less", "Greater": "Greater", "LessOrEqual": "LessEqual",
    "GreaterOrEqual": "GreaterEqual", "And": "LogicalAnd", "Or": "LogicalOr",
    "Max": "Maximum", "Min": "Minimum", "Sum": "AddV2",
}


def _scalarish(ctx: Context, name: str) -> bool:
    shape = ctx.shape(name)
    return shape is not None and all(d == 1 for d in shape) and len(shape) <= 1


def operands(ctx: Context, names: list[str]) -> tuple[list[object], bool]:
    """Inputs for an elementwise op, channels-last when every non-scalar input already is."""
    live = [n for n in names if not _scalarish(ctx, n)]
    if live and all(ctx.is_nhwc(n) for n in live):
        return [ctx.nhwc(n) if n in live else _flat(ctx, n) for n in names], True
    return [ctx.tensor(n) for n in names], False


def _flat(ctx: Context, name: str) -> object:
    const = ctx.const(name)
    if const is not None:
        return const.reshape(())
    return ctx.tensor(name)


@handler(*_UNARY, tf="same-named TF unary op (Relu, Sigmoid, Erf, LogicalNot, IsNan, ...)",
         rank=broadcast_rank)
def unary(ctx: Context, node: Node) -> None:
    args, nhwc = operands(ctx, [node.inputs[0]])
    ctx.set(node.outputs[0], ctx.op(_UNARY[node.op_type], args), nhwc=nhwc)


@handler("Dropout", tf="Identity (inference)",
         rank=broadcast_rank)
def dropout(ctx: Context, node: Node) -> None:
    args, nhwc = operands(ctx, [node.inputs[0]])
    ctx.set(node.outputs[0], ctx.op("Identity", args), nhwc=nhwc)
    if len(node.outputs) > 1 and node.outputs[1]:
        ctx.set(node.outputs[1], ctx.op("OnesLike", [ctx.op("Cast", [ctx.tensor(node.inputs[0])],
                                                            DstT="bool")]))


@handler(*_BINARY, tf="AddV2, Sub, Mul, Pow, Maximum, Minimum, Equal, Less, Greater, ... "
         "(variadic Sum/Max/Min chained)",
         rank=broadcast_rank)
def binary(ctx: Context, node: Node) -> None:
    names = list(node.inputs)
    op = _BINARY[node.op_type]
    if node.op_type in ("Max", "Min", "Sum") and len(names) != 2:
        args, nhwc = operands(ctx, names)
        out = args[0]
        for arg in args[1:]:
            out = ctx.op(op, [out, arg])
        ctx.set(node.outputs[0], out, nhwc=nhwc)
        return
    args, nhwc = operands(ctx, names)
    ctx.set(node.outputs[0], ctx.op(op, args), nhwc=nhwc)


@handler("Div", tf="RealDiv (floats), TruncateDiv (integers: ONNX truncates)",
         rank=broadcast_rank)
def div(ctx: Context, node: Node) -> None:
    args, nhwc = operands(ctx, list(node.inputs))
    integer = np.issubdtype(ctx.dtype(node.inputs[0]), np.integer)
    ctx.set(node.outputs[0], ctx.op("TruncateDiv" if integer else "RealDiv", args), nhwc=nhwc)


@handler("Mod", tf="FloorMod (fmod=0, sign of divisor), TruncateMod (fmod=1)",
         rank=broadcast_rank)
def mod(ctx: Context, node: Node) -> None:
    args, nhwc = operands(ctx, list(node.inputs))
    op = "TruncateMod" if node.attr("fmod", 0) else "FloorMod"
    ctx.set(node.outputs[0], ctx.op(op, args), nhwc=nhwc)


@handler("Where", tf="SelectV2",
         rank=broadcast_rank)
def where(ctx: Context, node: Node) -> None:
    args, nhwc = operands(ctx, list(node.inputs))
    ctx.set(node.outputs[0], ctx.op("SelectV2", args), nhwc=nhwc)


def _scalar(ctx: Context, value: float, like: str) -> np.ndarray:
    return np.array(value, dtype=ctx.dtype(like))


@handler("LeakyRelu", tf="LeakyRelu",
         rank=broadcast_rank)
def leaky_relu(ctx: Context, node: Node) -> None:
    args, nhwc = operands(ctx, [node.inputs[0]])
    ctx.set(node.outputs[0], ctx.op("LeakyRelu", args, alpha=float(node.attr("alpha", 0.01))),
            nhwc=nhwc)


@handler("Elu", tf="Elu (alpha=1) or SelectV2/Exp arithmetic",
         rank=broadcast_rank)
def elu(ctx: Context, node: Node) -> None:
    (x,), nhwc = operands(ctx, [node.inputs[0]])
    alpha = float(node.attr("alpha", 1.0))
    out = ctx.op("Elu", [x])
    if alpha != 1.0:
        neg = ctx.op("Mul", [ctx.op("Minimum", [out, _scalar(ctx, 0, node.inputs[0])]),
                             _scalar(ctx, alpha, node.inputs[0])])
        out = ctx.op("AddV2", [ctx.op("Relu", [x]), neg])
    ctx.set(node.outputs[0], out, nhwc=nhwc)


@handler("Selu", tf="Selu arithmetic: gamma * (Relu(x) + alpha * (Exp(Minimum(x, 0)) - 1))",
         rank=broadcast_rank)
def selu(ctx: Context, node: Node) -> None:
    (x,), nhwc = operands(ctx, [node.inputs[0]])
    src = node.inputs[0]
    alpha = float(node.attr("alpha", 1.67326319217681884765625))
    gamma = float(node.attr("gamma", 1.05070102214813232421875))
    neg = ctx.op("Sub", [ctx.op("Exp", [ctx.op("Minimum", [x, _scalar(ctx, 0, src)])]),
                         _scalar(ctx, 1, src)])
    out = ctx.op("AddV2", [ctx.op("Relu", [x]), ctx.op("Mul", [neg, _scalar(ctx, alpha, src)])])
    ctx.set(node.outputs[0], ctx.op("Mul", [out, _scalar(ctx, gamma, src)]), nhwc=nhwc)


def _hard_sigmoid(ctx: Context, x: object, src: str, alpha: float, beta: float) -> object:
    lin = ctx.op("AddV2", [ctx.op("Mul", [x, _scalar(ctx, alpha, src)]), _scalar(ctx, beta, src)])
    return ctx.op("Minimum", [ctx.op("Relu", [lin]), _scalar(ctx, 1, src)])


@handler("HardSigmoid", tf="Mul, AddV2, Relu, Minimum",
         rank=broadcast_rank)
def hard_sigmoid(ctx: Context, node: Node) -> None:
    (x,), nhwc = operands(ctx, [node.inputs[0]])
    out = _hard_sigmoid(ctx, x, node.inputs[0], float(node.attr("alpha", 0.2)),
                        float(node.attr("beta", 0.5)))
    ctx.set(node.outputs[0], out, nhwc=nhwc)


@handler("HardSwish", tf="x * HardSigmoid(x, 1/6, 0.5)",
         rank=broadcast_rank)
def hard_swish(ctx: Context, node: Node) -> None:
    (x,), nhwc = operands(ctx, [node.inputs[0]])
    gate = _hard_sigmoid(ctx, x, node.inputs[0], 1 / 6, 0.5)
    ctx.set(node.outputs[0], ctx.op("Mul", [x, gate]), nhwc=nhwc)


@handler("PRelu", tf="Relu, Minimum, Mul, AddV2",
         rank=broadcast_rank)
def prelu(ctx: Context, node: Node) -> None:
    (x, slope), nhwc = operands(ctx, list(node.inputs))
    neg = ctx.op("Mul", [ctx.op("Minimum", [x, _scalar(ctx, 0, node.inputs[0])]), slope])
    ctx.set(node.outputs[0], ctx.op("AddV2", [ctx.op("Relu", [x]), neg]), nhwc=nhwc)


@handler("Gelu", tf="Erf (or Tanh) arithmetic",
         rank=broadcast_rank)
def gelu(ctx: Context, node: Node) -> None:
    (x,), nhwc = operands(ctx, [node.inputs[0]])
    src = node.inputs[0]
    if node.attr("approximate", "none") == "tanh":
        cube = ctx.op("Mul", [ctx.op("Mul", [x, x]), x])
        inner = ctx.op("Mul", [ctx.op("AddV2", [x, ctx.op("Mul", [cube, _scalar(ctx, 0.044715,
                                                                                src)])]),
                               _scalar(ctx, float(np.sqrt(2 / np.pi)), src)])
        gate = ctx.op("AddV2", [ctx.op("Tanh", [inner]), _scalar(ctx, 1, src)])
    else:
        gate = ctx.op("AddV2", [ctx.op("Erf", [ctx.op("Mul", [x, _scalar(
            ctx, float(1 / np.sqrt(2)), src)])]), _scalar(ctx, 1, src)])
    out = ctx.op("Mul", [ctx.op("Mul", [x, gate]), _scalar(ctx, 0.5, src)])
    ctx.set(node.outputs[0], out, nhwc=nhwc)


@handler("Clip", tf="Maximum, Minimum (min/max from attributes before opset 11, else inputs)",
         rank=broadcast_rank)
def clip(ctx: Context, node: Node) -> None:
    (x,), nhwc = operands(ctx, [node.inputs[0]])
    src = node.inputs[0]
    if ctx.opset < 11:
        lo: object = _scalar(ctx, float(node.attr("min", -3.4028234663852886e38)), src)
        hi: object = _scalar(ctx, float(node.attr("max", 3.4028234663852886e38)), src)
    else:
        lo = ctx.tensor(node.input(1)) if node.input(1) else None
        hi = ctx.tensor(node.input(2)) if node.input(2) else None
    out = x
    if lo is not None:
        out = ctx.op("Maximum", [out, lo])
    if hi is not None:
        out = ctx.op("Minimum", [out, hi])
    ctx.set(node.outputs[0], ctx.op("Identity", [out]) if out is x else out, nhwc=nhwc)
