"""Crash safety (issue 5 section 3): writers SIGKILLed at random moments.

A zygote process (tests/support/crash_child.py) forks one writer per trial;
the test kills it after a seeded random delay spread over the measured
duration of a whole write, so kills land before, during and after the
write.  Writes here take 15-50 ms as the disk pleases, so when no write of
the first round outlived its delay, later rounds reach further past the
measured duration until one does.  Afterwards the target must be absent
or complete and read back bit for bit; anything else left in the
directory must be a clearly named temporary file; and a fresh write to
the same target must succeed.
"""

from __future__ import annotations

import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysavedmodel import load_weights, read_checkpoint, write_checkpoint
from pysavedmodel.builder.builder import SavedModelBuilder
from pysavedmodel.savedmodel.loader import read_saved_model
from tests.support import crash_child

ROOT = Path(__file__).resolve().parents[1]
KILLS = 50
EXTRA_KILLS = 20  # at most, while no write has finished before its kill
NUM_SHARDS = 3
TEMP_FILE = re.compile(r"\.tempstate[0-9a-f]+\Z")
TEMP_DIR = re.compile(r"\A\.model\.tmp-[0-9a-f]+\Z")


class Zygote:
    """The writer-forking child process."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "support" / "crash_child.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    def _line(self, prefix: str) -> list[str]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith(prefix), f"zygote said {line!r}"
        return line.split()[1:]

    def run(self, request: str, kill_after: float | None) -> tuple[bool, float]:
        """Serve ``request``; kill the writer after ``kill_after`` s (None: let it finish).

        Returns (whether SIGKILL ended the writer, seconds from fork to exit).
        """
        assert self.proc.stdin is not None
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        pid = int(self._line("pid ")[0])
        if kill_after is not None:
            time.sleep(kill_after)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # already reaped: it finished first
                pass
        status_text, seconds = self._line("exit ")
        status = int(status_text)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        assert killed or os.WEXITSTATUS(status) == 0, f"writer failed: status {status}"
        return killed, float(seconds)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    child = Zygote()
    try:
        yield child
    finally:
        child.close()


def _write_seconds(zygote: Zygote, make_request: Any, tmp: Path,
                   prepare: Callable[[Path], None] = lambda directory: None) -> float:
    """Median duration of five uninterrupted writes, each after ``prepare(directory)``."""
    times = []
    for i in range(5):
        directory = tmp / f"warmup{i}"
        directory.mkdir()
        prepare(directory)
        killed, seconds = zygote.run(make_request(directory), None)
        assert not killed
        times.append(seconds)
    return statistics.median(times)


def _kill_delays(rng: random.Random, duration: float,
                 finished: Callable[[], bool]) -> Iterator[tuple[int, float]]:
    """(trial, seconds before the kill): KILLS drawn over 1.1x ``duration``, then more.

    The extra trials, at most EXTRA_KILLS, come only while ``finished()`` is false (no write
    has yet completed before its kill: the disk slowed down since ``duration`` was measured);
    each draws from a range half as long again as the one before, beyond it.
    """
    for trial in range(KILLS):
        yield trial, rng.uniform(0, 1.1 * duration)
    span = 1.1 * duration
    for trial in range(KILLS, KILLS + EXTRA_KILLS):
        if finished():
            return
        yield trial, rng.uniform(span, 1.5 * span)
        span *= 1.5


def _assert_equal(got: Mapping[str, np.ndarray], want: Mapping[str, Any]) -> None:
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        expected = np.asarray(value)
        assert got[name].dtype == expected.dtype or expected.dtype == object, name
        assert got[name].shape == expected.shape, name
        if expected.dtype == object:
            assert got[name].tolist() == expected.tolist(), name
        else:
            assert got[name].tobytes() == expected.tobytes(), name


# --------------------------------------------------------------------------- checkpoints

tensors = lru_cache(maxsize=None)(crash_child.tensors)

def _checkpoint_state(directory: Path, old: int | None, new: int) -> str:
    """"absent", "old" or "new" (+ " temp" if temporary files are left); fails otherwise."""
    prefix = directory / "ckpt"
    ours = {f"ckpt.data-{i:05d}-of-{NUM_SHARDS:05d}" for i in range(NUM_SHARDS)} | {"ckpt.index"}
    lock = "ckpt.index.lock"  # a killed writer may leave it (the kernel released the lock)
    for path in directory.iterdir():
        assert path.name in ours or path.name == lock or TEMP_FILE.search(path.name), \
            f"unexpected file {path.name!r} after a killed checkpoint write"
        if TEMP_FILE.search(path.name):
            assert path.name.split(".tempstate")[0] in ours, path.name
    temp = " temp" if any(TEMP_FILE.search(p.name) for p in directory.iterdir()) else ""
    if not (directory / "ckpt.index").exists():
        return "absent" + temp
    got = read_checkpoint(prefix)
    for variant, label in ((new, "new"), (old, "old")):
        if variant is None:
            continue
        want = tensors(variant)
        if got["embedding"].tobytes() == want["embedding"].tobytes():
            _assert_equal(got, want)
            return label + temp
    raise AssertionError("the checkpoint is neither the old nor the new one")


def _fresh_write(directory: Path) -> None:
    fresh = tensors(99)
    write_checkpoint(directory / "ckpt", fresh, num_shards=NUM_SHARDS)
    _assert_equal(read_checkpoint(directory / "ckpt"), fresh)


@pytest.mark.parametrize("overwrite", [False, True], ids=["new", "overwrite"])
def test_killed_checkpoint_write(zygote: Zygote, tmp_path: Path, overwrite: bool) -> None:
    def request(directory: Path) -> str:
        return f"ckpt {directory / 'ckpt'} 2 {NUM_SHARDS}"

    old = 1 if overwrite else None

    def prepare(directory: Path) -> None:
        if old is not None:
            write_checkpoint(directory / "ckpt", tensors(old), num_shards=NUM_SHARDS)

    duration = _write_seconds(zygote, request, tmp_path, prepare)
    rng = random.Random(20240501 + overwrite)
    outcomes: Counter[str] = Counter()
    for trial, delay in _kill_delays(rng, duration, lambda: outcomes["new"] > 0):
        directory = tmp_path / f"trial{trial}"
        directory.mkdir()
        prepare(directory)
        killed, _ = zygote.run(request(directory), delay)
        state = _checkpoint_state(directory, old, 2)
        assert killed or state == "new"
        outcomes[state] += 1
        _fresh_write(directory)
    # The kills landed mid-write (temporary files left) and after it.
    assert sum(n for state, n in outcomes.items() if state.endswith("temp")) >= 1, outcomes
    assert outcomes["new"] >= 1, outcomes


# --------------------------------------------------------------------------- SavedModels

def _saved_model_state(directory: Path, asset: Path) -> str:
    """"absent" or "complete"; fails on anything else."""
    for path in directory.iterdir():
        assert path.name in ("model", "src") or TEMP_DIR.match(path.name), \
            f"unexpected {path.name!r} after a killed save"
    export = directory / "model"
    if not export.exists():
        return "absent temp" if any(TEMP_DIR.match(p.name) for p in directory.iterdir()) \
            else "absent"
    model = read_saved_model(export)
    assert [list(mg.meta_info_def.tags) for mg in model.meta_graphs] == [crash_child.TAGS]
    _assert_equal(load_weights(export),
                  crash_child.saved_model_variables(2))
    assert (export / "assets" / asset.name).read_bytes() == crash_child.ASSET_TEXT
    return "complete"


def test_killed_saved_model_save(zygote: Zygote, tmp_path: Path) -> None:
    asset = tmp_path / "vocab.txt"
    asset.write_bytes(crash_child.ASSET_TEXT)

    def request(directory: Path) -> str:
        return f"sm {directory / 'model'} 2 {asset}"

    duration = _write_seconds(zygote, request, tmp_path)
    rng = random.Random(20240502)
    outcomes: Counter[str] = Counter()
    for trial, delay in _kill_delays(rng, duration, lambda: outcomes["complete"] > 0):
        directory = tmp_path / f"trial{trial}"
        directory.mkdir()
        killed, _ = zygote.run(request(directory), delay)
        state = _saved_model_state(directory, asset)
        assert killed or state == "complete"
        outcomes[state] += 1
        if state != "complete":  # the same target takes a fresh save
            builder = crash_child.saved_model_builder(str(directory / "model"), 2, str(asset))
            builder.save()
            assert _saved_model_state(directory, asset) == "complete"
    # The kills landed mid-write (temporary directory left) and after it.
    assert outcomes["absent temp"] >= 1 and outcomes["complete"] >= 1, outcomes


def test_fresh_builder_refuses_a_complete_export(tmp_path: Path) -> None:
    """The other half of "a fresh write succeeds": a complete export is never overwritten."""
    asset = tmp_path / "vocab.txt"
    asset.write_bytes(crash_child.ASSET_TEXT)
    crash_child.saved_model_builder(str(tmp_path / "model"), 2, str(asset)).save()
    with pytest.raises(FileExistsError, match="not empty"):
        SavedModelBuilder(tmp_path / "model")
