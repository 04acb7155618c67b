"""ONNX LSTM and GRU (forward, reverse, bidirectional; stacked layers are separate nodes).

ONNX gate order is i, o, f, c for LSTM and z, r, h for GRU; W is [dirs, G*H, input], R
[dirs, G*H, H], B [dirs, 2*G*H] (input biases, then recurrence biases).  Per direction the
weights are stored as checkpoint variables already transposed for ``MatMul`` (W^T, R^T); the
input projection of every step is one batched matmul outside the recurrence.

A static sequence length up to :data:`UNROLL_LIMIT` is unrolled (one step's ops per time
step).  A longer or dynamic one becomes a functional ``While`` loop (a library function for
the condition and one for the body, see docs/format/functions.md): loop variables are the
step counter, the length, the state (H, and C for LSTM), a ``TensorList`` collecting every
step's H, and the loop-invariant projection and weights (functions cannot capture outer
tensors).  Reverse directions run the same loop over
the time-reversed projection (``ReverseV2``) and reverse the collected outputs back.

``sequence_lens``: a batch entry past its length keeps its state and outputs zeros
(``SelectV2`` on ``t < len``); reverse directions use ``ReverseSequence`` on the valid prefix
instead of ``ReverseV2``.  Peepholes (``P``) and ``clip`` are applied as ONNX defines them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import ModelError
from ...graph.function import Function
from ..context import Context
from ..ir import Node
from .registry import handler

Op = Callable[..., Any]

UNROLL_LIMIT = 64
"""Static sequence lengths up to this are unrolled; longer ones use the While loop too."""


def _check(ctx: Context, node: Node) -> tuple[int | None, int, list[str]]:
    layout = node.attr("layout", 0)
    if layout not in (0, 1):
        raise ModelError(f"{node.where()}: layout {layout} is not 0 or 1")
    if node.op_type == "LSTM" and node.input(7) and ctx.array(node.input(7)) is None:
        raise ctx.fail(f"peephole weights {node.input(7)!r} must be an initializer")
    clip = node.attrs.get("clip")
    if clip is not None and not float(clip) > 0:
        raise ModelError(f"{node.where()}: clip {clip} must be positive")
    _activations(ctx, node, 2 if node.attr("direction", "forward") == "bidirectional" else 1)
    shape = ctx.shape(node.inputs[0])
    if layout and shape is not None and len(shape) == 3:  # batch-major: [batch, seq, input]
        shape = [shape[1], shape[0], shape[2]]
    if shape is None or len(shape) != 3:
        raise ctx.fail(f"input {node.inputs[0]!r} must have rank 3 (seq, batch, input)")
    direction = node.attr("direction", "forward")
    if direction not in ("forward", "reverse", "bidirectional"):
        raise ModelError(f"{node.where()}: direction {direction!r} is not forward, reverse "
                         "or bidirectional")
    dirs = ["forward", "reverse"] if direction == "bidirectional" else [direction]
    for name in node.inputs[1:3]:
        if ctx.array(name) is None:
            raise ctx.fail(f"weights {name!r} must be initializers")
    if node.input(3) and ctx.array(node.input(3)) is None:
        raise ctx.fail(f"bias {node.input(3)!r} must be an initializer")
    gates = 4 if node.op_type == "LSTM" else 3
    r = ctx.array(node.inputs[2])
    assert r is not None
    hidden = int(node.attr("hidden_size", r.shape[-1] if r.ndim == 3 else 0))
    expected: dict[str, tuple[int | None, ...]] = {
        node.inputs[1]: (len(dirs), gates * hidden, shape[2]),
        node.inputs[2]: (len(dirs), gates * hidden, hidden)}
    if node.input(3):
        expected[node.input(3)] = (len(dirs), 2 * gates * hidden)
    if gates == 4 and node.input(7):
        expected[node.input(7)] = (len(dirs), 3 * hidden)
    for name, want in expected.items():
        have = ctx.array(name)
        assert have is not None
        if hidden < 1 or len(have.shape) != len(want) or any(
                d is not None and d != h for d, h in zip(want, have.shape)):
            raise ModelError(f"{node.where()}: {name!r} has shape {list(have.shape)}; "
                             f"expected {list(want)} for hidden_size {hidden} and direction "
                             f"{direction!r}")
    return (None if shape[0] is None else int(shape[0])), hidden, dirs


def _initial(ctx: Context, node: Node, index: int, d: int, x: Any, hidden: int,
             dtype: Any) -> Any:
    if node.input(index):
        # [dirs, batch, H] (layout 0) or [batch, dirs, H] (layout 1)
        return ctx.op("GatherV2", [ctx.tensor(node.input(index)), np.array(d, np.int32),
                                   np.array(int(node.attr("layout", 0)), np.int32)])
    batch = ctx.op("StridedSlice", [ctx.op("Shape", [x], out_type="int32"),
                                    np.array([1], np.int32), np.array([2], np.int32),
                                    np.array([1], np.int32)])
    dims = ctx.op("ConcatV2", [[batch, np.array([hidden], np.int32)], np.array(0, np.int32)])
    return ctx.op("Fill", [dims, np.array(0, dtype)])


_ACTIVATIONS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "softsign": "Softsign",
                "softplus": "Softplus"}
"""The parameter-free ONNX RNN activation functions and the TF op of each."""


def _activations(ctx: Context, node: Node, dirs: int) -> list[list[str]]:
    """Per direction, the TF op of each activation (f, g[, h])."""
    default = ["Sigmoid", "Tanh", "Tanh"] if node.op_type == "LSTM" else ["Sigmoid", "Tanh"]
    acts = [a.decode(errors="replace") if isinstance(a, bytes) else str(a)
            for a in node.attr("activations", [])]
    if not acts:
        return [default] * dirs
    if len(acts) != len(default) * dirs:
        raise ModelError(f"{node.where()}: {len(acts)} activations; expected "
                         f"{len(default) * dirs}")
    if node.attrs.get("activation_alpha") or node.attrs.get("activation_beta"):
        raise ctx.fail("activation_alpha/activation_beta are not supported")
    unknown = [a for a in acts if a.lower() not in _ACTIVATIONS]
    if unknown:
        raise ctx.fail(f"activations {unknown} are not supported (supported: "
                       f"{sorted(_ACTIVATIONS.values())})")
    ops = [_ACTIVATIONS[a.lower()] for a in acts]
    n = len(default)
    return [ops[d * n:(d + 1) * n] for d in range(dirs)]


@dataclass
class Cell:
    """Per-node options of the step computation."""

    lbr: bool = False
    """GRU linear_before_reset."""
    clip: float | None = None
    """Clip activation inputs to [-clip, clip]."""
    dtype: Any = np.float32
    acts: tuple[str, ...] = ("Sigmoid", "Tanh", "Tanh")
    """TF ops of the activations f, g, h (GRU: f, g)."""

    def pre(self, op: Op, t: Any) -> Any:
        """An activation's input, clipped when the node asks for it."""
        if self.clip is None:
            return t
        bound = np.array(self.clip, self.dtype)
        return op("Minimum", [op("Maximum", [t, np.negative(bound)]), bound])


def _lstm_step(op: Op, xt: Any, h: Any, c: Any, weights: list[Any],
               cell: Cell) -> tuple[Any, Any]:
    rt, bias, *peep = weights
    z = op("AddV2", [op("AddV2", [xt, op("MatMul", [h, rt])]), bias])
    i, o, f, g = op("Split", [np.array(1, np.int32), z], num_split=4).outputs
    if peep:  # peepholes P = [Pi, Po, Pf]: input and forget gates see C(t-1), output C(t)
        p_i, p_o, p_f = peep
        i = op("AddV2", [i, op("Mul", [c, p_i])])
        f = op("AddV2", [f, op("Mul", [c, p_f])])
    act_f, act_g, act_h = cell.acts
    c = op("AddV2", [op("Mul", [op(act_f, [cell.pre(op, f)]), c]),
                     op("Mul", [op(act_f, [cell.pre(op, i)]),
                                op(act_g, [cell.pre(op, g)])])])
    if peep:
        o = op("AddV2", [o, op("Mul", [c, peep[1]])])
    h = op("Mul", [op(act_f, [cell.pre(op, o)]), op(act_h, [c])])
    return h, c


def _gru_step(op: Op, xt: Any, h: Any, weights: list[Any], cell: Cell) -> Any:
    r_zr, b_zr, r_h, wb_h, rb_h = weights
    xz, xr, xh = op("Split", [np.array(1, np.int32), xt], num_split=3).outputs
    hzr = op("AddV2", [op("MatMul", [h, r_zr]), b_zr])
    hz, hr = op("Split", [np.array(1, np.int32), hzr], num_split=2).outputs
    act_f, act_g = cell.acts[:2]
    zg = op(act_f, [cell.pre(op, op("AddV2", [xz, hz]))])
    rg = op(act_f, [cell.pre(op, op("AddV2", [xr, hr]))])
    if cell.lbr:
        rec = op("Mul", [rg, op("AddV2", [op("MatMul", [h, r_h]), rb_h])])
    else:
        rec = op("AddV2", [op("MatMul", [op("Mul", [rg, h]), r_h]), rb_h])
    cand = op(act_g, [cell.pre(op, op("AddV2", [op("AddV2", [xh, wb_h]), rec]))])
    # H = (1 - z) * cand + z * H  ==  cand + z * (H - cand)
    return op("AddV2", [cand, op("Mul", [zg, op("Sub", [h, cand])])])


def _weights(ctx: Context, node: Node, d: int, direction: str, gates: int, hidden: int,
             dtype: Any, b_all: Any) -> list[Any]:
    r_all = ctx.array(node.inputs[2])
    assert r_all is not None
    rt_np = np.ascontiguousarray(r_all[d].T)
    wb, rb = b_all[d, :gates * hidden], b_all[d, gates * hidden:]
    with np.errstate(all="ignore"):  # non-finite biases stay non-finite, silently, as in ONNX
        combined = (wb + rb).astype(dtype)
    bname = node.input(3) or "B"
    if gates == 4:
        out = [ctx.variable(f"{node.inputs[2]}_{direction}", rt_np),
               ctx.variable(f"{bname}_{direction}", combined)]
        peep = ctx.array(node.input(7)) if node.input(7) else None
        if peep is not None:
            out += [ctx.variable(f"{node.input(7)}_{direction}_{gate}",
                                 np.ascontiguousarray(peep[d, k * hidden:(k + 1) * hidden]))
                    for k, gate in enumerate("iof")]
        return out
    return [ctx.variable(f"{node.inputs[2]}_{direction}_zr",
                         np.ascontiguousarray(rt_np[:, :2 * hidden])),
            ctx.variable(f"{bname}_{direction}_zr",
                         combined[:2 * hidden]),
            ctx.variable(f"{node.inputs[2]}_{direction}_h",
                         np.ascontiguousarray(rt_np[:, 2 * hidden:])),
            ctx.variable(f"{bname}_{direction}_wh", wb[2 * hidden:].astype(dtype)),
            ctx.variable(f"{bname}_{direction}_rh", rb[2 * hidden:].astype(dtype))]


def _step(op: Op, t: Any, lens: Any, xt: Any, h: Any, c: Any, weights: list[Any],
          cell: Cell) -> tuple[Any, Any, Any]:
    """One time step: (output, H, C).  With ``lens`` (sequence_lens), a batch entry past its
    length keeps its state and outputs zeros."""
    if c is not None:
        h_new, c_new = _lstm_step(op, xt, h, c, weights, cell)
    else:
        h_new, c_new = _gru_step(op, xt, h, weights, cell), None
    if lens is None:
        return h_new, h_new, c_new
    valid = op("ExpandDims", [op("Less", [t, lens]), np.array(-1, np.int32)])
    out = op("SelectV2", [valid, h_new, op("ZerosLike", [h_new])])
    h_new = op("SelectV2", [valid, h_new, h])
    if c is not None:
        c_new = op("SelectV2", [valid, c_new, c])
    return out, h_new, c_new


def _unrolled(ctx: Context, proj: Any, seq: int, h: Any, c: Any, weights: list[Any],
              reverse: bool, cell: Cell, lens: Any) -> tuple[Any, Any, Any]:
    steps = ctx.op("Unpack", [proj], num=seq, axis=0).outputs
    outs: dict[int, Any] = {}
    for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
        outs[t], h, c = _step(ctx.op, np.array(t, np.int32), lens, steps[t], h, c, weights,
                              cell)
    return ctx.op("Pack", [[outs[t] for t in range(seq)]], axis=0), h, c


def _looped(ctx: Context, node: Node, direction: str, proj: Any, h: Any, c: Any,
            weights: list[Any], hidden: int, dtype: Any, cell: Cell, reverse: bool,
            lens: Any) -> tuple[Any, Any, Any]:
    """The recurrence as a functional While over a run-time sequence length."""
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
        if lens is not None:
            args.append(fn.arg("lens", "int32", [None]))
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
    w_args = args[5 + lstm:5 + lstm + len(weights)]
    lens_arg = args[-1] if lens is not None else None
    xt = g.op("GatherV2", [proj_arg, t, np.array(0, np.int32)])
    out_t, h_new, c_new = _step(g.op, t, lens_arg, xt, h_arg, c_arg, w_args, cell)
    rets = [("t", g.op("AddV2", [t, np.array(1, np.int32)])), ("n", g.op("Identity", [n_arg])),
            ("h", h_new)]
    if lstm:
        rets.append(("c", c_new))
    rets.append(("acc", g.op("TensorListSetItem", [acc_arg, t, out_t],
                             element_dtype=dtype.name)))
    rets.append(("proj", g.op("Identity", [proj_arg])))
    rets += [(f"w{k}", g.op("Identity", [w])) for k, w in enumerate(w_args)]
    if lens_arg is not None:
        rets.append(("lens", g.op("Identity", [lens_arg])))
    for name, tensor in rets:
        body.ret(name, tensor)

    init = [np.array(0, np.int32), n, h] + ([c] if lstm else []) + [acc, proj, *weights]
    if lens is not None:
        init.append(lens)
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
    layout = int(node.attr("layout", 0))
    if layout:  # batch-major in and out: compute time-major, transpose at the edges
        x = ctx.op("Transpose", [x, np.array([1, 0, 2], np.int32)])
    dtype = ctx.dtype(node.inputs[0])
    w_all = ctx.array(node.inputs[1])
    assert w_all is not None
    b_all = ctx.array(node.input(3)) if node.input(3) else np.zeros(
        (len(dirs), 2 * gates * hidden), dtype)
    assert b_all is not None
    lens = (ctx.op("Cast", [ctx.tensor(node.input(4))], DstT="int32") if node.input(4)
            else None)
    clip = node.attrs.get("clip")
    acts = _activations(ctx, node, len(dirs))
    ys, hs, cs = [], [], []
    for d, direction in enumerate(dirs):
        cell = Cell(bool(node.attr("linear_before_reset", 0)),
                    None if clip is None else float(clip), dtype, tuple(acts[d]))
        wt = ctx.variable(f"{node.inputs[1]}_{direction}", np.ascontiguousarray(w_all[d].T))
        proj = ctx.op("BatchMatMulV2", [x, wt])  # [seq, batch, G*H]
        h = _initial(ctx, node, 5, d, x, hidden, dtype)
        c = _initial(ctx, node, 6, d, x, hidden, dtype) if gates == 4 else None
        weights = _weights(ctx, node, d, direction, gates, hidden, dtype, b_all)
        reverse = direction == "reverse"
        if lens is not None and reverse:
            # Each batch entry runs backwards over its own length: reverse the valid prefix,
            # run forwards with the length mask, reverse the outputs' prefix back.
            proj = ctx.op("ReverseSequence", [proj, lens], seq_dim=0, batch_dim=1)
        run_reverse = reverse and lens is None
        if seq is not None and seq <= UNROLL_LIMIT:
            y, h, c = _unrolled(ctx, proj, seq, h, c, weights, run_reverse, cell, lens)
        else:
            y, h, c = _looped(ctx, node, direction, proj, h, c, weights, hidden, dtype, cell,
                              run_reverse, lens)
        if lens is not None and reverse:
            y = ctx.op("ReverseSequence", [y, lens], seq_dim=0, batch_dim=1)
        ys.append(y)
        hs.append(h)
        cs.append(c)
    # Y [seq, dirs, batch, H] / [batch, seq, dirs, H]; Y_h, Y_c [dirs, batch, H] / [batch, dirs, H]
    if node.outputs and node.outputs[0]:
        ctx.set(node.outputs[0], ctx.op("Pack", [ys], axis=2 if layout else 1))
        if layout:
            ctx.set(node.outputs[0], ctx.op("Transpose", [ctx.tensor(node.outputs[0]),
                                                          np.array([1, 0, 2, 3], np.int32)]))
    for k, states in ((1, hs), (2, cs)):
        if len(node.outputs) > k and node.outputs[k]:
            ctx.set(node.outputs[k], ctx.op("Pack", [states], axis=layout))


_TF = ("static length: unrolled BatchMatMulV2, MatMul, Split, Sigmoid, Tanh, Mul, AddV2, Pack; "
       "dynamic length: While (cond/body functions) with TensorListReserve/SetItem/Stack, "
       "ReverseV2 for reverse directions; sequence_lens: SelectV2 masks, ReverseSequence")


@handler("LSTM", tf=_TF)
def lstm(ctx: Context, node: Node) -> None:
    _run(ctx, node, 4)


@handler("GRU", tf=_TF)
def gru(ctx: Context, node: Node) -> None:
    _run(ctx, node, 3)
