"""Checks of the SaverDef and the checkpoint it restores.

The SaverDef's filename and save tensors and its restore op exist; every tensor
a ``RestoreV2`` restores is in ``variables/variables`` with the restored dtype,
the full shape its ``shape_and_slices`` names and a shape that fits the variable
it is assigned to.  :class:`Checkpoint` opens the bundle once per model and
verifies every stored tensor's CRC-32C once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ... import dtypes
from ...errors import ChecksumError, Error
from ...graph.graph import op_name_of
from ...graph.inference import base_enum
from ..loader import variables_prefix
from .context import MetaGraphContext
from .findings import Report, type_name
from .restore_entries import RestoreEntry, restore_entries


class Checkpoint:
    """The model's ``variables/variables`` bundle, opened once and checked once."""

    def __init__(self, root: Path) -> None:
        self.prefix = variables_prefix(root)
        self.where = "variables/variables"
        self.exists = Path(f"{self.prefix}.index").is_file()
        self._reader: Any = None
        self._error: str | None = None
        self._reported = False

    def reader(self, report: Report) -> Any:
        """The CheckpointReader, or None (reported once) when the index cannot be read."""
        if self._reader is None and self._error is None and self.exists:
            from ...format.bundle import CheckpointReader

            try:
                self._reader = CheckpointReader(self.prefix)
            except Error as exc:
                self._error = str(exc)
        if self._error is not None and not self._reported:
            self._reported = True
            report("checkpoint-unreadable", self.where,
                   f"the checkpoint index cannot be read: {self._error}")
        return self._reader

    def entry(self, name: str) -> tuple[int, tuple[int, ...]] | None:
        """``(DataType, shape)`` of a checkpoint tensor, None if absent (or unreadable)."""
        if self._reader is None or name not in self._reader:
            return None
        try:
            return dtypes.from_numpy(self._reader.dtype(name)).enum, self._reader.shape(name)
        except Error:
            return None  # reported by verify_all

    def verify_all(self, report: Report) -> None:
        """Read every tensor: CRCs, sizes and data files verified."""
        reader = self.reader(report)
        if reader is None:
            return
        try:
            for name in reader.keys():
                try:
                    reader.get_tensor(name)
                except ChecksumError as exc:
                    report("checksum-mismatch", f"{self.where} tensor {name!r}",
                           f"stored bytes do not match their CRC-32C ({exc})")
                except Error as exc:
                    report("checkpoint-unreadable", f"{self.where} tensor {name!r}", str(exc))
        finally:
            reader.close()


def check_saver(ctx: MetaGraphContext, checkpoint: Checkpoint) -> None:
    """The SaverDef's tensors and restore op; each restored tensor against ``checkpoint``."""
    if not ctx.meta.HasField("saver_def"):
        return
    saver = ctx.meta.saver_def
    for what, name in (("filename_tensor_name", saver.filename_tensor_name),
                       ("save_tensor_name", saver.save_tensor_name)):
        problem = ctx.tensor_exists(name)
        if problem is not None:
            ctx.report("saver-node-missing", ctx.at(f"saver_def {what}"), f"{name!r}: {problem}")
    restore = op_name_of(saver.restore_op_name)
    if restore not in ctx.nodes:
        ctx.report("saver-node-missing", ctx.at("saver_def restore_op_name"),
                   f"{saver.restore_op_name!r}: no such node; the loader runs it to restore "
                   f"the variables")
    restores = list(_all_restore_entries(ctx))
    if not restores:
        return
    if not checkpoint.exists:
        ctx.report("checkpoint-missing", ctx.at("saver_def"),
                   f"the graph restores {len(restores)} tensor(s) but "
                   f"variables/variables.index does not exist")
        return
    if checkpoint.reader(ctx.report) is None:
        return
    for entry in restores:
        _check_restore_entry(ctx, checkpoint, entry)


def _all_restore_entries(ctx: MetaGraphContext) -> Iterator[RestoreEntry]:
    """Each tensor a RestoreV2 node (of the graph or a library function) restores."""
    graph_def = ctx.meta.graph_def
    top = {n.name: n for n in graph_def.node}
    for node in graph_def.node:
        if node.op == "RestoreV2":
            yield from restore_entries(node, top, ctx.at(f"node {node.name!r}"), ctx.report,
                                       top_level=True, function=None)
    for function in graph_def.library.function:
        body = {n.name: n for n in function.node_def}
        for node in function.node_def:
            if node.op == "RestoreV2":
                where = ctx.at(f"function {function.signature.name!r} node {node.name!r}")
                yield from restore_entries(node, body, where, ctx.report,
                                           top_level=False, function=function)


def _check_restore_entry(ctx: MetaGraphContext, checkpoint: Checkpoint,
                         entry: RestoreEntry) -> None:
    where = f"{entry.where} tensor {entry.name!r}"
    stored = checkpoint.entry(entry.name)
    if stored is None:
        ctx.report("variable-not-in-checkpoint", where,
                   f"the restore op reads {entry.name!r} but variables/variables has no "
                   f"such tensor")
        return
    dtype, shape = stored
    if entry.dtype is not None and base_enum(entry.dtype) != dtype:
        ctx.report("variable-dtype-mismatch", where,
                   f"restored as {type_name(entry.dtype)} but the checkpoint holds "
                   f"{type_name(dtype)}")
    if entry.full_shape is not None and entry.full_shape != shape:
        ctx.report("variable-shape-mismatch", where,
                   f"shape_and_slices says the full tensor is {list(entry.full_shape)}; the "
                   f"checkpoint holds {list(shape)}")
        return
    restored = entry.slice_shape if entry.slice_shape is not None else shape
    if entry.variable_shape is not None and not _compatible(entry.variable_shape, restored):
        part = "it" if entry.slice_shape is None else f"a {list(restored)} slice of it"
        ctx.report("variable-shape-mismatch", where,
                   f"assigned to variable {entry.variable!r} of shape "
                   f"{_shape_text(entry.variable_shape)}; the checkpoint holds "
                   f"{list(shape)} and the restore op reads {part}")


def _compatible(declared: tuple[int | None, ...], shape: tuple[int, ...]) -> bool:
    return len(declared) == len(shape) and all(d is None or d == s for d, s in zip(declared, shape))


def _shape_text(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
