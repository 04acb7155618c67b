"""The progress bar: drawn on a terminal for slow writes, silent on pipes and under --quiet.

Each case runs a child interpreter whose stderr is a pseudo-terminal (or a pipe) and
which writes a real checkpoint through ``call_with_progress(write_checkpoint, ...)``.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from pysavedmodel.cli.progress import (
    DELAY_ENV,
    ProgressBar,
    accepts_progress,
    call_with_progress,
    progress_callback,
)
from pysavedmodel.format.bundle import read_checkpoint, write_checkpoint

CHILD = textwrap.dedent("""
    import argparse, sys
    import numpy as np
    from pysavedmodel.cli.progress import call_with_progress, progress_callback
    from pysavedmodel.format.bundle import write_checkpoint

    prefix, quiet = sys.argv[1], sys.argv[2] == "quiet"
    tensors = {f"t{i}": np.full((1 << 20,), i, np.float32) for i in range(24)}  # 96 MiB
    with progress_callback(argparse.Namespace(quiet=quiet), "writing checkpoint") as bar:
        call_with_progress(write_checkpoint, prefix, tensors, progress=bar)
    print("done", bar.shown)
""")


def _run_child(tmp_path: Path, *, tty: bool, quiet: bool = False,
               delay: str = "0") -> tuple[str, bytes]:
    """(stdout, everything the child wrote to stderr)."""
    env = {**os.environ, DELAY_ENV: delay}
    args = [sys.executable, "-c", CHILD, str(tmp_path / "ckpt"), "quiet" if quiet else "loud"]
    if not tty:
        out = subprocess.run(args, capture_output=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.decode(), out.stderr
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, env=env)
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.stdout is not None
        stdout = proc.stdout.read().decode()
        assert proc.wait(timeout=300) == 0
    finally:
        os.close(master)
    return stdout, b"".join(chunks)


def test_bar_is_drawn_on_a_terminal(tmp_path: Path) -> None:
    stdout, stderr = _run_child(tmp_path, tty=True)
    assert stdout == "done True\n"
    text = stderr.decode()
    assert text.startswith("\rwriting checkpoint [") and text.endswith("\n")
    assert text.count("\n") == 1  # one line, redrawn in place, ended once
    final = text.rstrip("\r\n").split("\r")[-1]
    assert final.startswith("writing checkpoint [" + "#" * 30 + "] 100% ")
    assert final.endswith("96.0 MiB / 96.0 MiB")
    assert sorted(read_checkpoint(tmp_path / "ckpt")) == sorted(f"t{i}" for i in range(24))


def test_no_bar_on_a_pipe_or_when_quiet(tmp_path: Path) -> None:
    assert _run_child(tmp_path / "pipe", tty=False) == ("done False\n", b"")
    assert _run_child(tmp_path / "quiet", tty=True, quiet=True) == ("done False\n", b"")


def test_no_bar_for_writes_quicker_than_the_delay(tmp_path: Path) -> None:
    assert _run_child(tmp_path, tty=True, delay="3600") == ("done False\n", b"")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_draws_and_finishes_in_process() -> None:
    stream = _Terminal()
    bar = progress_callback(True, "copy", stream=stream)
    bar._delay = 0.0
    bar(0, 2048)
    bar(2048, 2048)
    bar(2048, 2048)  # after finishing: nothing more
    assert stream.getvalue() == (
        "\rcopy [------------------------------]   0% 0 B / 2.0 KiB"
        "\rcopy [##############################] 100% 2.0 KiB / 2.0 KiB\n")
    assert not progress_callback(True, "copy", stream=io.StringIO()).enabled  # not a tty
    assert not progress_callback(argparse.Namespace(quiet=True), "x", stream=_Terminal()).enabled


def test_close_ends_a_partial_line_once() -> None:
    stream = _Terminal()
    with ProgressBar("x", stream=stream, delay=0.0) as bar:
        bar(1, 4)
    bar.close()
    assert stream.getvalue() == "\rx [#######-----------------------]  25% 1 B / 4 B\n"


def test_call_with_progress_passes_it_only_where_accepted(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []

    def no_progress(value: int) -> int:
        return value * 2

    assert call_with_progress(no_progress, 21, progress=lambda d, t: None) == 42
    assert accepts_progress(write_checkpoint)
    call_with_progress(write_checkpoint, tmp_path / "c", {"a": np.ones(4, np.float32)},
                       progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (16, 16)
    disabled = ProgressBar("x", enabled=False)
    recorded: dict[str, object] = {}

    def spy(**kwargs: object) -> None:
        recorded.update(kwargs)

    call_with_progress(spy, progress=disabled)
    assert recorded == {}  # a disabled bar is not passed on
