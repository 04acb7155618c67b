"""scripts/fuzz.py: a bounded run over the three readers and the ONNX converter finds
nothing, and the harness really reports what it is there to catch (escaping exceptions,
hangs, huge allocations).

The run's length is ``PYSAVEDMODEL_FUZZ_SECONDS`` (default 45, split between the
targets) and its seed ``PYSAVEDMODEL_FUZZ_SEED`` (default 0).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pysavedmodel.errors import CorruptCheckpointError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "fuzz.py"
SECONDS = float(os.environ.get("PYSAVEDMODEL_FUZZ_SECONDS", "45"))
SEED = int(os.environ.get("PYSAVEDMODEL_FUZZ_SEED", "0"))


def _fuzz_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pysavedmodel_fuzz_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_bounded_fuzz_run_of_every_target_finds_nothing() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", str(SECONDS), "--seed", str(SEED)],
        capture_output=True, text=True, timeout=SECONDS + 240, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    lines = proc.stdout.splitlines()
    for target in ("table", "bundle", "savedmodel", "onnx"):
        (line,) = [x for x in lines if x.startswith(f"fuzz {target}:")]
        found = re.match(rf"fuzz {target}: (\d+) examples \((\d+) read, (\d+) refused .*\), "
                         r"0 failures", line)
        assert found, line
        examples, read, refused = (int(g) for g in found.groups())
        assert examples == read + refused
        assert examples >= 50, line          # it really ran
        assert refused > 0 and read > 0, line  # damage both caught and harmless
    assert re.search(r"^fuzz total: \d+ examples, 0 failures", proc.stdout, re.M), proc.stdout


def _fake_runner(outcome: str) -> Any:
    def run(corpus: Any, draw: Any, work: Path) -> bool:
        from hypothesis import strategies as st

        if draw.draw(st.integers(0, 3), label="n") != 3:
            raise CorruptCheckpointError("refused")  # counted, not a failure
        if outcome == "leak":
            raise IndexError("a bare IndexError escaped")
        if outcome == "hang":
            time.sleep(60)
        return True
    return run


@pytest.mark.parametrize(("outcome", "expected"), [
    ("leak", r"IndexError: a bare IndexError escaped at .*test_fuzz_harness.py"),
    ("hang", r"ExampleTimeout: example still running after 0.2 s"),
])
def test_harness_reports_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  outcome: str, expected: str) -> None:
    fuzz = _fuzz_module()
    monkeypatch.setitem(fuzz.RUNNERS, "table", _fake_runner(outcome))
    stats = fuzz.fuzz_target("table", corpus=None, seconds=1.0, seed=1, example_timeout=0.2,
                             shrink=False, work=tmp_path / "work")
    assert stats.failures, "the harness missed the failure"
    assert re.search(expected, stats.failures[0]), stats.failures[0]
    assert stats.refused > 0


def test_harness_counts_a_clean_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz = _fuzz_module()
    monkeypatch.setitem(fuzz.RUNNERS, "table", _fake_runner("clean"))
    stats = fuzz.fuzz_target("table", corpus=None, seconds=0.5, seed=1, example_timeout=5,
                             shrink=False, work=tmp_path / "work")
    assert not stats.failures and stats.examples == stats.read + stats.refused > 0


def test_memory_cap_turns_a_huge_allocation_into_a_failure() -> None:
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('f', {str(SCRIPT)!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['f'] = m\n"
        "spec.loader.exec_module(m)\n"
        "m._cap_address_space(64)\n"
        "try:\n"
        "    bytearray(2**30)\n"
        "except MemoryError:\n"
        "    print('capped')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.stdout.strip() == "capped", proc.stdout + proc.stderr


def test_unknown_target_is_a_usage_error() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--target", "tabel", "--seconds", "1"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and "unknown target(s) ['tabel']" in proc.stderr
