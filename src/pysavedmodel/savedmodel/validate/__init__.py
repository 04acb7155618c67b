"""``validate_saved_model``: what can be checked offline about "will TensorFlow load this".

Every problem found becomes a :class:`Finding` (a stable kebab-case ``code``,
``where`` it is, and a ``message`` saying what is wrong and what was expected);
checking goes on after a finding, so one run lists them all.  Nothing is
written.  Checks, per meta graph (``where`` starts with its tags, ``[serve]``):

* the proto parses (``proto-unparseable``), it has meta graphs
  (``no-meta-graphs``), no two meta graphs have the same tag set
  (``duplicate-tag-set``);
* graph nodes (:mod:`.context`, :mod:`.graph_checks`, :mod:`.attr_checks`):
  valid unique names, ops TF 2.21 registers or the graph's function library
  defines, required attrs present with values of the declared type and allowed
  values (undeclared attrs are not findings: TF's loaders ignore them),
  constants with a usable value, inputs that exist (node and output index) in
  the right number, order and dtype, no cycles other than loops through
  ``NextIteration``; function bodies: ops and function references known,
  inputs existing;
* SaverDef (:mod:`.saver_checks`, :mod:`.restore_entries`): its tensors and
  restore op exist; every ``RestoreV2`` entry names a checkpoint tensor of the
  restored dtype and of the shape of the variable it is assigned to; every
  checkpoint tensor's CRC verifies;
* assets (:mod:`.asset_checks`; ``asset_file_def`` and collection
  ``saved_model_assets``): the file is in ``assets/`` (no path escaping it),
  its tensor exists, no tensor is fed twice;
* collections (:mod:`.collection_checks`): ``node_list`` entries name existing
  nodes; the init op (signature ``__saved_model_init_op``, collections
  ``saved_model_main_op`` / ``legacy_init_op``) and train op exist;
* signatures (:mod:`.signature_checks`): each tensor exists with the recorded
  dtype; TF Serving's rules for the method name (classify and regress take one
  DT_STRING input ``inputs``; predict needs inputs and outputs);
* TF2 object graph (:mod:`.object_graph_checks`): references in range,
  concrete functions known to the object graph and the function library, the
  checkpoint's object graph paired with it and its keys present with the
  variables' dtypes and shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..._proto import meta_graph_pb2
from ...aliases import PathLike
from ...errors import CorruptSavedModelError
from ..loader import read_saved_model, saved_model_file
from .asset_checks import check_assets
from .collection_checks import check_collections
from .context import MetaGraphContext
from .findings import FINDING_CODES, Finding, Report, tags_label
from .graph_checks import check_graph
from .object_graph_checks import check_object_graph
from .saver_checks import Checkpoint, check_saver
from .signature_checks import check_signatures

__all__ = ["Finding", "validate_saved_model", "FINDING_CODES"]



def validate_saved_model(export_dir: PathLike) -> list[Finding]:
    """Check the SavedModel in ``export_dir``; return every finding (empty: no problem found).

    Raises :class:`NotFoundError` when ``export_dir`` is not a directory or holds
    no ``saved_model.pb``/``.pbtxt``.  Reads only; nothing is written.
    """
    findings: list[Finding] = []

    def report(code: str, where: str, message: str) -> None:
        findings.append(Finding(code, where, message))

    root = Path(export_dir)
    try:
        model = read_saved_model(root)
    except CorruptSavedModelError as exc:
        report("proto-unparseable", saved_model_file(root).name, str(exc))
        return findings
    if not model.meta_graphs:
        report("no-meta-graphs", saved_model_file(root).name,
               "the SavedModel holds no MetaGraphDef; a loader needs one per tag set")
        return findings
    _check_tag_sets(model.meta_graphs, report)
    checkpoint = Checkpoint(root)
    for meta in model.meta_graphs:
        _check_meta_graph(root, meta, checkpoint, report)
    checkpoint.verify_all(report)
    return findings


def _check_tag_sets(metas: Sequence[meta_graph_pb2.MetaGraphDef], report: Report) -> None:
    seen: dict[frozenset[str], int] = {}
    for index, meta in enumerate(metas):
        tags = frozenset(meta.meta_info_def.tags)
        if tags in seen:
            report("duplicate-tag-set", f"meta graph #{index} {tags_label(sorted(tags))}",
                   f"meta graph #{seen[tags]} has the same tag set; loaders pick a meta graph "
                   f"by its tag set, which must be unique")
        else:
            seen[tags] = index


def _check_meta_graph(root: Path, meta: meta_graph_pb2.MetaGraphDef, checkpoint: Checkpoint,
                      report: Report) -> None:
    """Every check of one meta graph, in a fixed order (findings come out in it)."""
    ctx = MetaGraphContext.index(meta, report)
    check_graph(ctx)
    check_saver(ctx, checkpoint)
    check_assets(ctx, root)
    check_collections(ctx)
    check_signatures(ctx)
    check_object_graph(ctx, checkpoint)
