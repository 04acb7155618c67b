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
  variables' dtypes and shapes;
* ``fingerprint.pb``, when present beside a binary ``saved_model.pb``: each hash
  field equals what TF 2.21 computes from the files (``fingerprint-mismatch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ... import remote
from ..._proto import fingerprint_pb2, meta_graph_pb2, saved_model_pb2
from ...aliases import PathLike
from ...constants import FINGERPRINT_FILENAME, SAVED_MODEL_FILENAME_PB
from ...errors import CorruptSavedModelError, Error
from ...format.fingerprint import compute_fingerprint
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
    no ``saved_model.pb``/``.pbtxt``.  Reads only; nothing is written.  A URL
    ``export_dir`` (``s3://...``; the ``remote`` extra) is downloaded whole into a
    private temporary directory first.
    """
    if isinstance(export_dir, str) and remote.is_remote(export_dir):
        with remote.local_directory(export_dir) as local:
            return validate_saved_model(local)
    export_dir = remote.local_location(export_dir)
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
    _check_fingerprint(root, model, report)
    return findings


_FINGERPRINT_FIELDS = ("saved_model_checksum", "graph_def_program_hash", "signature_def_hash",
                       "saved_object_graph_hash", "checkpoint_hash")


def _check_fingerprint(root: Path, model: saved_model_pb2.SavedModel, report: Report) -> None:
    """A ``fingerprint.pb`` beside ``saved_model.pb`` must hold what TF 2.21 computes."""
    path = root / FINGERPRINT_FILENAME
    if not path.is_file() or saved_model_file(root).name != SAVED_MODEL_FILENAME_PB:
        return
    stored = fingerprint_pb2.FingerprintDef()
    try:
        stored.ParseFromString(path.read_bytes())
    except Exception as exc:  # protobuf's DecodeError
        report("fingerprint-mismatch", path.name, f"does not parse as a FingerprintDef: {exc}")
        return
    try:
        ours = compute_fingerprint(model, root)
    except Error as exc:
        report("fingerprint-mismatch", path.name, f"cannot be recomputed: {exc}")
        return
    for name in _FINGERPRINT_FIELDS:
        have, want = getattr(stored, name), getattr(ours, name)
        if have != want:
            report("fingerprint-mismatch", f"{path.name} {name}",
                   f"is {have}; TensorFlow 2.21 computes {want} from these files")


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
