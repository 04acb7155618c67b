"""Static shape inference for the common ops.

Shapes are tuples with ``None`` for unknown dimensions, or ``None`` for an
unknown rank.  Exact for ``Placeholder``, ``Const`` and variables; inferred
for elementwise ops (unary: the input's shape; binary: numpy broadcasting),
``MatMul``, ``BiasAdd``, ``Conv2D``, pooling, reductions, ``ArgMax``/``ArgMin``,
``ExpandDims``/``Squeeze``, ``Reshape``/``ConcatV2``/``Transpose``/``Fill``/
``Tile``/``GatherV2``/``OneHot``/``Slice``/``StridedSlice`` (constant operands
give exact dimensions, others at most the rank), ``Select``, ``StringJoin``,
the saver's ops and a few more; unknown for every other op.  Each rule follows
TF's own shape function: the result never claims more than TF infers when it
imports the node (the interop tests compare them), except where TF's Python API
sets the shape itself (``LookupTableFindV2`` on a scalar-valued table has its
keys' shape).  Shapes that cannot fit together (``MatMul`` of [2, 3] by
[4, 5]) raise :class:`OpError`, as TF's shape functions reject them when the
node is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from ..errors import OpError
from .attrs import Shape, shape_from_proto
from .opsig import NodeLike

__all__ = ["InputInfo", "infer", "broadcast_shapes", "SUPPORTED_OPS"]

Dim = Optional[int]


class InputInfo(NamedTuple):
    """What shape inference knows of one data input."""

    dtype: int | None
    shape: Shape
    value: Callable[[], np.ndarray | None] | None = None
    """Returns the constant value of the input (``Const`` sources), else None."""
    handle_shape: Shape = None
    """For a resource handle from ``VarHandleOp``: the variable's shape."""
    source_op: str | None = None
    """The op type of the node producing the input (None if unknown)."""

    def constant(self) -> np.ndarray | None:
        """The input's value if it is a constant, else None."""
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
    out: list[Dim] = []
    for x, y in zip(pa, pb):
        dim = _broadcast_dim(x, y)
        if dim == "conflict":
            raise OpError(f"{what}: shapes {list(a)} and {list(b)} cannot be broadcast "
                          f"(dimension {x} vs {y})")
        out.append(dim)  # type: ignore[arg-type]
    return tuple(out)


def _attr(node: NodeLike, name: str) -> Any:
    value = node.attr.get(name)
    if value is None:
        return None
    which = value.WhichOneof("value")
    if which == "list":
        lst = value.list
        return list(lst.i) or list(lst.s) or list(lst.f) or list(lst.type) or []
    return getattr(value, which) if which else None


def _where(node: NodeLike) -> str:
    return f"node {node.name!r} ({node.op})"


def _rank_check(shape: Shape, rank: int, node: NodeLike, arg: str) -> None:
    if shape is not None and len(shape) != rank:
        raise OpError(f"{_where(node)} input {arg!r} must have rank {rank}; "
                      f"got shape {list(shape)}")


def _format(node: NodeLike) -> str:
    fmt = _attr(node, "data_format")
    return fmt.decode() if isinstance(fmt, bytes) else "NHWC"


# ------------------------------------------------------------------ per-op functions

InferFn = Callable[[NodeLike, list[InputInfo]], list[Shape]]


def _same_as_first(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    return [inputs[0].shape if inputs else None]


def _each_input(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    return [i.shape for i in inputs]


def _placeholder(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    value = node.attr.get("shape")
    return [shape_from_proto(value.shape) if value is not None else None]


def _const(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    value = node.attr.get("value")
    return [shape_from_proto(value.tensor.tensor_shape) if value is not None else None]


def _scalar(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    return [()]


def _read_variable(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    return [inputs[0].handle_shape if inputs else None]


def _binary(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    shape = inputs[0].shape
    for other in inputs[1:]:
        shape = broadcast_shapes(shape, other.shape, _where(node))
    return [shape]


def _matmul(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
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


def _bias_add(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
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


def _conv2d(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
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


def _pool(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
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


def _reshape(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
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


def _concat(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
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
    out: list[Dim] = [None] * rank
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


def _transpose(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
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


def _shape_op(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    source = inputs[0].shape
    return [(None if source is None else len(source),)]


def _pack(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
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


def _merge_shapes(a: Shape, b: Shape, what: str) -> Shape:
    """The more precise of two shapes that must agree (TF's ``Merge``)."""
    if a is None:
        return b
    if b is None:
        return a
    if len(a) != len(b):
        raise OpError(f"{what}: shapes {list(a)} and {list(b)} must be equal")
    return tuple(_merge_dim(x, y, f"{what}: shapes {list(a)} and {list(b)}")
                 for x, y in zip(a, b))


def _merge_all(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    shape: Shape = None
    for info in inputs:
        shape = _merge_shapes(shape, info.shape, _where(node))
    return [shape]


def _select(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    # 'cond' is a scalar, a vector over the first dimension, or the shape of t/e; only in
    # the last case (and for scalar t/e) does it refine the output, as in TF.
    cond, then, other = (i.shape for i in inputs)
    out = _merge_shapes(then, other, f"{_where(node)} 't' and 'e'")
    if cond is None or out is None or len(cond) == 0:
        return [out]
    if len(cond) == 1 and len(out) > 0:
        _merge_dim(cond[0], out[0], f"{_where(node)} condition vs first dimension")
        return [out]
    return [_merge_shapes(out, cond, f"{_where(node)} condition")]


def _string_join(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    # Scalars broadcast; every other input of known rank must have the output's shape.
    if all(info.shape == () for info in inputs):
        return [()]
    out: Shape = None
    for info in inputs:
        if info.shape is not None and len(info.shape) > 0:
            out = _merge_shapes(out, info.shape, _where(node))
    return [out]


_SCALAR_VALUE_TABLES = frozenset({"HashTableV2", "MutableHashTableV2"})


def _lookup_find(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    # Known only when the handle comes straight from a table of scalar keys and values:
    # each key gives one value, so the output has the keys' shape.  TF's C++ inference
    # says so for MutableHashTableV2; for HashTableV2 TF's Python lookup sets that shape
    # (the TF-written fixture records it) while the C++ shape function leaves it unknown.
    if inputs[0].source_op not in _SCALAR_VALUE_TABLES:
        return [None]
    return [inputs[1].shape]


def _int_values(info: InputInfo) -> list[int] | None:
    """The constant integer values of an input, flattened (None if not constant)."""
    value = info.constant()
    if value is None:
        return None
    return [int(v) for v in np.asarray(value).reshape(-1)]


def _axis_in_range(axis: int, rank: int, node: NodeLike, what: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise OpError(f"{_where(node)}: {what} {axis} is out of range [{-rank}, {rank})")
    return axis % rank


def _reduction(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    source = inputs[0].shape
    axes = _int_values(inputs[1])
    keep = bool(_attr(node, "keep_dims"))
    if axes is None or source is None:
        return [(None,) * len(source) if keep and source is not None else None]
    reduced = {_axis_in_range(a, len(source), node, "reduction axis") for a in axes}
    out: list[Dim] = []
    for i, dim in enumerate(source):
        if i not in reduced:
            out.append(dim)
        elif keep:
            out.append(1)
    return [tuple(out)]


def _arg_reduce(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    source = inputs[0].shape
    axis = _int_values(inputs[1])
    if source is None:
        return [None]
    if axis is None or len(axis) != 1:
        return [(None,) * (len(source) - 1)] if source else [None]
    index = _axis_in_range(axis[0], len(source), node)
    return [tuple(d for i, d in enumerate(source) if i != index)]


def _expand_dims(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    source = inputs[0].shape
    dim = _int_values(inputs[1])
    if dim is not None and len(dim) != 1:
        raise OpError(f"{_where(node)}: 'dim' must hold a single value, got {dim}")
    if dim is None or source is None:
        return [None]
    index = _axis_in_range(dim[0], len(source) + 1, node, "dim")
    return [tuple(source[:index]) + (1,) + tuple(source[index:])]


def _squeeze(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    source = inputs[0].shape
    if source is None:
        return [None]
    listed = {_axis_in_range(int(a), len(source), node, "squeeze dim")
              for a in (_attr(node, "squeeze_dims") or [])}
    out: list[Dim] = []
    for i, dim in enumerate(source):
        if i in listed:
            if dim is not None and dim != 1:
                raise OpError(f"{_where(node)}: cannot squeeze dimension {i} of size {dim}")
            continue
        if not listed:
            if dim is None:
                return [None]  # might be 1 (squeezed) or not
            if dim == 1:
                continue
        out.append(dim)
    return [tuple(out)]


def _shape_from_values(values: Sequence[int]) -> Shape:
    return tuple(None if v < 0 else v for v in values)


def _fill(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    dims = _int_values(inputs[0])
    if dims is not None:
        return [_shape_from_values(dims)]
    spec = inputs[0].shape
    if spec is not None and len(spec) == 1 and spec[0] is not None:
        return [(None,) * spec[0]]
    return [None]


def _times(dim: Dim, multiple: Dim) -> Dim:
    # TF's dimension product: 0 and 1 are exact even against an unknown factor.
    for a, b in ((dim, multiple), (multiple, dim)):
        if a == 0:
            return 0
        if a == 1:
            return b
    return None if dim is None or multiple is None else dim * multiple


def _tile(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    source = inputs[0].shape
    multiples = _int_values(inputs[1])
    spec = inputs[1].shape
    rank = len(multiples) if multiples is not None else \
        (spec[0] if spec is not None and len(spec) == 1 else None)
    if rank is None:
        rank = len(source) if source is not None else None
    if rank is None:
        return [None]
    if source is not None and len(source) != rank:
        raise OpError(f"{_where(node)}: multiples has {rank} entries for input rank "
                      f"{len(source)}")
    dims = source if source is not None else (None,) * rank
    factors: Sequence[Dim] = multiples if multiples is not None else (None,) * rank
    return [tuple(_times(d, m) for d, m in zip(dims, factors))]


def _gather(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    params, indices = inputs[0].shape, inputs[1].shape
    axis = _int_values(inputs[2])
    batch_dims = int(_attr(node, "batch_dims") or 0)
    if params is None or indices is None:
        return [None]
    if batch_dims < 0:
        batch_dims += len(indices)
    if axis is None or len(axis) != 1:
        return [(None,) * (len(params) + len(indices) - 1 - batch_dims)]
    index = _axis_in_range(axis[0], len(params), node)
    return [tuple(params[:index]) + tuple(indices[batch_dims:]) + tuple(params[index + 1:])]


def _one_hot(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    indices = inputs[0].shape
    axis = int(_attr(node, "axis") if node.attr.get("axis") is not None else -1)
    if axis < -1:
        raise OpError(f"{_where(node)}: axis {axis} must be -1 or non-negative")
    if indices is None:
        return [None]
    depth_values = _int_values(inputs[1])
    depth: Dim = None
    if depth_values is not None and len(depth_values) == 1:
        depth = depth_values[0]
        if depth < 0:
            raise OpError(f"{_where(node)}: depth {depth} must be non-negative")
    position = len(indices) if axis == -1 else axis
    if position > len(indices):
        raise OpError(f"{_where(node)}: axis {axis} is out of range for indices of rank "
                      f"{len(indices)}")
    return [tuple(indices[:position]) + (depth,) + tuple(indices[position:])]


def _slice(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    source = inputs[0].shape
    begin, size = _int_values(inputs[1]), _int_values(inputs[2])
    if size is None:
        spec = inputs[2].shape
        if source is not None:
            return [(None,) * len(source)]
        if spec is not None and len(spec) == 1 and spec[0] is not None:
            return [(None,) * spec[0]]
        return [None]
    if source is not None and len(source) != len(size):
        raise OpError(f"{_where(node)}: size has {len(size)} entries for input rank "
                      f"{len(source)}")
    out: list[Dim] = []
    for i, length in enumerate(size):
        if length != -1:
            out.append(length)
        else:
            full = None if source is None else source[i]
            out.append(None if full is None or begin is None else full - begin[i])
    return [tuple(out)]


def _strided_slice(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    # Only the common case: constant begin/end/strides, no ellipsis or new axes.
    source = inputs[0].shape
    begin, end, strides = (_int_values(i) for i in inputs[1:4])
    if source is None or begin is None or end is None or strides is None:
        return [None]
    if _attr(node, "ellipsis_mask") or _attr(node, "new_axis_mask"):
        return [None]
    if not len(begin) == len(end) == len(strides) <= len(source):
        return [None]
    begin_mask = int(_attr(node, "begin_mask") or 0)
    end_mask = int(_attr(node, "end_mask") or 0)
    shrink_mask = int(_attr(node, "shrink_axis_mask") or 0)
    out: list[Dim] = []
    for i, dim in enumerate(source):
        if i >= len(begin):
            out.append(dim)
            continue
        stride = strides[i]
        if stride == 0:
            raise OpError(f"{_where(node)}: stride {i} is 0")
        if shrink_mask >> i & 1:
            if dim is not None and not -dim <= begin[i] < dim:
                raise OpError(f"{_where(node)}: index {begin[i]} is out of range for "
                              f"dimension {i} of size {dim}")
            continue
        if dim is None:
            out.append(None)
            continue
        start = None if begin_mask >> i & 1 else begin[i]
        stop = None if end_mask >> i & 1 else end[i]
        out.append(len(range(*slice(start, stop, stride).indices(dim))))
    return [tuple(out)]


def _parse_example_v2(node: NodeLike, inputs: list[InputInfo]) -> list[Shape]:
    serialized = inputs[0].shape
    num_sparse = int(_attr(node, "num_sparse") or 0)
    num_ragged = len(_attr(node, "ragged_value_types") or [])
    dense = node.attr["dense_shapes"].list.shape if "dense_shapes" in node.attr else []
    rank: Dim = None if serialized is None else len(serialized) + 1
    out: list[Shape] = []
    out += [(None, rank)] * num_sparse          # sparse indices
    out += [(None,)] * num_sparse               # sparse values
    out += [(rank,)] * num_sparse               # sparse dense_shape
    for proto in dense:                         # dense values: batch shape + feature shape
        feature = shape_from_proto(proto)
        out.append(None if serialized is None or feature is None
                   else tuple(serialized) + tuple(feature))
    out += [(None,)] * (2 * num_ragged)         # ragged values and row splits
    return out


_UNARY = """
Identity Snapshot StopGradient PreventGradient CheckNumerics Relu Relu6 Elu Selu Softplus
Softsign LeakyRelu Sigmoid Tanh Exp Expm1 Log Log1p Neg Abs Sqrt Rsqrt Square Sign Floor Ceil
Round Rint Reciprocal Inv Sin Cos Tan Erf Erfc IsNan IsInf IsFinite LogicalNot ZerosLike OnesLike
Softmax LogSoftmax Cast Invert Conj Digamma Lgamma StaticRegexFullMatch StringLength
StringUpper StringLower StringStrip StaticRegexReplace Acos Acosh Asin Asinh Atan Atanh
Sinh Cosh ClipByValue StringToHashBucketFast AsString StringToNumber
""".split()
_BINARY = """
Add AddV2 Sub Mul MulNoNan Div RealDiv DivNoNan FloorDiv FloorMod TruncateDiv TruncateMod Mod
Maximum Minimum Pow SquaredDifference Atan2 Xdivy Xlogy Xlog1py Equal NotEqual Less LessEqual
Greater GreaterEqual LogicalAnd LogicalOr BitwiseAnd BitwiseOr BitwiseXor LeftShift RightShift
SelectV2 ApproximateEqual
""".split()
_REDUCTIONS = "Sum Mean Max Min Prod All Any EuclideanNorm".split()

_TABLE: dict[str, InferFn] = {
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
    "Size": _scalar,
    "Rank": _scalar,
    "Pack": _pack,
    "AddN": _merge_all,
    "StringJoin": _string_join,
    "ArgMax": _arg_reduce,
    "ArgMin": _arg_reduce,
    "ExpandDims": _expand_dims,
    "Squeeze": _squeeze,
    "Fill": _fill,
    "Tile": _tile,
    "GatherV2": _gather,
    "OneHot": _one_hot,
    "Slice": _slice,
    "StridedSlice": _strided_slice,
    "ParseExampleV2": _parse_example_v2,
    "L2Loss": _scalar,
    "IdentityN": _each_input,
    "NoOp": lambda node, inputs: [],
}
_TABLE.update({name: _same_as_first for name in _UNARY})
_TABLE.update({name: _binary for name in _BINARY})
_TABLE.update({name: _reduction for name in _REDUCTIONS})

SUPPORTED_OPS = frozenset(_TABLE)
"""Ops whose output shapes are inferred (all others: unknown rank)."""


def infer(node: NodeLike, num_outputs: int, inputs: list[InputInfo]) -> list[Shape]:
    """Output shapes of ``node`` (one per output) from its inputs' shapes."""
    fn = _TABLE.get(node.op)
    if fn is None:
        return [None] * num_outputs
    shapes = fn(node, inputs)
    if len(shapes) != num_outputs:
        return [None] * num_outputs
    return shapes
