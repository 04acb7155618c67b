"""ONNX control flow — If, Loop, Scan — as TF functional ops over library functions.

Each ONNX subgraph becomes a :class:`pysavedmodel.Function` (docs/format/functions.md) whose
nodes are converted by the same handlers, in a sub-context on the function's graph.  ONNX
subgraphs read values of enclosing graphs by name; TF functions cannot capture, so every
such non-constant value is passed as an extra argument (conversion-time constants are
simply re-emitted inside).

* ``If`` → ``If`` (``then_branch``/``else_branch`` with the union of both branches'
  captures as arguments); a condition known at conversion time inlines the chosen branch.
* ``Loop`` → ``While``: loop variables are the iteration counter and trip count (int64),
  the condition, the loop-carried values, one ``TensorList`` per scan output (pushed back
  each iteration, stacked after the loop) and the captures; the ``cond`` function is
  ``iter < M && cond``.
* ``Scan`` → ``While`` over the scan axis length: scan inputs are moved to axis 0 (and
  reversed for direction 1) outside the loop and read with ``GatherV2`` per step; scan
  outputs are collected in ``TensorList``s, then reversed/moved to their output axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...graph.function import Function
from ..context import Context
from ..ir import Const, Node
from .registry import handler

INT64_MAX = 2**63 - 1


def _attr_graphs(node: Any) -> list[Any]:
    out = []
    for attr in node.attribute:
        if attr.HasField("g"):
            out.append(attr.g)
        out.extend(attr.graphs)
    return out


def captures(graph: Any) -> list[str]:
    """Names ``graph`` (and its nested subgraphs) read from enclosing scopes, in first-use
    order."""
    defined = {v.name for v in graph.input} | {i.name for i in graph.initializer}
    found: list[str] = []
    for node in graph.node:
        names = list(node.input)
        for sub in _attr_graphs(node):
            names += captures(sub)
        for name in names:
            if name and name not in defined and name not in found:
                found.append(name)
        defined.update(o for o in node.output if o)
    for value in graph.output:
        if value.name not in defined and value.name not in found:
            found.append(value.name)
    return found


def _function_name(ctx: Context, node: Node, role: str) -> str:
    base = "".join(ch if ch.isalnum() else "_" for ch in node.name).strip("_") or "onnx"
    if not (base[0].isalpha() or base[0] == "_"):
        base = "f_" + base
    name, k = f"{base}_{role}", 1
    while name in ctx.function_names:
        k += 1
        name = f"{base}_{role}_{k}"
    ctx.function_names.add(name)
    return name


class _Body:
    """A Function being built from an ONNX subgraph, with its sub-context."""

    def __init__(self, ctx: Context, node: Node, role: str) -> None:
        self.fn = Function(_function_name(ctx, node, role))
        sub = Context(self.fn.graph, ctx.opset, dict(ctx.shapes), ctx.dtypes)
        sub.run_node = ctx.run_node
        sub.function_names = ctx.function_names
        self.ctx = sub
        self.count = 0
        self.captured: list[Any] = []
        """The capture arguments (inner tensors), in order."""

    def arg(self, dtype: Any, shape: Any, onnx_name: str = "") -> Any:
        tensor = self.fn.arg(f"a{self.count}", dtype, shape)
        self.count += 1
        if onnx_name:
            self.ctx.set(onnx_name, tensor)
        return tensor

    def capture(self, outer: Context, names: list[str]) -> list[Any]:
        """Bind enclosing values: constants directly, others as arguments; returns the
        outer tensors to pass for the arguments added."""
        passed = []
        for name in names:
            value = outer.value(name)
            if isinstance(value, Const):
                self.ctx.values[name] = value
                continue
            tensor = outer.tensor(name)
            dtype = tensor.dtype.name if tensor.dtype is not None else outer.dtype(name).name
            self.captured.append(self.arg(dtype, tensor.shape, name))
            passed.append(tensor)
        return passed

    def run(self, graph: Any) -> None:
        """Convert the subgraph's nodes (its initializers are constants)."""
        from ..load import import_onnx
        onnx = import_onnx()
        for init in graph.initializer:
            self.ctx.values[init.name] = Const(onnx.numpy_helper.to_array(init))
        for value in [*graph.value_info, *graph.output]:
            tensor_type = value.type.tensor_type
            if value.type.HasField("tensor_type") and tensor_type.HasField("shape"):
                self.ctx.shapes.setdefault(value.name, [
                    int(d.dim_value) if d.HasField("dim_value") else None
                    for d in tensor_type.shape.dim])
        run = self.ctx.run_node
        assert run is not None
        for index, proto in enumerate(graph.node):
            inner = Node(proto.op_type, proto.name or f"{proto.op_type}_{index}",
                         list(proto.input), list(proto.output),
                         {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute})
            self.ctx.node = inner
            run(self.ctx, inner)
        self.ctx.node = None

    def ret(self, tensor: Any) -> None:
        self.fn.ret(f"r{len(self.fn.output_types)}", self.fn.graph.op("Identity", [tensor]))

    def ret_value(self, name: str) -> None:
        self.ret(self.ctx.tensor(name))


def _inline(ctx: Context, node: Node, graph: Any) -> None:
    """Convert ``graph``'s nodes into the enclosing context (a branch known statically)."""
    from ..load import import_onnx
    onnx = import_onnx()
    run = ctx.run_node
    assert run is not None
    outer = ctx.node
    for init in graph.initializer:
        ctx.values[init.name] = Const(onnx.numpy_helper.to_array(init))
    for index, proto in enumerate(graph.node):
        inner = Node(proto.op_type, proto.name or f"{node.name}_{proto.op_type}_{index}",
                     list(proto.input), list(proto.output),
                     {a.name: onnx.helper.get_attribute_value(a) for a in proto.attribute})
        ctx.node = inner
        run(ctx, inner)
    ctx.node = outer
    for out, value in zip(node.outputs, graph.output):
        if out:
            ctx.values[out] = ctx.value(value.name)


@handler("If", tf="If (then/else library functions; captured values as arguments), or the "
         "branch inlined when the condition is known at conversion time")
def if_(ctx: Context, node: Node) -> None:
    then_g, else_g = node.attrs["then_branch"], node.attrs["else_branch"]
    cond = ctx.const(node.inputs[0])
    if cond is not None:
        _inline(ctx, node, then_g if bool(np.asarray(cond).reshape(-1)[0]) else else_g)
        return
    names = [n for n in captures(then_g) + captures(else_g)]
    names = list(dict.fromkeys(names))
    branches, passed = [], []
    for role, graph in (("then", then_g), ("else", else_g)):
        body = _Body(ctx, node, role)
        passed = body.capture(ctx, names)
        body.run(graph)
        for value in graph.output:
            body.ret_value(value.name)
        branches.append(body)
    # Both branches must take the same arguments: constants were bound, not passed, in both.
    pred = ctx.tensor(node.inputs[0])
    if ctx.rank(node.inputs[0]) != 0:
        pred = ctx.op("Reshape", [pred, np.array([], np.int64)])
    out = ctx.op("If", [pred, passed], then_branch=branches[0].fn,
                 else_branch=branches[1].fn)
    for name, tensor in zip(node.outputs, out.outputs):
        ctx.set(name, tensor)


def _output_dtypes(values: list[Any], what: str) -> list[str]:
    from ..load import numpy_dtype
    return [numpy_dtype(v.type.tensor_type.elem_type, f"{what} output {v.name!r}").name
            for v in values]


def _scalar(ctx: Context, name: str, dtype: str) -> Any:
    t = ctx.tensor(name)
    if ctx.rank(name) != 0:
        t = ctx.op("Reshape", [t, np.array([], np.int64)])
    return ctx.op("Cast", [t], DstT=dtype)


@handler("Loop", tf="While (cond: iter < M && cond; body converted from the ONNX body); scan "
         "outputs via TensorListPushBack/TensorListStack")
def loop(ctx: Context, node: Node) -> None:
    graph = node.attrs["body"]
    carried = [n for n in node.inputs[2:]]
    n_carried = len(carried)
    n_scan = len(graph.output) - 1 - n_carried
    trip = (_scalar(ctx, node.input(0), "int64") if node.input(0)
            else np.array(INT64_MAX, np.int64))
    cond0 = (_scalar(ctx, node.input(1), "bool") if node.input(1) else np.array(True))
    names = captures(graph)
    init = [np.array(0, np.int64), trip, cond0]
    dtypes = []
    for name in carried:
        init.append(ctx.tensor(name))
        dtypes.append(ctx.dtype(name).name)
    scan_dtypes = _output_dtypes(list(graph.output)[1 + n_carried:], "Loop")
    for dt in scan_dtypes:
        init.append(ctx.op("EmptyTensorList", [np.array(-1, np.int32), np.array(-1, np.int32)],
                           element_dtype=dt))

    def formals(body: _Body, bind: bool) -> list[Any]:
        args = [body.arg("int64", [], graph.input[0].name if bind else ""),
                body.arg("int64", []),
                body.arg("bool", [], graph.input[1].name if bind and len(graph.input) > 1
                         else "")]
        for k, dt in enumerate(dtypes):
            args.append(body.arg(dt, None, graph.input[2 + k].name if bind else ""))
        args += [body.arg("variant", []) for _ in scan_dtypes]
        return args

    cond_fn = _Body(ctx, node, "cond")
    i, m, c, *_ = formals(cond_fn, bind=False)
    cond_fn.capture(ctx, names)
    g = cond_fn.fn.graph
    cond_fn.fn.ret("keep", g.op("LogicalAnd", [g.op("Less", [i, m]), c]))

    body = _Body(ctx, node, "body")
    args = formals(body, bind=True)
    passed = body.capture(ctx, names)
    body.run(graph)
    g = body.fn.graph
    body.ret(g.op("AddV2", [args[0], np.array(1, np.int64)]))
    body.ret(args[1])
    cond_out = body.ctx.tensor(graph.output[0].name)
    if body.ctx.rank(graph.output[0].name) != 0:
        cond_out = g.op("Reshape", [cond_out, np.array([], np.int64)])
    body.ret(g.op("Cast", [cond_out], DstT="bool"))
    for value in list(graph.output)[1:1 + n_carried]:
        body.ret_value(value.name)
    for k, (value, dt) in enumerate(zip(list(graph.output)[1 + n_carried:], scan_dtypes)):
        body.ret(g.op("TensorListPushBack", [args[3 + n_carried + k],
                                             body.ctx.tensor(value.name)], element_dtype=dt))
    for tensor in body.captured:
        body.ret(tensor)
    out = ctx.op("While", [[*init, *passed]], cond=cond_fn.fn, body=body.fn,
                 parallel_iterations=1)
    outs = out.outputs
    for k, name in enumerate(node.outputs[:n_carried]):
        ctx.set(name, ctx.op("Identity", [outs[3 + k]]))
    for k, name in enumerate(node.outputs[n_carried:n_carried + n_scan]):
        ctx.set(name, ctx.op("TensorListStack", [outs[3 + n_carried + k],
                                                 np.array(-1, np.int32)],
                             element_dtype=scan_dtypes[k], num_elements=-1))


def _move_axis(ctx: Context, t: Any, source: int, target: int, rank: int) -> Any:
    if source == target:
        return t
    perm = [a for a in range(rank) if a != source]
    perm.insert(target, source)
    return ctx.op("Transpose", [t, np.array(perm, np.int32)])


@handler("Scan", tf="While over the scan axis (inputs moved to axis 0 by Transpose, ReverseV2 "
         "for reverse directions, GatherV2 per step); outputs via TensorListSetItem/Stack")
def scan(ctx: Context, node: Node) -> None:
    if ctx.opset < 9:
        raise ctx.fail("Scan before opset 9 (with sequence_lens) is not supported")
    graph = node.attrs["body"]
    m = int(node.attr("num_scan_inputs"))
    n_state = len(node.inputs) - m
    states, scans = node.inputs[:n_state], node.inputs[n_state:]
    k_out = len(graph.output) - n_state
    in_axes = [int(a) for a in node.attr("scan_input_axes", [0] * m)]
    in_dirs = [int(a) for a in node.attr("scan_input_directions", [0] * m)]
    out_axes = [int(a) for a in node.attr("scan_output_axes", [0] * k_out)]
    out_dirs = [int(a) for a in node.attr("scan_output_directions", [0] * k_out)]
    prepared = []
    for name, axis, direction in zip(scans, in_axes, in_dirs):
        rank = ctx.rank(name)
        if rank is None:
            raise ctx.fail(f"the rank of scan input {name!r} must be known")
        axis = axis + rank if axis < 0 else axis
        t = _move_axis(ctx, ctx.tensor(name), axis, 0, rank)
        if direction:
            t = ctx.op("ReverseV2", [t, np.array([0], np.int32)])
        prepared.append(t)
    n = ctx.op("StridedSlice", [ctx.op("Shape", [prepared[0]], out_type="int32"),
                                np.array([0], np.int32), np.array([1], np.int32),
                                np.array([1], np.int32)], shrink_axis_mask=1)
    out_dtypes = _output_dtypes(list(graph.output)[n_state:], "Scan")
    names = captures(graph)
    state_dtypes = [ctx.dtype(name).name for name in states]
    lists = [ctx.op("TensorListReserve", [np.array(-1, np.int32), n], element_dtype=dt)
             for dt in out_dtypes]

    def formals(body: _Body, bind: bool) -> list[Any]:
        args = [body.arg("int32", []), body.arg("int32", [])]
        for k, dt in enumerate(state_dtypes):
            args.append(body.arg(dt, None, graph.input[k].name if bind else ""))
        args += [body.arg("variant", []) for _ in out_dtypes]
        args += [body.arg(t.dtype.name, None) for t in prepared]
        return args

    cond_fn = _Body(ctx, node, "cond")
    t_arg, n_arg, *_ = formals(cond_fn, bind=False)
    cond_fn.capture(ctx, names)
    cond_fn.fn.ret("keep", cond_fn.fn.graph.op("Less", [t_arg, n_arg]))

    body = _Body(ctx, node, "body")
    args = formals(body, bind=True)
    passed = body.capture(ctx, names)
    g = body.fn.graph
    t_arg = args[0]
    list_args = args[2 + n_state:2 + n_state + k_out]
    scan_args = args[2 + n_state + k_out:]
    for j, arg in enumerate(scan_args):
        body.ctx.set(graph.input[n_state + j].name,
                     g.op("GatherV2", [arg, t_arg, np.array(0, np.int32)]))
    body.run(graph)
    body.ret(g.op("AddV2", [t_arg, np.array(1, np.int32)]))
    body.ret(args[1])
    for value in list(graph.output)[:n_state]:
        body.ret_value(value.name)
    out_ranks = []
    for k, (value, dt) in enumerate(zip(list(graph.output)[n_state:], out_dtypes)):
        out_ranks.append(body.ctx.rank(value.name))
        body.ret(g.op("TensorListSetItem", [list_args[k], t_arg, body.ctx.tensor(value.name)],
                      element_dtype=dt))
    for tensor in [*scan_args, *body.captured]:
        body.ret(tensor)
    init = [np.array(0, np.int32), n, *[ctx.tensor(s) for s in states], *lists, *prepared,
            *passed]
    out = ctx.op("While", [init], cond=cond_fn.fn, body=body.fn, parallel_iterations=1)
    outs = out.outputs
    for k, name in enumerate(node.outputs[:n_state]):
        ctx.set(name, ctx.op("Identity", [outs[2 + k]]))
    for k, name in enumerate(node.outputs[n_state:]):
        if not name:
            continue
        t = ctx.op("TensorListStack", [outs[2 + n_state + k], np.array(-1, np.int32)],
                   element_dtype=out_dtypes[k], num_elements=-1)
        if out_dirs[k]:
            t = ctx.op("ReverseV2", [t, np.array([0], np.int32)])
        axis = out_axes[k]
        if axis:
            rank = out_ranks[k]
            if rank is None:
                raise ctx.fail(f"scan output {name!r} needs a known rank for its axis")
            axis = axis + rank + 1 if axis < 0 else axis
            t = _move_axis(ctx, t, 0, axis, rank + 1)
        ctx.set(name, t)
