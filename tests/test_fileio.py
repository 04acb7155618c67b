"""pysavedmodel.fileio: durable publishing, concurrent writers, storage errors.

The fsync order is proven through an injected file layer: ``os.fsync``, ``os.rename``
and ``os.replace`` are wrapped to record which path each call touched, in order.
Concurrency runs real processes (fork) synchronised with events, so the race is forced
rather than hoped for.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import pathlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysavedmodel import (
    AlreadyExistsError,
    Graph,
    SavedModelBuilder,
    StorageError,
    fileio,
    load_weights,
    predict_signature_def,
    read_checkpoint,
    write_checkpoint,
)
from pysavedmodel.format import writer
from pysavedmodel.savedmodel.loader import read_saved_model

FORK = multiprocessing.get_context("fork")


def _builder(export_dir: Path, scale: float = 1.0) -> SavedModelBuilder:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 3])
    w = g.variable("w", np.full((3, 2), scale, np.float32))
    y = g.op("MatMul", [x, w], name="y")
    builder = SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(
        g, ["serve"], signature_def_map={"serving_default": predict_signature_def({"x": x},
                                                                                  {"y": y})})
    return builder


class Recorder:
    """Records ("fsync", path) / ("rename", src, dst) through the real calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, ...]] = []
        real_fsync, real_rename, real_replace = os.fsync, os.rename, os.replace

        def fsync(fd: int) -> None:
            self.calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def rename(src: Any, dst: Any) -> None:
            self.calls.append(("rename", os.fspath(src), os.fspath(dst)))
            real_rename(src, dst)

        def replace(src: Any, dst: Any) -> None:
            self.calls.append(("rename", os.fspath(src), os.fspath(dst)))
            real_replace(src, dst)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "rename", rename)
        monkeypatch.setattr(os, "replace", replace)

    def index(self, kind: str, path: str) -> int:
        for i, call in enumerate(self.calls):
            if call[0] == kind and path in call[1:]:
                return i
        raise AssertionError(f"no {kind} of {path} in {self.calls}")


# --------------------------------------------------------------------------- durable

def test_durable_save_fsyncs_every_file_and_directory_before_the_rename(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = tmp_path / "models" / "1"
    builder = _builder(export)
    recorder = Recorder(monkeypatch)
    builder.save()  # durable is the default
    renames = [c for c in recorder.calls if c[0] == "rename" and c[2] == str(export)]
    assert len(renames) == 1
    temp = renames[0][1]
    publish = recorder.calls.index(renames[0])
    files = sorted(str(p.relative_to(export)) for p in export.rglob("*") if p.is_file())
    assert files == ["fingerprint.pb", "saved_model.pb",
                     "variables/variables.data-00000-of-00001", "variables/variables.index"]
    for name in files:  # each file, under its temporary directory, before the rename
        assert recorder.index("fsync", f"{temp}/{name}") < publish
    for directory in (temp, f"{temp}/variables"):  # the directories holding them too
        assert recorder.index("fsync", directory) < publish
    after = [c for c in recorder.calls[publish + 1:] if c[0] == "fsync"]
    assert ("fsync", str(export.parent)) in after  # the rename itself made durable


def test_non_durable_save_does_not_fsync(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    builder = _builder(tmp_path / "m")
    recorder = Recorder(monkeypatch)
    builder.save(durable=False)
    assert [c for c in recorder.calls if c[0] == "fsync"] == []
    assert read_saved_model(tmp_path / "m").meta_graphs


def test_durable_checkpoint_fsyncs_data_then_index_before_renaming(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(monkeypatch)
    paths = write_checkpoint(tmp_path / "ck", {"a": np.arange(5), "b": np.ones(3)},
                             num_shards=2, durable=True)
    index = str(tmp_path / "ck.index")
    renamed = [c for c in recorder.calls if c[0] == "rename"]
    assert [c[2] for c in renamed] == [str(p) for p in paths]  # the index last
    first_rename = recorder.calls.index(renamed[0])
    for _, temp, _final in renamed:
        assert recorder.index("fsync", temp) < first_rename
    assert recorder.index("fsync", str(tmp_path)) > recorder.index("rename", index)
    assert set(read_checkpoint(tmp_path / "ck")) == {"a", "b"}


# --------------------------------------------------------------------------- concurrency

def _save_after(barrier: Any, export: str, scale: float, results: Any) -> None:
    builder = _builder(Path(export), scale)
    barrier.wait()
    try:
        builder.save()
        results.put(("ok", scale))
    except AlreadyExistsError as exc:
        results.put(("exists", str(exc)))


@pytest.mark.parametrize("trial", range(3))
def test_two_processes_saving_one_export_dir_exactly_one_wins(tmp_path: Path,
                                                              trial: int) -> None:
    export = tmp_path / "serving" / "7"
    barrier, results = FORK.Barrier(2), FORK.Queue()
    procs = [FORK.Process(target=_save_after, args=(barrier, str(export), s, results))
             for s in (1.0, 2.0)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    outcomes = sorted(results.get(timeout=5) for _ in procs)
    assert [kind for kind, _ in outcomes] == ["exists", "ok"]
    winner = outcomes[1][1]
    assert "7" in outcomes[0][1]
    values = load_weights(export)
    assert (values["w"] == np.full((3, 2), winner, np.float32)).all()  # one writer's files
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == ["7"]  # no temporaries


def _hold_while_other_tries(prefix: str, writing: Any, tried: Any) -> None:
    def progress(done: int, total: int) -> None:
        writing.set()
        tried.wait(30)

    write_checkpoint(prefix, {"w": np.full(1 << 20, 1.0, np.float32)}, progress=progress)


def test_a_second_writer_to_a_checkpoint_prefix_gets_already_exists(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt" / "variables"
    writing, tried = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold_while_other_tries, args=(str(prefix), writing, tried))
    holder.start()
    try:
        assert writing.wait(30)
        with pytest.raises(AlreadyExistsError, match="another writer"):
            write_checkpoint(prefix, {"w": np.full(4, 2.0, np.float32)})
    finally:
        tried.set()
        holder.join(60)
    assert holder.exitcode == 0
    values = read_checkpoint(prefix)
    assert values["w"].shape == (1 << 20,) and (values["w"] == 1.0).all()
    assert sorted(p.name for p in prefix.parent.iterdir()) == [
        "variables.data-00000-of-00001", "variables.index"]  # lock file gone


def test_sequential_writers_to_one_prefix_both_succeed(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "ck", {"a": np.zeros(2)})
    write_checkpoint(tmp_path / "ck", {"a": np.ones(2)})
    assert (read_checkpoint(tmp_path / "ck")["a"] == 1).all()


def test_exclusive_lock_is_released_and_removed(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    with fileio.exclusive_lock(lock):
        second = fileio.exclusive_lock(lock)
        with pytest.raises(AlreadyExistsError, match="another writer"):
            second.__enter__()
    assert not lock.exists()
    with fileio.exclusive_lock(lock):
        assert lock.exists()


# --------------------------------------------------------------------------- failures

def test_full_disk_while_saving_is_a_storage_error_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = tmp_path / "a" / "b" / "model"
    builder = _builder(export)

    def full(self: Path, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(pathlib.Path, "write_bytes", full)
    with pytest.raises(StorageError) as caught:
        builder.save()
    assert isinstance(caught.value, OSError) and caught.value.errno == errno.ENOSPC
    assert str(export) in str(caught.value) and "No space left" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # no temporary tree, no created parents


def test_full_disk_while_writing_a_checkpoint(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def full(out: Any, data: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    # Every tensor byte (small-tensor runs and large tensors) goes through this write.
    monkeypatch.setattr(writer._ShardOutput, "write", full)
    with pytest.raises(StorageError, match=r"cannot write .*ck\.index.*No space left"):
        write_checkpoint(tmp_path / "new" / "ck", {"a": np.ones(3)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_unwritable_targets_are_storage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               code: int) -> None:
    """Permission and read-only errors (injected: the tests run as root, which ignores
    directory permissions)."""
    export = tmp_path / "ro" / "model"
    builder = _builder(export)

    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code), str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", refuse)
    with pytest.raises(StorageError) as caught:
        builder.save()
    assert caught.value.errno == code and str(export) in str(caught.value)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_other_errors_are_not_rewrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(out: Any, data: Any) -> Any:
        raise OSError("injected")

    monkeypatch.setattr(writer._ShardOutput, "write", broken)
    with pytest.raises(OSError, match="injected") as caught:
        write_checkpoint(tmp_path / "ck", {"a": np.ones(3)})
    assert not isinstance(caught.value, StorageError)
