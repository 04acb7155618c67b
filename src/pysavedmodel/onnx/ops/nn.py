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
    if shape is None or len(shape) != 4:
        raise ctx.fail(f"only 2-D (rank-4 NCHW) inputs are supported, {name!r} has shape {shape}")
    return shape[2:]


def _pad(ctx: Context, x: Any, pads: list[tuple[int, int]], value: float | None,
         dtype: Any) -> Any:
    if not any(a or b for a, b in pads):
        return x
    spec = np.array([(0, 0), *pads, (0, 0)], np.int64)
    if value is None:
        return ctx.op("Pad", [x, spec])
    return ctx.op("PadV2", [x, spec, np.array(value, dtype)])


@handler("Conv", tf="Conv2D / DepthwiseConv2dNative (NHWC, Pad for ONNX pads), BiasAdd; "
         "grouped: Split + Conv2D + ConcatV2")
def conv(ctx: Context, node: Node) -> None:
    x, wn = node.inputs[0], node.inputs[1]
    spatial = _spatial(ctx, x)
    w = ctx.array(wn)
    if w is None:
        raise ctx.fail(f"weights {wn!r} must be an initializer")
    out_ch, in_per_group, kh, kw = w.shape
    kernel = [int(a) for a in node.attr("kernel_shape", [kh, kw])]
    strides = [int(a) for a in node.attr("strides", [1, 1])]
    dil = [int(a) for a in node.attr("dilations", [1, 1])]
    group = int(node.attr("group", 1))
    check_geometry(node, kernel, strides, dil, group, (out_ch, in_per_group))
    if kernel != [kh, kw]:
        raise ModelError(f"{node.where()}: kernel_shape {kernel} does not match the weights' "
                         f"{[kh, kw]}")
    pads = _pads(ctx, node, spatial, kernel, strides, dil)
    dtype = ctx.dtype(x)
    inp = _pad(ctx, ctx.nhwc(x), pads, None, dtype)
    common = {"strides": [1, *strides, 1], "dilations": [1, *dil, 1], "padding": "VALID"}
    hwio = np.transpose(w, (2, 3, 1, 0))
    in_ch = in_per_group * group
    if group == 1:
        out = ctx.op("Conv2D", [inp, ctx.variable(wn, hwio)], **common)
    elif group == in_ch and in_per_group == 1:
        mult = out_ch // group
        filt = np.ascontiguousarray(hwio.reshape(kh, kw, group, mult))
        out = ctx.op("DepthwiseConv2dNative", [inp, ctx.variable(wn, filt)], **common)
    else:
        weight = ctx.variable(wn, hwio)
        parts = ctx.op("Split", [np.array(3, np.int32), inp], num_split=group).outputs
        wparts = ctx.op("Split", [np.array(3, np.int32), weight], num_split=group).outputs
        outs = [ctx.op("Conv2D", [p, q], **common) for p, q in zip(parts, wparts)]
        out = ctx.op("ConcatV2", [outs, np.array(3, np.int32)])
    if node.input(2):
        bias = ctx.array(node.input(2))
        b = ctx.variable(node.input(2), bias) if bias is not None and ctx.const(
            node.input(2)) is None else ctx.tensor(node.input(2))
        out = ctx.op("BiasAdd", [out, b], data_format="NHWC")
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


@handler("MaxPool", "AveragePool", tf="MaxPool / AvgPool (NHWC, VALID after an explicit "
         "PadV2; divisor corrected by Mul when padding is not counted)")
def pool(ctx: Context, node: Node) -> None:
    x = node.inputs[0]
    spatial = _spatial(ctx, x)
    kernel = [int(a) for a in node.attr("kernel_shape")]
    strides = [int(a) for a in node.attr("strides", [1] * len(kernel))]
    dil = [int(a) for a in node.attr("dilations", [1] * len(kernel))]
    check_geometry(node, kernel, strides, dil)
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
        extra, full = [0] * len(kernel), pads
    dtype = ctx.dtype(x)
    ksize, st = [1, *kernel, 1], [1, *strides, 1]
    if node.op_type == "MaxPool":
        inp = _pad(ctx, ctx.nhwc(x), full, float("-inf"), dtype)
        out = ctx.op("MaxPool", [inp], ksize=ksize, strides=st, padding="VALID")
        ctx.set(node.outputs[0], out, nhwc=True)
        return
    inp = _pad(ctx, ctx.nhwc(x), full, 0.0, dtype)
    out = ctx.op("AvgPool", [inp], ksize=ksize, strides=st, padding="VALID")
    include = bool(node.attr("count_include_pad", 0))
    if any(a or b for a, b in full):
        if any(d is None for d in spatial):
            raise ctx.fail("AveragePool with padding needs static spatial dims")
        scale = _avg_scale(spatial, kernel, strides, pads, extra, include)
        if not np.all(scale == 1):
            out = ctx.op("Mul", [out, scale.astype(dtype)[None, :, :, None]])
    ctx.set(node.outputs[0], out, nhwc=True)


def _avg_scale(spatial: list[int | None], kernel: list[int], strides: list[int],
               pads: list[tuple[int, int]], extra: list[int], include: bool) -> Any:
    """kernel area / divisor ONNX uses, per output position (2-D)."""
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
    return area / np.outer(axes[0], axes[1])


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


@handler("ConvTranspose", tf="Conv2DBackpropInput (NHWC, VALID), PadV2 for output_padding, "
         "StridedSlice for pads, BiasAdd")
def conv_transpose(ctx: Context, node: Node) -> None:
    """2-D, group 1, dilation 1: the full (VALID) transposed convolution, then ONNX's
    ``output_padding`` appended and ``pads`` cropped."""
    x, wn = node.inputs[0], node.inputs[1]
    spatial = _spatial(ctx, x)
    w = ctx.array(wn)
    if w is None:
        raise ctx.fail(f"weights {wn!r} must be an initializer")
    in_ch, out_ch, kh, kw = w.shape
    if int(node.attr("group", 1)) != 1:
        raise ctx.fail("grouped ConvTranspose is not supported")
    if any(int(d) != 1 for d in node.attr("dilations", [1, 1])):
        raise ctx.fail("dilated ConvTranspose is not supported")
    if node.attr("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or node.attrs.get(
            "output_shape") is not None:
        raise ctx.fail("ConvTranspose auto_pad SAME / output_shape are not supported")
    strides = [int(s) for s in node.attr("strides", [1, 1])]
    check_geometry(node, [int(k) for k in node.attr("kernel_shape", [kh, kw])], strides,
                   [1, 1])
    pads = [int(p) for p in node.attr("pads", [0, 0, 0, 0])]
    extra = [int(p) for p in node.attr("output_padding", [0, 0])]
    if len(extra) != 2 or any(not 0 <= e < s for e, s in zip(extra, strides)):
        raise ModelError(f"{node.where()}: output_padding {extra} must be 2 ints in "
                         f"[0, stride) for strides {strides}")
    inp = ctx.nhwc(x)
    dims = ctx.op("Shape", [inp], out_type="int32")
    full = []
    for i, (k, s) in enumerate(zip((kh, kw), strides), start=1):
        d = ctx.op("StridedSlice", [dims, np.array([i], np.int32), np.array([i + 1], np.int32),
                                    np.array([1], np.int32)])
        full.append(ctx.op("AddV2", [ctx.op("Mul", [ctx.op("Sub", [d, np.array([1], np.int32)]),
                                                    np.array([s], np.int32)]),
                                     np.array([k], np.int32)]))
    batch = ctx.op("StridedSlice", [dims, np.array([0], np.int32), np.array([1], np.int32),
                                    np.array([1], np.int32)])
    sizes = ctx.op("ConcatV2", [[batch, *full, np.array([out_ch], np.int32)],
                                np.array(0, np.int32)])
    # TF's filter for the backprop is [kh, kw, out_channels, in_channels] of the forward conv
    # whose input is our output: ONNX W [in, out, kh, kw] -> [kh, kw, out, in].
    filt = ctx.variable(wn, np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0))))
    out = ctx.op("Conv2DBackpropInput", [sizes, filt, inp], strides=[1, *strides, 1],
                 padding="VALID")
    if any(extra):
        out = ctx.op("Pad", [out, np.array([(0, 0), (0, extra[0]), (0, extra[1]), (0, 0)],
                                           np.int64)])
    if any(pads):
        begin = np.array([0, pads[0], pads[1], 0], np.int64)
        end = np.array([0, -pads[2], -pads[3], 0], np.int64)
        end_mask = 0b1001 | (0b0010 if pads[2] == 0 else 0) | (0b0100 if pads[3] == 0 else 0)
        out = ctx.op("StridedSlice", [out, begin, end, np.array([1, 1, 1, 1], np.int64)],
                     begin_mask=0b1001, end_mask=end_mask)
    if node.input(2):
        bias = ctx.array(node.input(2))
        b = ctx.variable(node.input(2), bias) if bias is not None and ctx.const(
            node.input(2)) is None else ctx.tensor(node.input(2))
        out = ctx.op("BiasAdd", [out, b], data_format="NHWC")
    del in_ch, spatial
    ctx.set(node.outputs[0], out, nhwc=True)
