"""``SavedModelBuilder.save(fingerprint=True)``: fingerprint.pb that TF 2.21 reads and agrees with.

One TF subprocess: ``tf.saved_model.experimental.read_fingerprint`` returns our
values, TF's own ``CreateFingerprintDef`` recomputes every hash field from our
files identically, and the model still loads and serves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pysavedmodel._proto import fingerprint_pb2
from pysavedmodel.builder import SavedModelBuilder, predict_signature_def
from pysavedmodel.errors import InvalidArgumentError
from pysavedmodel.graph.graph import Graph
from tests.support.tf import run_tf


def _build(export_dir: Path, format: str = "tf1", **save: bool) -> Path:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    w = g.variable("dense/kernel", np.array([[1, 2], [3, 4]], np.float32))
    y = g.op("MatMul", [x, w], name="y")
    builder = SavedModelBuilder(export_dir, format=format)
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"y": y})})
    return builder.save(**save)


_TF = """
import json, sys
import numpy as np
import tensorflow as tf
from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting as fp
from tensorflow.core.protobuf import fingerprint_pb2
path = sys.argv[1]
read = tf.saved_model.experimental.read_fingerprint(path)
again = fingerprint_pb2.FingerprintDef.FromString(fp.CreateFingerprintDef(path))
names = ["saved_model_checksum", "graph_def_program_hash", "signature_def_hash",
         "saved_object_graph_hash", "checkpoint_hash"]
loaded = tf.saved_model.load(path)
y = loaded.signatures["serving_default"](x=tf.constant([[1.0, 1.0]]))["y"].numpy()
print(json.dumps({"read": [getattr(read, n) for n in names] + [read.version.producer],
                  "recomputed": [getattr(again, n) for n in names] + [again.version.producer],
                  "y": y.tolist()}))
"""


def test_tf_reads_and_recomputes_our_fingerprint(tmp_path: Path) -> None:
    _build(tmp_path / "m", fingerprint=True)
    ours = fingerprint_pb2.FingerprintDef.FromString(
        (tmp_path / "m" / "fingerprint.pb").read_bytes())
    values = [ours.saved_model_checksum, ours.graph_def_program_hash, ours.signature_def_hash,
              ours.saved_object_graph_hash, ours.checkpoint_hash, ours.version.producer]
    result = run_tf(_TF, tmp_path / "m")
    assert result["read"] == values
    assert result["recomputed"] == values
    assert result["y"] == [[4.0, 6.0]]
    assert ours.checkpoint_hash != 0 and ours.uuid.isdigit()


def test_fingerprint_is_reproducible_and_on_by_default_for_tf2_only(tmp_path: Path) -> None:
    _build(tmp_path / "a", fingerprint=True)
    _build(tmp_path / "b", fingerprint=True)
    assert (tmp_path / "a" / "fingerprint.pb").read_bytes() == \
        (tmp_path / "b" / "fingerprint.pb").read_bytes()
    _build(tmp_path / "c")
    assert not (tmp_path / "c" / "fingerprint.pb").exists()
    _build(tmp_path / "d", format="auto")  # the default: a TF2 export, as TF writes it
    assert (tmp_path / "d" / "fingerprint.pb").exists()
    _build(tmp_path / "e", format="auto", fingerprint=False)
    assert not (tmp_path / "e" / "fingerprint.pb").exists()


def test_fingerprint_with_text_proto_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="as_text"):
        _build(tmp_path / "t", as_text=True, fingerprint=True)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("overlap", [False, True])
def test_checkpoint_written_beside_the_fingerprint_gives_the_same_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overlap: bool) -> None:
    """A checkpoint of 32 MiB or more is written by a thread while save() fingerprints
    (smaller ones first, in this thread): the files are the same either way."""
    import threading

    import pysavedmodel.builder.builder as builder_module
    import pysavedmodel.format.bundle as bundle_module

    threads: list[str] = []
    real_write = bundle_module.write_checkpoint

    def write(*args: object, **kwargs: object) -> object:
        threads.append(threading.current_thread().name)
        return real_write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(bundle_module, "write_checkpoint", write)
    if overlap:
        monkeypatch.setattr(builder_module, "_OVERLAP_MIN_BYTES", 1)
    _build(tmp_path / "m", format="tf2")
    assert len(threads) == 1
    assert threads[0].startswith("pysavedmodel-checkpoint") is overlap
    monkeypatch.undo()
    _build(tmp_path / "plain", format="tf2")
    for name in ("saved_model.pb", "fingerprint.pb", "variables/variables.index",
                 "variables/variables.data-00000-of-00001"):
        assert (tmp_path / "m" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes()
