"""ONNX LSTM and GRU, unrolled over a static sequence length (forward, reverse, bidirectional).

ONNX gate order is i, o, f, c for LSTM and z, r, h for GRU; W is [dirs, G*H, input], R
[dirs, G*H, H], B [dirs, 2*G*H] (input biases, then recurrence biases).  Per direction the
weights are stored as checkpoint variables already transposed for ``MatMul`` (W^T, R^T); the
input projection of every step is one batched matmul, then each step adds ``H @ R^T``.  A
dynamic sequence length (which would need a While loop) is an UnsupportedError.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..context import Context
from ..ir import Node
from .registry import handler


def _check(ctx: Context, node: Node, gates: int) -> tuple[int, int, list[str]]:
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
    if shape is None or shape[0] is None:
        raise ctx.fail("a dynamic sequence length needs a While loop, which is not supported "
                       "yet; give a static length with input_shapes")
    hidden = int(node.attr("hidden_size"))
    direction = node.attr("direction", "forward")
    dirs = ["forward", "reverse"] if direction == "bidirectional" else [direction]
    for name in node.inputs[1:3]:
        if ctx.array(name) is None:
            raise ctx.fail(f"weights {name!r} must be initializers")
    if node.input(3) and ctx.array(node.input(3)) is None:
        raise ctx.fail(f"bias {node.input(3)!r} must be an initializer")
    return int(shape[0]), hidden, dirs


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


def _run(ctx: Context, node: Node, gates: int) -> None:
    seq, hidden, dirs = _check(ctx, node, gates)
    x = ctx.tensor(node.inputs[0])
    dtype = ctx.dtype(node.inputs[0])
    w_all, r_all = ctx.array(node.inputs[1]), ctx.array(node.inputs[2])
    assert w_all is not None and r_all is not None
    b_all = ctx.array(node.input(3)) if node.input(3) else np.zeros(
        (len(dirs), 2 * gates * hidden), dtype)
    assert b_all is not None
    lbr = bool(node.attr("linear_before_reset", 0))
    ys, hs, cs = [], [], []
    for d, direction in enumerate(dirs):
        wt = ctx.variable(f"{node.inputs[1]}_{direction}", np.ascontiguousarray(w_all[d].T))
        rt_np = np.ascontiguousarray(r_all[d].T)
        wb, rb = b_all[d, :gates * hidden], b_all[d, gates * hidden:]
        proj = ctx.op("BatchMatMulV2", [x, wt])  # [seq, batch, G*H]
        steps = ctx.op("Unpack", [proj], num=seq, axis=0).outputs
        h = _initial(ctx, node, 5, d, x, hidden, dtype)
        c = _initial(ctx, node, 6, d, x, hidden, dtype) if gates == 4 else None
        order = range(seq - 1, -1, -1) if direction == "reverse" else range(seq)
        outs: dict[int, Any] = {}
        if gates == 4:
            rt = ctx.variable(f"{node.inputs[2]}_{direction}", rt_np)
            bias = ctx.variable(f"{node.input(3) or 'B'}_{direction}", (wb + rb).astype(dtype))
            for t in order:
                z = ctx.op("AddV2", [ctx.op("AddV2", [steps[t], ctx.op("MatMul", [h, rt])]),
                                     bias])
                i, o, f, g = ctx.op("Split", [np.array(1, np.int32), z], num_split=4).outputs
                c = ctx.op("AddV2", [ctx.op("Mul", [ctx.op("Sigmoid", [f]), c]),
                                     ctx.op("Mul", [ctx.op("Sigmoid", [i]),
                                                    ctx.op("Tanh", [g])])])
                h = ctx.op("Mul", [ctx.op("Sigmoid", [o]), ctx.op("Tanh", [c])])
                outs[t] = h
            cs.append(c)
        else:
            r_zr = ctx.variable(f"{node.inputs[2]}_{direction}_zr",
                                np.ascontiguousarray(rt_np[:, :2 * hidden]))
            r_h = ctx.variable(f"{node.inputs[2]}_{direction}_h",
                               np.ascontiguousarray(rt_np[:, 2 * hidden:]))
            b_zr = ctx.variable(f"{node.input(3) or 'B'}_{direction}_zr",
                                (wb[:2 * hidden] + rb[:2 * hidden]).astype(dtype))
            wb_h = ctx.variable(f"{node.input(3) or 'B'}_{direction}_wh",
                                wb[2 * hidden:].astype(dtype))
            rb_h = ctx.variable(f"{node.input(3) or 'B'}_{direction}_rh",
                                rb[2 * hidden:].astype(dtype))
            for t in order:
                xz, xr, xh = ctx.op("Split", [np.array(1, np.int32), steps[t]],
                                    num_split=3).outputs
                hzr = ctx.op("AddV2", [ctx.op("MatMul", [h, r_zr]), b_zr])
                hz, hr = ctx.op("Split", [np.array(1, np.int32), hzr], num_split=2).outputs
                zg = ctx.op("Sigmoid", [ctx.op("AddV2", [xz, hz])])
                rg = ctx.op("Sigmoid", [ctx.op("AddV2", [xr, hr])])
                if lbr:
                    rec = ctx.op("Mul", [rg, ctx.op("AddV2", [ctx.op("MatMul", [h, r_h]),
                                                              rb_h])])
                else:
                    rec = ctx.op("AddV2", [ctx.op("MatMul", [ctx.op("Mul", [rg, h]), r_h]),
                                           rb_h])
                cand = ctx.op("Tanh", [ctx.op("AddV2", [ctx.op("AddV2", [xh, wb_h]), rec])])
                # H = (1 - z) * cand + z * H  ==  cand + z * (H - cand)
                h = ctx.op("AddV2", [cand, ctx.op("Mul", [zg, ctx.op("Sub", [h, cand])])])
                outs[t] = h
        ys.append(ctx.op("Pack", [[outs[t] for t in range(seq)]], axis=0))
        hs.append(h)
    if node.outputs and node.outputs[0]:
        ctx.set(node.outputs[0], ctx.op("Pack", [ys], axis=1))
    if len(node.outputs) > 1 and node.outputs[1]:
        ctx.set(node.outputs[1], ctx.op("Pack", [hs], axis=0))
    if len(node.outputs) > 2 and node.outputs[2]:
        ctx.set(node.outputs[2], ctx.op("Pack", [cs], axis=0))


@handler("LSTM", tf="unrolled: BatchMatMulV2, MatMul, Split, Sigmoid, Tanh, Mul, AddV2, Pack")
def lstm(ctx: Context, node: Node) -> None:
    _run(ctx, node, 4)


@handler("GRU", tf="unrolled: BatchMatMulV2, MatMul, Split, Sigmoid, Tanh, Mul, AddV2, Pack")
def gru(ctx: Context, node: Node) -> None:
    _run(ctx, node, 3)
