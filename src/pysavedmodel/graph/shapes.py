"""Static shape inference for the common ops.

Shapes are tuples with ``None`` for unknown dimensions, or ``None`` for an
unknown rank.  Exact for ``Placeholder``, ``Const`` and variables; inferred
for elementwise ops (numpy broadcasting), ``MatMul``, ``BiasAdd``,
``Conv2D``, pooling, ``Reshape``/``ConcatV2``/``Transpose`` with constant
operands and a few more; unknown for every other op.  Shapes that cannot
fit together (``MatMul`` of [2, 3] by [4, 5]) raise :class:`OpError`, as TF's
own shape functions reject them when the node is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..errors import OpError
from .._proto import node_def_pb2
from .attrs import Shape, shape_from_proto

__all__ = ["InputInfo", "infer", "broadcast_shapes", "SUPPORTED_OPS"]

Dim = Optional[int]


@dataclass
class InputInfo:
    """What shape inference knows of one data input."""

    dtype: Optional[int]
    shape: Shape
    value: Optional[Callable[[], Optional[np.ndarray]]] = None
    """Returns the constant value of the input (``Const`` sources), else None."""
    handle_shape: Shape = None
    """For a resource handle from ``VarHandleOp``: the variable's shape."""

    def constant(self) -> Optional[np.ndarray]:
        return self.value() if self.value is not None else None


# ------------------------------------------------------------------ dim helpers


def _merge_dim(a: Dim, b: Dim, what: str) -> Dim:
    if a is None:
        return b
    if b is None or a == b:
        return a
    raise OpError(f"{what}: dimensions {a} and {b} must be equal")


def _broadcast_dim(a: Dim, b: Dim) -> Dim | str:
    if a == 1:
        return b
    if b == 1:
        return a
    if a is None:
        return b  # b is known and not 1: the result is b (or the op fails at run time)
    if b is None or a == b:
        return a
    return "conflict"


def broadcast_shapes(a: Shape, b: Shape, what: str = "broadcast") -> Shape:
    """numpy-style broadcasting of two static shapes (None: unknown)."""
    if a is None or b is None:
        return None
    rank = max(len(a), len(b))
    pa = (1,) * (rank - len(a)) + tuple(a)
    pb = (1,) * (rank - len(b)) + tuple(b)
    out: List[Dim] = []
    for x, y in zip(pa, pb):
        dim = _broadcast_dim(x, y)
        if dim == "conflict":
            raise OpError(f"{what}: shapes {list(a)} and {list(b)} cannot be broadcast "
                          f"(dimension {x} vs {y})")
        out.append(dim)  # type: ignore[arg-type]
    return tuple(out)


def _attr(node: node_def_pb2.NodeDef, name: str) -> Any:
    value = node.attr.get(name)
    if value is None:
        return None
    which = value.WhichOneof("value")
    if which == "list":
        lst = value.list
        return list(lst.i) or list(lst.s) or list(lst.f) or list(lst.type) or []
    return getattr(value, which) if which else None


def _where(node: node_def_pb2.NodeDef) -> str:
    return f"node {node.name!r} ({node.op})"


def _rank_check(shape: Shape, rank: int, node: node_def_pb2.NodeDef, arg: str) -> None:
    if shape is not None and len(shape) != rank:
        raise OpError(f"{_where(node)} input {arg!r} must have rank {rank}; "
                      f"got shape {list(shape)}")


def _format(node: node_def_pb2.NodeDef) -> str:
    fmt = _attr(node, "data_format")
    return fmt.decode() if isinstance(fmt, bytes) else "NHWC"


# ------------------------------------------------------------------ per-op functions

InferFn = Callable[[node_def_pb2.NodeDef, List[InputInfo]], List[Shape]]


def _same_as_first(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    return [inputs[0].shape if inputs else None]


def _each_input(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    return [i.shape for i in inputs]


def _placeholder(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    value = node.attr.get("shape")
    return [shape_from_proto(value.shape) if value is not None else None]


def _const(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    value = node.attr.get("value")
    return [shape_from_proto(value.tensor.tensor_shape) if value is not None else None]


def _scalar(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    return [()]


def _read_variable(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    return [inputs[0].handle_shape if inputs else None]


def _binary(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    shape = inputs[0].shape
    for other in inputs[1:]:
        shape = broadcast_shapes(shape, other.shape, _where(node))
    return [shape]


def _matmul(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    a, b = inputs[0].shape, inputs[1].shape
    _rank_check(a, 2, node, "a")
    _rank_check(b, 2, node, "b")
    a2 = (None, None) if a is None else tuple(a)
    b2 = (None, None) if b is None else tuple(b)
    if _attr(node, "transpose_a"):
        a2 = a2[::-1]
    if _attr(node, "transpose_b"):
        b2 = b2[::-1]
    _merge_dim(a2[1], b2[0], f"{_where(node)} inner dimensions of a {list(a2)} and b {list(b2)}")
    return [(a2[0], b2[1])]


def _bias_add(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    value, bias = inputs[0].shape, inputs[1].shape
    _rank_check(bias, 1, node, "bias")
    if value is None:
        return [None]
    if len(value) < 2:
        raise OpError(f"{_where(node)} input 'value' must have rank >= 2; got {list(value)}")
    channel = 1 if _format(node).startswith("NC") else len(value) - 1
    out = list(value)
    if bias is not None:
        out[channel] = _merge_dim(value[channel], bias[0],
                                  f"{_where(node)} bias size vs channel dimension")
    return [tuple(out)]


def _spatial_out(size: Dim, window: int, stride: int, dilation: int, padding: str,
                 pads: Sequence[int] = (0, 0)) -> Dim:
    if size is None:
        return None
    effective = (window - 1) * dilation + 1
    if padding == "SAME":
        return -(-size // stride)
    if padding == "EXPLICIT":
        size = size + pads[0] + pads[1]
    if size < effective:
        raise OpError(f"window of {effective} is larger than the padded input size {size}")
    return (size - effective) // stride + 1


def _nhwc_dims(shape: Sequence[Dim], fmt: str) -> tuple[Dim, Dim, Dim, Dim]:
    if fmt == "NCHW":
        return shape[0], shape[2], shape[3], shape[1]
    return shape[0], shape[1], shape[2], shape[3]


def _from_nhwc(n: Dim, h: Dim, w: Dim, c: Dim, fmt: str) -> Shape:
    return (n, c, h, w) if fmt == "NCHW" else (n, h, w, c)


def _hw(values: Any, fmt: str, default: int = 1) -> tuple[int, int]:
    values = list(values or [])
    if len(values) != 4:
        return default, default
    return (values[2], values[3]) if fmt == "NCHW" else (values[1], values[2])


def _conv2d(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    image, kernel = inputs[0].shape, inputs[1].shape
    _rank_check(image, 4, node, "input")
    _rank_check(kernel, 4, node, "filter")
    fmt = _format(node)
    padding = (_attr(node, "padding") or b"").decode()
    sh, sw = _hw(_attr(node, "strides"), fmt)
    dh, dw = _hw(_attr(node, "dilations"), fmt)
    n, h, w, c = _nhwc_dims(image, fmt) if image is not None else (None,) * 4
    kh, kw, kin, kout = tuple(kernel) if kernel is not None else (None,) * 4
    if c is not None and kin is not None and c % kin != 0:
        raise OpError(f"{_where(node)}: input depth {c} is not a multiple of the filter's "
                      f"input depth {kin}")
    explicit = list(_attr(node, "explicit_paddings") or [])
    pad_h: Sequence[int] = (0, 0)
    pad_w: Sequence[int] = (0, 0)
    if padding == "EXPLICIT" and len(explicit) == 8:
        spatial = [2, 3] if fmt == "NCHW" else [1, 2]
        pad_h = explicit[2 * spatial[0]: 2 * spatial[0] + 2]
        pad_w = explicit[2 * spatial[1]: 2 * spatial[1] + 2]
    try:
        # SAME output sizes do not depend on the window: known even for an unknown filter
        oh = None if kh is None and padding != "SAME" else \
            _spatial_out(h, kh or 1, sh, dh, padding, pad_h)
        ow = None if kw is None and padding != "SAME" else \
            _spatial_out(w, kw or 1, sw, dw, padding, pad_w)
    except OpError as exc:
        raise OpError(f"{_where(node)}: {exc}") from None
    return [_from_nhwc(n, oh, ow, kout, fmt)]


def _pool(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    image = inputs[0].shape
    _rank_check(image, 4, node, "input")
    if image is None:
        return [None]
    fmt = _format(node)
    padding = (_attr(node, "padding") or b"").decode()
    kh, kw = _hw(_attr(node, "ksize"), fmt)
    sh, sw = _hw(_attr(node, "strides"), fmt)
    n, h, w, c = _nhwc_dims(image, fmt)
    try:
        oh = _spatial_out(h, kh, sh, 1, padding)
        ow = _spatial_out(w, kw, sw, 1, padding)
    except OpError as exc:
        raise OpError(f"{_where(node)}: {exc}") from None
    return [_from_nhwc(n, oh, ow, c, fmt)]


def _reshape(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    source = inputs[0].shape
    target = inputs[1].constant()
    if target is None:
        spec = inputs[1].shape
        if spec is not None and len(spec) == 1 and spec[0] is not None:
            return [(None,) * spec[0]]
        return [None]
    dims = [int(d) for d in np.asarray(target).reshape(-1)]
    if sum(1 for d in dims if d == -1) > 1:
        raise OpError(f"{_where(node)}: shape {dims} has more than one -1")
    if any(d < -1 for d in dims):
        raise OpError(f"{_where(node)}: bad dimension in shape {dims}")
    known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
    total = None
    if source is not None and all(d is not None for d in source):
        total = int(np.prod([int(d) for d in source if d is not None], dtype=np.int64))
    source_dims = list(source) if source is not None else None
    if -1 in dims:
        if total is None:
            return [tuple(None if d == -1 else d for d in dims)]
        if known == 0 or total % known:
            raise OpError(f"{_where(node)}: cannot reshape {total} elements "
                          f"(shape {source_dims}) into {dims}")
        return [tuple(total // known if d == -1 else d for d in dims)]
    if total is not None and total != known:
        raise OpError(f"{_where(node)}: cannot reshape {total} elements (shape {source_dims}) "
                      f"into {dims} ({known} elements)")
    return [tuple(dims)]


def _concat(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    values, axis_info = inputs[:-1], inputs[-1]
    axis_value = axis_info.constant()
    shapes = [v.shape for v in values]
    ranks = {len(s) for s in shapes if s is not None}
    if len(ranks) > 1:
        raise OpError(f"{_where(node)}: inputs have different ranks {sorted(ranks)}")
    if not ranks:
        return [None]
    rank = ranks.pop()
    if axis_value is None:
        return [(None,) * rank]
    axis = int(np.asarray(axis_value).reshape(-1)[0])
    if not -rank <= axis < rank:
        raise OpError(f"{_where(node)}: axis {axis} is out of range for rank {rank}")
    axis %= rank
    out: List[Dim] = [None] * rank
    total: Dim = 0
    for shape in shapes:
        if shape is None:
            total = None
            continue
        for i, dim in enumerate(shape):
            if i == axis:
                total = None if total is None or dim is None else total + dim
            else:
                out[i] = _merge_dim(out[i], dim, f"{_where(node)} dimension {i}")
    out[axis] = total
    return [tuple(out)]


def _transpose(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    source = inputs[0].shape
    perm = inputs[1].constant()
    if perm is None:
        return [None if source is None else (None,) * len(source)]
    order = [int(p) for p in np.asarray(perm).reshape(-1)]
    if sorted(order) != list(range(len(order))):
        raise OpError(f"{_where(node)}: perm {order} is not a permutation")
    if source is None:
        return [(None,) * len(order)]
    if len(order) != len(source):
        raise OpError(f"{_where(node)}: perm {order} does not match rank {len(source)}")
    return [tuple(source[p] for p in order)]


def _shape_op(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    source = inputs[0].shape
    return [(None if source is None else len(source),)]


def _pack(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    shape: Shape = None
    for info in inputs:
        if info.shape is None:
            continue
        if shape is None:
            shape = info.shape
        elif len(shape) != len(info.shape):
            raise OpError(f"{_where(node)}: inputs have different ranks")
        else:
            shape = tuple(_merge_dim(a, b, _where(node)) for a, b in zip(shape, info.shape))
    if shape is None:
        return [None]
    axis = int(_attr(node, "axis") or 0)
    rank = len(shape) + 1
    if not -rank <= axis < rank:
        raise OpError(f"{_where(node)}: axis {axis} is out of range for rank {rank}")
    axis %= rank
    out = list(shape)
    out.insert(axis, len(inputs))
    return [tuple(out)]


def _select(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    cond, then, other = (i.shape for i in inputs)
    if then is None or other is None:
        out = then if other is None else other
    elif len(then) != len(other):
        raise OpError(f"{_where(node)}: 't' {list(then)} and 'e' {list(other)} differ in rank")
    else:
        out = tuple(_merge_dim(a, b, _where(node)) for a, b in zip(then, other))
    if out is not None and cond is not None and len(cond) == len(out):
        out = tuple(_merge_dim(a, b, f"{_where(node)} condition") for a, b in zip(out, cond))
    return [out]


def _lookup_find(node: node_def_pb2.NodeDef, inputs: List[InputInfo]) -> List[Shape]:
    keys, default = inputs[1].shape, inputs[2].shape
    return [keys if default == () else None]


_UNARY = """
Identity Snapshot StopGradient PreventGradient CheckNumerics Relu Relu6 Elu Selu Softplus
Softsign LeakyRelu Sigmoid Tanh Exp Expm1 Log Log1p Neg Abs Sqrt Rsqrt Square Sign Floor Ceil
Round Rint Reciprocal Inv Sin Cos Tan Erf Erfc IsNan IsInf IsFinite LogicalNot ZerosLike OnesLike
Softmax LogSoftmax Cast Invert Conj Digamma Lgamma StaticRegexFullMatch StringLength
StringUpper StringLower StringStrip StaticRegexReplace
""".split()
_BINARY = """
Add AddV2 Sub Mul MulNoNan Div RealDiv DivNoNan FloorDiv FloorMod TruncateDiv TruncateMod Mod
Maximum Minimum Pow SquaredDifference Atan2 Xdivy Xlogy Xlog1py Equal NotEqual Less LessEqual
Greater GreaterEqual LogicalAnd LogicalOr BitwiseAnd BitwiseOr BitwiseXor LeftShift RightShift
SelectV2 ApproximateEqual StringJoin
""".split()

_TABLE: Dict[str, InferFn] = {
    "Placeholder": _placeholder,
    "PlaceholderWithDefault": _placeholder,
    "Const": _const,
    "VarHandleOp": _scalar,
    "VarIsInitializedOp": _scalar,
    "HashTableV2": _scalar,
    "ShardedFilename": _scalar,
    "Select": _select,
    "LookupTableFindV2": _lookup_find,
    "ReadVariableOp": _read_variable,
    "MatMul": _matmul,
    "BiasAdd": _bias_add,
    "Conv2D": _conv2d,
    "MaxPool": _pool,
    "AvgPool": _pool,
    "Reshape": _reshape,
    "ConcatV2": _concat,
    "Transpose": _transpose,
    "Shape": _shape_op,
    "Pack": _pack,
    "IdentityN": _each_input,
    "NoOp": lambda node, inputs: [],
}
_TABLE.update({name: _same_as_first for name in _UNARY})
_TABLE.update({name: _binary for name in _BINARY})

SUPPORTED_OPS = frozenset(_TABLE)
"""Ops whose output shapes are inferred (all others: unknown rank)."""


def infer(node: node_def_pb2.NodeDef, num_outputs: int, inputs: List[InputInfo]) -> List[Shape]:
    """Output shapes of ``node`` (one per output) from its inputs' shapes."""
    fn = _TABLE.get(node.op)
    if fn is None:
        return [None] * num_outputs
    shapes = fn(node, inputs)
    if len(shapes) != num_outputs:
        return [None] * num_outputs
    return shapes
