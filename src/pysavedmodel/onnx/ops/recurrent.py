"""ONNX LSTM and GRU (forward, reverse, bidirectional; stacked layers are separate nodes).

ONNX gate order is i, o, f, c for LSTM and z, r, h for GRU; W is [dirs, G*H, input], R
[dirs, G*H, H], B [dirs, 2*G*H] (input biases, then recurrence biases).  Per direction the
weights are stored as checkpoint variables already transposed for ``MatMul`` (W^T, R^T); the
input projection of every step is one batched matmul outside the recurrence.

A static sequence length is unrolled (one step's ops per time step).  A dynamic one becomes a
functional ``While`` loop (a library function for the condition and one for the body, see
docs/format/functions.md): loop variables are the step counter, the length, the state (H, and
C for LSTM), a ``TensorList`` collecting every step's H, and the loop-invariant projection and
weights (functions cannot capture outer tensors).  Reverse directions run the same loop over
the time-reversed projection (``ReverseV2``) and reverse the collected outputs back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...graph.function import Function
from ..context import Context
from ..ir import Node
from .registry import handler

Op = Callable[..., Any]


def _check(ctx: Context, node: Node) -> tuple[int | None, int, list[str]]:
    if node.attr("layout", 0):
        raise ctx.fail("layout=1 (batch-major) is not supported")
    if node.input(4):
        raise ctx.fail("sequence_lens is not supported (only full-length sequences)")
    if node.op_type == "LSTM" and node.input(7):
        raise ctx.fail("peephole weights P are not supported")
    if node.attrs.get("clip") is not None:
        raise ctx.fail("clip is not supported")
    acts = [a.decode() if isinstance(a, bytes) else a for a in node.attr("activations", [])]
    default = ["Sigmoid", "Tanh", "Tanh"] if node.op_type == "LSTM" else ["Sigmoid", "Tanh"]
    if acts and [a.lower() for a in acts] != [a.lower() for a in default] * (len(acts) //
                                                                            len(default)):
        raise ctx.fail(f"activations {acts} are not supported (only the defaults)")
    shape = ctx.shape(node.inputs[0])
    if shape is None or len(shape) != 3:
        raise ctx.fail(f"input {node.inputs[0]!r} must have rank 3 (seq, batch, input)")
    hidden = int(node.attr("hidden_size"))
    direction = node.attr("direction", "forward")
    dirs = ["forward", "reverse"] if direction == "bidirectional" else [direction]
    for name in node.inputs[1:3]:
        if ctx.array(name) is None:
            raise ctx.fail(f"weights {name!r} must be initializers")
    if node.input(3) and ctx.array(node.input(3)) is None:
        raise ctx.fail(f"bias {node.input(3)!r} must be an initializer")
    return (None if shape[0] is None else int(shape[0])), hidden, dirs


def _initial(ctx: Context, node: Node, index: int, d: int, x: Any, hidden: int,
             dtype: Any) -> Any:
    if node.input(index):
        return ctx.op("GatherV2", [ctx.tensor(node.input(index)), np.array(d, np.int32),
                                   np.array(0, np.int32)])
    batch = ctx.op("StridedSlice", [ctx.op("Shape", [x], out_type="int32"),
                                    np.array([1], np.int32), np.array([2], np.int32),
                                    np.array([1], np.int32)])
    dims = ctx.op("ConcatV2", [[batch, np.array([hidden], np.int32)], np.array(0, np.int32)])
    return ctx.op("Fill", [dims, np.array(0, dtype)])


def _lstm_step(op: Op, xt: Any, h: Any, c: Any, weights: list[Any]) -> tuple[Any, Any]:
    rt, bias = weights
    z = op("AddV2", [op("AddV2", [xt, op("MatMul", [h, rt])]), bias])
    i, o, f, g = op("Split", [np.array(1, np.int32), z], num_split=4).outputs
    c = op("AddV2", [op("Mul", [op("Sigmoid", [f]), c]),
                     op("Mul", [op("Sigmoid", [i]), op("Tanh", [g])])])
    h = op("Mul", [op("Sigmoid", [o]), op("Tanh", [c])])
    return h, c


def _gru_step(op: Op, xt: Any, h: Any, weights: list[Any], lbr: bool) -> Any:
    r_zr, b_zr, r_h, wb_h, rb_h = weights
    xz, xr, xh = op("Split", [np.array(1, np.int32), xt], num_split=3).outputs
    hzr = op("AddV2", [op("MatMul", [h, r_zr]), b_zr])
    hz, hr = op("Split", [np.array(1, np.int32), hzr], num_split=2).outputs
    zg = op("Sigmoid", [op("AddV2", [xz, hz])])
    rg = op("Sigmoid", [op("AddV2", [xr, hr])])
    if lbr:
        rec = op("Mul", [rg, op("AddV2", [op("MatMul", [h, r_h]), rb_h])])
    else:
        rec = op("AddV2", [op("MatMul", [op("Mul", [rg, h]), r_h]), rb_h])
    cand = op("Tanh", [op("AddV2", [op("AddV2", [xh, wb_h]), rec])])
    # H = (1 - z) * cand + z * H  ==  cand + z * (H - cand)
    return op("AddV2", [cand, op("Mul", [zg, op("Sub", [h, cand])])])


def _weights(ctx: Context, node: Node, d: int, direction: str, gates: int, hidden: int,
             dtype: Any, b_all: Any) -> list[Any]:
    r_all = ctx.array(node.inputs[2])
    assert r_all is not None
    rt_np = np.ascontiguousarray(r_all[d].T)
    wb, rb = b_all[d, :gates * hidden], b_all[d, gates * hidden:]
    bname = node.input(3) or "B"
    if gates == 4:
        return [ctx.variable(f"{node.inputs[2]}_{direction}", rt_np),
                ctx.variable(f"{bname}_{direction}", (wb + rb).astype(dtype))]
    return [ctx.variable(f"{node.inputs[2]}_{direction}_zr",
                         np.ascontiguousarray(rt_np[:, :2 * hidden])),
            ctx.variable(f"{bname}_{direction}_zr",
                         (wb[:2 * hidden] + rb[:2 * hidden]).astype(dtype)),
            ctx.variable(f"{node.inputs[2]}_{direction}_h",
                         np.ascontiguousarray(rt_np[:, 2 * hidden:])),
            ctx.variable(f"{bname}_{direction}_wh", wb[2 * hidden:].astype(dtype)),
            ctx.variable(f"{bname}_{direction}_rh", rb[2 * hidden:].astype(dtype))]


def _unrolled(ctx: Context, proj: Any, seq: int, h: Any, c: Any, weights: list[Any],
              reverse: bool, lbr: bool) -> tuple[Any, Any, Any]:
    steps = ctx.op("Unpack", [proj], num=seq, axis=0).outputs
    outs: dict[int, Any] = {}
    for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
        if c is not None:
            h, c = _lstm_step(ctx.op, steps[t], h, c, weights)
        else:
            h = _gru_step(ctx.op, steps[t], h, weights, lbr)
        outs[t] = h
    return ctx.op("Pack", [[outs[t] for t in range(seq)]], axis=0), h, c


def _looped(ctx: Context, node: Node, direction: str, proj: Any, h: Any, c: Any,
            weights: list[Any], hidden: int, dtype: Any, lbr: bool) -> tuple[Any, Any, Any]:
    """The recurrence as a functional While over a run-time sequence length."""
    reverse = direction == "reverse"
    if reverse:
        proj = ctx.op("ReverseV2", [proj, np.array([0], np.int32)])
    n = ctx.op("StridedSlice", [ctx.op("Shape", [proj], out_type="int32"),
                                np.array([0], np.int32), np.array([1], np.int32),
                                np.array([1], np.int32)], shrink_axis_mask=1)
    element = np.array([-1, hidden], np.int32)
    acc = ctx.op("TensorListReserve", [element, n], element_dtype=dtype.name)
    base = ctx.init_name(node.name).replace("/", "_").replace(".", "_").strip("_") or "rnn"
    stem = ctx.graph.unique_name(f"{base}_{direction}_loop")
    width = int(proj.shape[-1]) if proj.shape is not None and proj.shape[-1] else None
    lstm = c is not None

    def signature(fn: Function) -> list[Any]:
        args = [fn.arg("t", "int32", []), fn.arg("n", "int32", []),
                fn.arg("h", dtype.name, [None, hidden])]
        if lstm:
            args.append(fn.arg("c", dtype.name, [None, hidden]))
        args.append(fn.arg("acc", "variant", []))
        args.append(fn.arg("proj", dtype.name, [None, None, width]))
        for k, w in enumerate(weights):
            args.append(fn.arg(f"w{k}", dtype.name, w.shape))
        return args

    cond = Function(f"{stem}_cond")
    t, n_arg, *_ = signature(cond)
    cond.ret("keep", cond.graph.op("Less", [t, n_arg]))

    body = Function(f"{stem}_body")
    args = signature(body)
    g = body.graph
    t, n_arg, h_arg = args[:3]
    c_arg = args[3] if lstm else None
    acc_arg, proj_arg = args[3 + lstm], args[4 + lstm]
    w_args = args[5 + lstm:]
    xt = g.op("GatherV2", [proj_arg, t, np.array(0, np.int32)])
    if lstm:
        h_new, c_new = _lstm_step(g.op, xt, h_arg, c_arg, w_args)
    else:
        h_new, c_new = _gru_step(g.op, xt, h_arg, w_args, lbr), None
    rets = [("t", g.op("AddV2", [t, np.array(1, np.int32)])), ("n", g.op("Identity", [n_arg])),
            ("h", h_new)]
    if lstm:
        rets.append(("c", c_new))
    rets.append(("acc", g.op("TensorListSetItem", [acc_arg, t, h_new],
                             element_dtype=dtype.name)))
    rets.append(("proj", g.op("Identity", [proj_arg])))
    rets += [(f"w{k}", g.op("Identity", [w])) for k, w in enumerate(w_args)]
    for name, tensor in rets:
        body.ret(name, tensor)

    init = [np.array(0, np.int32), n, h] + ([c] if lstm else []) + [acc, proj, *weights]
    loop = ctx.op("While", [init], cond=cond, body=body, parallel_iterations=1)
    outs = loop.outputs
    h_out = outs[2]
    c_out = outs[3] if lstm else None
    ys = ctx.op("TensorListStack", [outs[3 + lstm], element], element_dtype=dtype.name,
                num_elements=-1)
    if reverse:
        ys = ctx.op("ReverseV2", [ys, np.array([0], np.int32)])
    return ys, h_out, c_out


def _run(ctx: Context, node: Node, gates: int) -> None:
    seq, hidden, dirs = _check(ctx, node)
    x = ctx.tensor(node.inputs[0])
    dtype = ctx.dtype(node.inputs[0])
    w_all = ctx.array(node.inputs[1])
    assert w_all is not None
    b_all = ctx.array(node.input(3)) if node.input(3) else np.zeros(
        (len(dirs), 2 * gates * hidden), dtype)
    assert b_all is not None
    lbr = bool(node.attr("linear_before_reset", 0))
    ys, hs, cs = [], [], []
    for d, direction in enumerate(dirs):
        wt = ctx.variable(f"{node.inputs[1]}_{direction}", np.ascontiguousarray(w_all[d].T))
        proj = ctx.op("BatchMatMulV2", [x, wt])  # [seq, batch, G*H]
        h = _initial(ctx, node, 5, d, x, hidden, dtype)
        c = _initial(ctx, node, 6, d, x, hidden, dtype) if gates == 4 else None
        weights = _weights(ctx, node, d, direction, gates, hidden, dtype, b_all)
        if seq is not None:
            y, h, c = _unrolled(ctx, proj, seq, h, c, weights, direction == "reverse", lbr)
        else:
            y, h, c = _looped(ctx, node, direction, proj, h, c, weights, hidden, dtype, lbr)
        ys.append(y)
        hs.append(h)
        cs.append(c)
    if node.outputs and node.outputs[0]:
        ctx.set(node.outputs[0], ctx.op("Pack", [ys], axis=1))
    if len(node.outputs) > 1 and node.outputs[1]:
        ctx.set(node.outputs[1], ctx.op("Pack", [hs], axis=0))
    if len(node.outputs) > 2 and node.outputs[2]:
        ctx.set(node.outputs[2], ctx.op("Pack", [cs], axis=0))


_TF = ("static length: unrolled BatchMatMulV2, MatMul, Split, Sigmoid, Tanh, Mul, AddV2, Pack; "
       "dynamic length: While (cond/body functions) with TensorListReserve/SetItem/Stack, "
       "ReverseV2 for reverse directions")


@handler("LSTM", tf=_TF)
def lstm(ctx: Context, node: Node) -> None:
    _run(ctx, node, 4)


@handler("GRU", tf=_TF)
def gru(ctx: Context, node: Node) -> None:
    _run(ctx, node, 3)
