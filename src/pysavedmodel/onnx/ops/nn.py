"""Convolutions, pools and batch normalisation, computed channels-last (NHWC).

TF's CPU Conv2D/pool kernels want NHWC, so the input is transposed once (cached per value) and
the result stays channels-last until a consumer needs the ONNX layout.  Conv weights are stored
in the checkpoint already laid out as TF wants (OIHW → HWIO; depthwise → HW·C·multiplier).
ONNX pads are explicit and may be asymmetric: they become an explicit ``Pad`` (``-inf`` for
MaxPool), never TF's ``SAME``.  ``ceil_mode`` adds end padding; AveragePool divisors are
corrected with a conversion-time count array when padding must not be counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ModelError
from ..context import Context
from ..ir import Node
from .registry import handler


def _pads(ctx: Context, node: Node, spatial: list[int | None], kernel: list[int],
          strides: list[int], dilations: list[int]) -> list[tuple[int, int]]:
    n = len(kernel)
    auto = node.attr("auto_pad", "NOTSET")
    if auto in ("NOTSET", None):
        pads = [int(p) for p in node.attr("pads", [0] * 2 * n)]
        return [(pads[i], pads[i + n]) for i in range(n)]
    if auto == "VALID":
        return [(0, 0)] * n
    out = []
    for dim, k, s, d in zip(spatial, kernel, strides, dilations):
        if dim is None:
            raise ctx.fail(f"auto_pad {auto} needs static spatial dims")
        total = max(0, (-(-dim // s) - 1) * s + (k - 1) * d + 1 - dim)
        small, big = total // 2, total - total // 2
        out.append((small, big) if auto == "SAME_UPPER" else (big, small))
    return out


def check_geometry(node: Node, kernel: list[int], strides: list[int], dilations: list[int],
                   group: int = 1, channels: tuple[int, int] | None = None) -> None:
    """Refuse (ModelError) kernel/stride/dilation/group/pads values ONNX does not allow:
    non-positive sizes, lists of the wrong length, negative pads, ``group`` not dividing
    ``channels`` (out, in).  ``kernel`` has one entry per spatial dim."""
    n = len(kernel)
    for label, values in (("kernel_shape", kernel), ("strides", strides),
                          ("dilations", dilations)):
        if len(values) != n or any(v < 1 for v in values):
            raise ModelError(f"{node.where()}: {label} {values} must be {n} positive ints")
    pads = node.attr("pads", None)
    if pads is not None and (len(pads) != 2 * n or any(int(p) < 0 for p in pads)):
        raise ModelError(f"{node.where()}: pads {list(pads)} must be {2 * n} ints >= 0")
    if group < 1 or (channels is not None and channels[0] % group):
        raise ModelError(f"{node.where()}: group {group} must be >= 1 and divide the "
                         f"{channels[0] if channels else '?'} output channels")


def _spatial(ctx: Context, name: str) -> list[int | None]:
    shape = ctx.shape(name)
    if shape is None or len(shape) not in (3, 4, 5):
        raise ctx.fail(f"only 1-D, 2-D and 3-D inputs (rank 3-5, channels first) are "
                       f"supported, {name!r} has shape {shape}")
    return shape[2:]


def _lift(ctx: Context, x: Any) -> Any:
    """A channels-last 1-D value [N, W, C] as a 2-D one [N, 1, W, C]."""
    return ctx.op("ExpandDims", [x, np.array(1, np.int32)])


def _drop(ctx: Context, x: Any) -> Any:
    return ctx.op("Squeeze", [x], squeeze_dims=[1])


_MAX_EXTENT = 1 << 16
"""Largest stride, dilation or dilated kernel extent accepted (TF shapes are int32; a
dilated kernel is materialised at conversion time)."""


def _bounded(node: Node, kernel: list[int], strides: list[int], dilations: list[int]) -> None:
    for label, values in (("strides", strides), ("dilations", dilations)):
        if any(v > _MAX_EXTENT for v in values):
            raise ModelError(f"{node.where()}: {label} {values} above {_MAX_EXTENT}")
    if any((k - 1) * d + 1 > _MAX_EXTENT for k, d in zip(kernel, dilations)):
        raise ModelError(f"{node.where()}: kernel {kernel} with dilations {dilations} spans "
                         f"more than {_MAX_EXTENT}")


def dilate(w: Any, dilations: list[int], first: int = 2) -> Any:
    """Kernel ``w`` with its spatial axes (from ``first``) dilated by inserting zeros: a
    convolution with it equals the dilated convolution with ``w`` (TF's 3-D and backprop
    kernels lack dilations on CPU)."""
    if all(d == 1 for d in dilations):
        return w
    shape = list(w.shape)
    index: list[Any] = [slice(None)] * w.ndim
    for i, d in enumerate(dilations):
        axis = first + i
        shape[axis] = (shape[axis] - 1) * d + 1
        index[axis] = slice(None, None, d)
    out = np.zeros(shape, w.dtype)
    out[tuple(index)] = w
    return out


def _pad(ctx: Context, x: Any, pads: list[tuple[int, int]], value: float | None,
         dtype: Any) -> Any:
    if not any(a or b for a, b in pads):
        return x
    # int32 paddings: grappler's remapper fuses Pad into Conv3D and reads them as int32
    # (int64 aborts the TF process).
    if any(not 0 <= v < 2**31 for pair in pads for v in pair):
        raise ModelError(f"{ctx.where()}: pads {[list(p) for p in pads]} out of range "
                         "(0 .. 2**31-1)")
    spec = np.array([(0, 0), *pads, (0, 0)], np.int32)
    if value is None:
        return ctx.op("Pad", [x, spec])
    return ctx.op("PadV2", [x, spec, np.array(value, dtype)])


@handler("Conv", tf="Conv2D / DepthwiseConv2dNative / Conv3D (channels-last, Pad for ONNX "
         "pads; 1-D as 2-D with ExpandDims/Squeeze; 3-D dilations as zero-dilated kernels), "
         "BiasAdd; grouped: Split + Conv + ConcatV2")
def conv(ctx: Context, node: Node) -> None:
    x, wn = node.inputs[0], node.inputs[1]
    spatial = _spatial(ctx, x)
    n = len(spatial)
    w = ctx.array(wn)
    if w is None:
        raise ctx.fail(f"weights {wn!r} must be an initializer")
    out_ch, in_per_group = w.shape[:2]
    kernel = [int(a) for a in node.attr("kernel_shape", list(w.shape[2:]))]
    strides = [int(a) for a in node.attr("strides", [1] * n)]
    dil = [int(a) for a in node.attr("dilations", [1] * n)]
    group = int(node.attr("group", 1))
    check_geometry(node, kernel, strides, dil, group, (out_ch, in_per_group))
    _bounded(node, kernel, strides, dil)
    if kernel != list(w.shape[2:]) or w.ndim != n + 2:
        raise ModelError(f"{node.where()}: kernel_shape {kernel} does not match the weights' "
                         f"{list(w.shape[2:])} for {n} spatial dims")
    pads = _pads(ctx, node, spatial, kernel, strides, dil)
    dtype = ctx.dtype(x)
    inp = _pad(ctx, ctx.nhwc(x), pads, None, dtype)
    if n == 1:  # run as 2-D over [N, 1, W, C]
        inp, w = _lift(ctx, inp), w[:, :, None, :]
        strides, dil = [1, *strides], [1, *dil]
    if n == 3:
        w = dilate(w, dil)
        dil = [1, 1, 1]
    common = {"strides": [1, *strides, 1], "dilations": [1, *dil, 1], "padding": "VALID"}
    conv_op = "Conv3D" if n == 3 else "Conv2D"
    axis = 4 if n == 3 else 3
    filt = np.transpose(w, (*range(2, w.ndim), 1, 0))  # O I k... -> k... I O
    in_ch = in_per_group * group
    if group == 1:
        out = ctx.op(conv_op, [inp, ctx.variable(wn, filt)], **common)
    elif n != 3 and group == in_ch and in_per_group == 1:
        kh, kw = filt.shape[:2]
        depth = np.ascontiguousarray(filt.reshape(kh, kw, group, out_ch // group))
        out = ctx.op("DepthwiseConv2dNative", [inp, ctx.variable(wn, depth)], **common)
    else:
        weight = ctx.variable(wn, np.ascontiguousarray(filt))
        parts = ctx.op("Split", [np.array(axis, np.int32), inp], num_split=group).outputs
        wparts = ctx.op("Split", [np.array(axis, np.int32), weight], num_split=group).outputs
        outs = [ctx.op(conv_op, [p, q], **common) for p, q in zip(parts, wparts)]
        out = ctx.op("ConcatV2", [outs, np.array(axis, np.int32)])
    if node.input(2):
        bias = ctx.array(node.input(2))
        b = ctx.variable(node.input(2), bias) if bias is not None and ctx.const(
            node.input(2)) is None else ctx.tensor(node.input(2))
        out = ctx.op("BiasAdd", [out, b], data_format="NHWC")
    if n == 1:
        out = _drop(ctx, out)
    ctx.set(node.outputs[0], out, nhwc=True)


def _ceil_extra(spatial: list[int | None], kernel: list[int], strides: list[int],
                pads: list[tuple[int, int]], dil: list[int]) -> list[int]:
    extra = []
    for dim, k, s, (a, b), d in zip(spatial, kernel, strides, pads, dil):
        assert dim is not None
        span = dim + a + b - ((k - 1) * d + 1)
        out_ceil = -(-span // s) + 1
        if (out_ceil - 1) * s >= dim + a:  # the last window must start inside the input
            out_ceil -= 1
        extra.append(max(0, (out_ceil - 1) * s + (k - 1) * d + 1 - (dim + a + b)))
    return extra


@handler("MaxPool", "AveragePool", tf="MaxPool / AvgPool / MaxPool3D / AvgPool3D "
         "(channels-last, VALID after an explicit PadV2; 1-D as 2-D; divisor corrected by Mul "
         "when padding is not counted)")
def pool(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    spatial = _spatial(ctx, x)
    kernel = [int(a) for a in node.attr("kernel_shape")]
    n = len(kernel)
    strides = [int(a) for a in node.attr("strides", [1] * n)]
    dil = [int(a) for a in node.attr("dilations", [1] * n)]
    check_geometry(node, kernel, strides, dil)
    _bounded(node, kernel, strides, dil)
    if n != len(spatial):
        raise ModelError(f"{node.where()}: kernel_shape {kernel} does not match the "
                         f"{len(spatial)} spatial dims of {x!r}")
    if any(d != 1 for d in dil):
        raise ctx.fail("pool dilations other than 1")
    if len(node.outputs) > 1 and node.outputs[1]:
        raise ctx.fail("MaxPool Indices output")
    pads = _pads(ctx, node, spatial, kernel, strides, dil)
    if node.attr("ceil_mode", 0):
        if any(d is None for d in spatial):
            raise ctx.fail("ceil_mode needs static spatial dims")
        extra = _ceil_extra(spatial, kernel, strides, pads, dil)
        full = [(a, b + e) for (a, b), e in zip(pads, extra)]
    else:
        extra, full = [0] * n, pads
    dtype = ctx.dtype(x)
    lifted = n == 1
    op_name = node.op_type.replace("AveragePool", "AvgPool") + ("3D" if n == 3 else "")
    pad_value = float("-inf") if node.op_type == "MaxPool" else 0.0
    inp = _pad(ctx, ctx.nhwc(x), full, pad_value, dtype)
    ksize, st = [1, *kernel, 1], [1, *strides, 1]
    if lifted:
        inp, ksize, st = _lift(ctx, inp), [1, 1, *kernel, 1], [1, 1, *strides, 1]
    out = ctx.op(op_name, [inp], ksize=ksize, strides=st, padding="VALID")
    if lifted:
        out = _drop(ctx, out)
    if node.op_type == "AveragePool" and any(a or b for a, b in full):
        if any(d is None for d in spatial):
            raise ctx.fail("AveragePool with padding needs static spatial dims")
        include = bool(node.attr("count_include_pad", 0))
        scale = _avg_scale(spatial, kernel, strides, pads, extra, include)
        if not np.all(scale == 1):
            out = ctx.op("Mul", [out, scale.astype(dtype)[None, ..., None]])
    ctx.set(node.outputs[0], out, nhwc=True)


def _avg_scale(spatial: list[int | None], kernel: list[int], strides: list[int],
               pads: list[tuple[int, int]], extra: list[int], include: bool) -> Any:
    """kernel area / divisor ONNX uses, per output position (any number of spatial axes)."""
    axes = []
    for dim, k, s, (a, b), e in zip(spatial, kernel, strides, pads, extra):
        assert dim is not None
        n_out = (dim + a + b + e - k) // s + 1
        counts = []
        for o in range(n_out):
            start = o * s - a
            lo, hi = (-a, dim + b) if include else (0, dim)
            counts.append(min(start + k, hi) - max(start, lo))
        axes.append(np.array(counts, np.float64))
    area = float(np.prod(kernel))
    divisors: Any = axes[0]
    for more in axes[1:]:
        divisors = np.multiply.outer(divisors, more)
    return area / divisors


@handler("GlobalAveragePool", "GlobalMaxPool", tf="Mean / Max over H, W (keep_dims)")
def global_pool(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = ctx.rank(x)
    if rank is None or rank < 3:
        raise ctx.fail("global pooling needs a rank >= 3 input")
    op = "Mean" if node.op_type == "GlobalAveragePool" else "Max"
    out = ctx.op(op, [ctx.nhwc(x), np.arange(1, rank - 1, dtype=np.int32)], keep_dims=True)
    ctx.set(node.outputs[0], out, nhwc=True)


@handler("BatchNormalization", tf="FusedBatchNormV3 (NHWC, inference) or Mul/AddV2")
def batch_norm(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    rank = ctx.rank(x)
    if len([o for o in node.outputs if o]) > 1:
        raise ctx.fail("BatchNormalization in training mode (running stat outputs)")
    eps = float(node.attr("epsilon", 1e-5))
    params = [ctx.tensor(n) for n in node.inputs[1:5]]
    if rank == 4 and all(ctx.dtype(n) == np.float32 for n in node.inputs[1:5]):
        out = ctx.op("FusedBatchNormV3", [ctx.nhwc(x), *params], epsilon=eps,
                     data_format="NHWC", is_training=False)
        ctx.set(node.outputs[0], out, nhwc=True)
        return
    if rank is None or rank < 2:
        raise ctx.fail("BatchNormalization needs an input of known rank >= 2")
    scale, bias, mean, var = params
    dtype = ctx.dtype(x)
    nhwc = rank >= 3
    t = ctx.nhwc(x) if nhwc else ctx.tensor(x)
    inv = ctx.op("Rsqrt", [ctx.op("AddV2", [var, np.array(eps, dtype)])])
    out = ctx.op("AddV2", [ctx.op("Mul", [ctx.op("Sub", [t, mean]), ctx.op("Mul", [inv, scale])]),
                           bias])
    ctx.set(node.outputs[0], out, nhwc=nhwc)


def _resize_sizes(ctx: Context, node: Node, spatial: list[int | None]
                  ) -> tuple[list[int], list[float]]:
    """Output H, W from the ``sizes`` input or the ``scales`` input (opset 11+; 10 has
    scales as input 1)."""
    scales_name = node.input(1) if ctx.opset < 11 else node.input(2)
    sizes_name = "" if ctx.opset < 11 else node.input(3)
    if sizes_name:
        sizes = ctx.array(sizes_name)
        if sizes is None:
            raise ctx.fail("Resize sizes must be known at conversion time")
        out = [int(s) for s in sizes.reshape(-1)[2:]]
        return out, [o / d for o, d in zip(out, spatial) if d]
    scales = ctx.array(scales_name) if scales_name else None
    if scales is None:
        raise ctx.fail("Resize scales must be known at conversion time")
    scales = scales.reshape(-1)
    if len(scales) != 4 or scales[0] != 1 or scales[1] != 1:
        raise ctx.fail(f"only spatial 2-D Resize is supported, scales {scales.tolist()}")
    if any(d is None for d in spatial):
        raise ctx.fail("Resize by scales needs static spatial dims")
    return ([int(np.floor(d * s)) for d, s in zip(spatial, scales[2:])],
            [float(s) for s in scales[2:]])


def _source_coords(mode: str, out: int, size: int, scale: float) -> Any:
    """ONNX coordinate_transformation_mode: input coordinate of each output pixel (``scale``
    is the given scale, or out/in when sizes were given)."""
    o = np.arange(out, dtype=np.float64)
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out > 1 else np.zeros(out)
    if mode == "align_corners":
        return o * (size - 1) / (out - 1) if out > 1 else np.zeros(out)
    if mode == "asymmetric":
        return o / scale
    raise ValueError(mode)


def _nearest(mode: str, coords: Any, size: int) -> Any:
    if mode == "round_prefer_floor":
        idx = np.where(coords - np.floor(coords) == 0.5, np.floor(coords), np.round(coords))
    elif mode == "round_prefer_ceil":
        idx = np.where(coords - np.floor(coords) == 0.5, np.ceil(coords), np.round(coords))
    elif mode == "floor":
        idx = np.floor(coords)
    elif mode == "ceil":
        idx = np.ceil(coords)
    else:
        raise ValueError(mode)
    return np.clip(idx, 0, size - 1).astype(np.int32)


@handler("Resize", "Upsample", tf="GatherV2 with conversion-time indices (nearest) or "
         "GatherV2 + weighted AddV2 (linear), per spatial axis, NHWC")
def resize(ctx: Context, node: Node) -> None:
    """Separable resize: exact ONNX coordinate and rounding modes, computed as index/weight
    tables at conversion time (needs static spatial input dims)."""
    x = node.inputs[0]
    spatial = _spatial(ctx, x)
    if any(d is None for d in spatial):
        raise ctx.fail("Resize needs static spatial input dims")
    if node.op_type == "Upsample":
        mode, coord, nearest = node.attr("mode", "nearest"), "asymmetric", "floor"
        scales = ctx.array(node.input(1)) if node.input(1) else np.array(node.attr("scales"))
        factors = [float(s) for s in np.asarray(scales).reshape(-1)[2:]]
        sizes = [int(np.floor(d * s)) for d, s in zip(spatial, factors)]  # type: ignore
    else:
        mode = node.attr("mode", "nearest")
        coord = node.attr("coordinate_transformation_mode", "half_pixel")
        nearest = node.attr("nearest_mode", "round_prefer_floor")
        if ctx.opset < 11:
            coord, nearest = "asymmetric", "floor"
        sizes, factors = _resize_sizes(ctx, node, spatial)
    if coord not in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"):
        raise ctx.fail(f"coordinate_transformation_mode {coord!r} is not supported")
    if mode not in ("nearest", "linear"):
        raise ctx.fail(f"Resize mode {mode!r} is not supported")
    if node.attrs.get("antialias") or node.attrs.get("axes") is not None:
        raise ctx.fail("Resize antialias/axes are not supported")
    dtype = ctx.dtype(x)
    out = ctx.nhwc(x)
    for axis, (size, new, factor) in enumerate(zip(spatial, sizes, factors), start=1):
        assert size is not None
        coords = _source_coords(coord, new, size, factor)
        if mode == "nearest":
            out = ctx.op("GatherV2", [out, _nearest(nearest, coords, size),
                                      np.array(axis, np.int32)])
            continue
        coords = np.clip(coords, 0, size - 1)
        lo = np.floor(coords).astype(np.int32)
        hi = np.minimum(lo + 1, size - 1).astype(np.int32)
        frac = (coords - lo).astype(dtype)
        shape = [1, 1, 1, 1]
        shape[axis] = new
        a = ctx.op("GatherV2", [out, lo, np.array(axis, np.int32)])
        b = ctx.op("GatherV2", [out, hi, np.array(axis, np.int32)])
        out = ctx.op("AddV2", [ctx.op("Mul", [a, (1 - frac).reshape(shape)]),
                               ctx.op("Mul", [b, frac.reshape(shape)])])
    ctx.set(node.outputs[0], out, nhwc=True)


def _transpose_pads(ctx: Context, node: Node, spatial: list[int | None], kernel: list[int],
                    strides: list[int], extra: list[int]) -> list[tuple[int, int]]:
    """ONNX ConvTranspose pads: given, or derived from ``output_shape`` / SAME auto_pad."""
    n = len(kernel)
    auto = node.attr("auto_pad", "NOTSET")
    shape_attr = node.attrs.get("output_shape")
    if shape_attr is None and auto in ("NOTSET", "VALID", None):
        pads = [int(p) for p in node.attr("pads", [0] * 2 * n)] if auto != "VALID" else [0] * 2 * n
        return [(pads[i], pads[i + n]) for i in range(n)]
    if any(d is None for d in spatial):
        raise ctx.fail("ConvTranspose output_shape / SAME auto_pad needs static spatial dims")
    dims = [int(d) for d in spatial]  # type: ignore[arg-type]
    target = ([int(v) for v in shape_attr][-n:] if shape_attr is not None
              else [d * s for d, s in zip(dims, strides)])
    out = []
    for d, k, s, e, t in zip(dims, kernel, strides, extra, target):
        total = s * (d - 1) + e + k - t
        if total < 0:
            raise ctx.fail(f"output_shape {target} is larger than the full transposed output")
        small, big = total // 2, total - total // 2
        out.append((small, big) if auto == "SAME_UPPER" else (big, small))
    return out


@handler("ConvTranspose", tf="Conv2DBackpropInput / Conv3DBackpropInputV2 (channels-last, "
         "VALID; 1-D as 2-D; dilations as zero-dilated kernels; groups: Split + ConcatV2), "
         "Pad for output_padding, StridedSlice for pads, BiasAdd")
def conv_transpose(ctx: Context, node: Node) -> None:
    """The full (VALID) transposed convolution, then ONNX's ``output_padding`` appended and
    ``pads`` cropped (pads may come from ``output_shape`` or SAME auto_pad)."""
    x, wn = node.inputs[0], node.inputs[1]
    spatial = _spatial(ctx, x)
    n = len(spatial)
    w = ctx.array(wn)
    if w is None:
        raise ctx.fail(f"weights {wn!r} must be an initializer")
    group = int(node.attr("group", 1))
    in_ch, out_per_group = int(w.shape[0]), int(w.shape[1])
    strides = [int(v) for v in node.attr("strides", [1] * n)]
    dil = [int(v) for v in node.attr("dilations", [1] * n)]
    extra = [int(v) for v in node.attr("output_padding", [0] * n)]
    check_geometry(node, [int(k) for k in node.attr("kernel_shape", list(w.shape[2:]))],
                   strides, dil, group)
    if in_ch % group:
        raise ModelError(f"{node.where()}: group {group} must divide the {in_ch} input "
                         "channels")
    if len(extra) != n or any(not 0 <= e < max(s_, d) for e, s_, d in zip(extra, strides, dil)):
        raise ModelError(f"{node.where()}: output_padding {extra} must be {n} ints in "
                         f"[0, max(stride, dilation)) for strides {strides}")
    _bounded(node, [int(k) for k in w.shape[2:]], strides, dil)
    w = dilate(w, dil)
    kernel = [int(k) for k in w.shape[2:]]
    pads = _transpose_pads(ctx, node, spatial, kernel, strides, extra)
    inp = ctx.nhwc(x)
    if n == 1:
        inp, w = _lift(ctx, inp), w[:, :, None, :]
        kernel, strides, extra, pads = [1, *kernel], [1, *strides], [0, *extra], [(0, 0), *pads]
    m = len(kernel)
    dims = ctx.op("Shape", [inp], out_type="int32")
    full = []
    for i, (k, s) in enumerate(zip(kernel, strides), start=1):
        d = ctx.op("StridedSlice", [dims, np.array([i], np.int32), np.array([i + 1], np.int32),
                                    np.array([1], np.int32)])
        full.append(ctx.op("AddV2", [ctx.op("Mul", [ctx.op("Sub", [d, np.array([1], np.int32)]),
                                                    np.array([s], np.int32)]),
                                     np.array([k], np.int32)]))
    batch = ctx.op("StridedSlice", [dims, np.array([0], np.int32), np.array([1], np.int32),
                                    np.array([1], np.int32)])
    sizes = ctx.op("ConcatV2", [[batch, *full, np.array([out_per_group], np.int32)],
                                np.array(0, np.int32)])
    # TF's filter for the backprop is [k..., out_channels, in_channels] of the forward conv
    # whose input is our output: ONNX W [in, out/group, k...] -> [k..., out/group, in].
    filt = np.ascontiguousarray(np.transpose(w, (*range(2, w.ndim), 1, 0)))
    op_name = "Conv3DBackpropInputV2" if m == 3 else "Conv2DBackpropInput"
    attrs = {"strides": [1, *strides, 1], "padding": "VALID"}
    channel_axis = m + 1
    if group == 1:
        out = ctx.op(op_name, [sizes, ctx.variable(wn, filt), inp], **attrs)
    else:
        weight = ctx.variable(wn, filt)
        parts = ctx.op("Split", [np.array(channel_axis, np.int32), inp],
                       num_split=group).outputs
        wparts = ctx.op("Split", [np.array(channel_axis, np.int32), weight],
                        num_split=group).outputs
        outs = [ctx.op(op_name, [sizes, q, p], **attrs) for p, q in zip(parts, wparts)]
        out = ctx.op("ConcatV2", [outs, np.array(channel_axis, np.int32)])
    if any(extra):
        out = ctx.op("Pad", [out, np.array([(0, 0), *[(0, e) for e in extra], (0, 0)],
                                           np.int64)])
    if any(a or b for a, b in pads):
        begin = np.array([0, *[a for a, _ in pads], 0], np.int64)
        end = np.array([0, *[-b for _, b in pads], 0], np.int64)
        end_mask = 1 | (1 << (m + 1))
        for i, (_, after) in enumerate(pads, start=1):
            if after == 0:
                end_mask |= 1 << i
        out = ctx.op("StridedSlice", [out, begin, end, np.ones(m + 2, np.int64)],
                     begin_mask=1 | (1 << (m + 1)), end_mask=end_mask)
    if node.input(2):
        bias = ctx.array(node.input(2))
        b = ctx.variable(node.input(2), bias) if bias is not None and ctx.const(
            node.input(2)) is None else ctx.tensor(node.input(2))
        out = ctx.op("BiasAdd", [out, b], data_format="NHWC")
    if n == 1:
        out = _drop(ctx, out)
    del in_ch
    ctx.set(node.outputs[0], out, nhwc=True)
