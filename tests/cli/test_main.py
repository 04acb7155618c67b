"""The entry point itself: help, exit statuses, one-line errors, --debug, interrupts, pipes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pysavedmodel import write_checkpoint
from pysavedmodel.cli import COMMANDS

from .cli_run import CONSOLE_SCRIPT, run


@pytest.mark.parametrize("script", [False, True], ids=["python-m", "console-script"])
def test_help_lists_every_command(script: bool) -> None:
    out = run("--help", script=script)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: pysavedmodel ")
    for name in COMMANDS:
        assert f"\n    {name} " in out.stdout or f"\n    {name}\n" in out.stdout, name


def test_console_script_is_installed() -> None:
    assert CONSOLE_SCRIPT.is_file() and os.access(CONSOLE_SCRIPT, os.X_OK)


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["show", "--no-such-flag", "x"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    out = run(*args)
    assert out.returncode == 2 and "usage:" in out.stderr and out.stdout == ""


@pytest.mark.parametrize("script", [False, True], ids=["python-m", "console-script"])
def test_error_is_one_line_and_debug_shows_the_traceback(tmp_path: Path, script: bool) -> None:
    prefix = str(tmp_path / "absent")
    out = run("checkpoint", prefix, script=script)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == f"pysavedmodel: error: checkpoint index {prefix}.index does not exist\n"
    for args in (["--debug", "checkpoint", prefix], ["checkpoint", prefix, "--debug"]):
        debug = run(*args, script=script)
        assert debug.returncode == 1
        assert "Traceback (most recent call last)" in debug.stderr
        assert "NotFoundError" in debug.stderr


def test_quiet_is_accepted_before_and_after_the_command(fixtures_dir: Path) -> None:
    prefix = str(fixtures_dir / "checkpoint_sharded" / "variables")
    before, after = run("-q", "checkpoint", prefix), run("checkpoint", prefix, "--quiet")
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout != ""


def test_os_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "ck.index").mkdir()  # opening the "index" fails with IsADirectoryError
    out = run("checkpoint", str(tmp_path / "ck"))
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert out.stderr.startswith("pysavedmodel: error: ") and "ck.index" in out.stderr


def test_unexpected_exceptions_are_one_line_too(tmp_path: Path) -> None:
    # A command with a bug, run through the real main() in a fresh interpreter.
    code = textwrap.dedent("""
        import sys
        from pysavedmodel.cli import checkpoint_cmd, main
        def broken(args):
            raise ZeroDivisionError("oops")
        checkpoint_cmd.run = broken
        sys.exit(main(sys.argv[1:]))
    """)
    out = subprocess.run([sys.executable, "-c", code, "checkpoint", "x"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert "ZeroDivisionError: oops" in out.stderr and "--debug" in out.stderr
    debug = subprocess.run([sys.executable, "-c", code, "checkpoint", "x", "--debug"],
                           capture_output=True, text=True, timeout=60)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_interrupt_exits_130(tmp_path: Path) -> None:
    # A command that blocks until interrupted, run through the real main() in a fresh
    # interpreter; it says when it is blocking so the signal lands inside the command.
    code = textwrap.dedent("""
        import sys, time
        from pysavedmodel.cli import checkpoint_cmd, main
        def blocking(args):
            print("blocking", flush=True)
            time.sleep(60)
            return 0
        checkpoint_cmd.run = blocking
        sys.exit(main(sys.argv[1:]))
    """)
    # A shell that starts jobs in the background hands them SIGINT ignored, and Python
    # keeps an ignored SIGINT ignored: restore the default so the child is interruptible
    # however the suite itself was started.
    proc = subprocess.Popen([sys.executable, "-c", code, "checkpoint", str(tmp_path / "x")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "blocking\n"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert stderr == "pysavedmodel: interrupted\n" and stdout == ""


def test_a_fifo_in_place_of_a_data_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    prefix = tmp_path / "ck"
    (data,) = [p for p in write_checkpoint(prefix, {"a": np.ones(3, np.float32)})
               if ".data-" in p.name]
    data.unlink()
    os.mkfifo(data)
    out = subprocess.run([sys.executable, "-m", "pysavedmodel", "checkpoint", str(prefix),
                          "--tensor", "a"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert data.name in out.stderr


def test_closed_stdout_exits_quietly(fixtures_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pysavedmodel", "checkpoint",
                             str(fixtures_dir / "checkpoint_many" / "variables")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    stderr = proc.stderr.read()
    proc.wait(timeout=60)
    assert first.split() == [b"name", b"dtype", b"shape", b"bytes", b"shard"]
    assert proc.returncode == 141 and stderr == b""


@pytest.mark.parametrize("url", ["xyz://models/mlp", "nosuchscheme://b/m"])
def test_url_paths_with_unknown_schemes_are_refused_not_created_locally(
        tmp_path: Path, url: str) -> None:
    """Issue 12: `build ... -o s3://models/mlp` once made a local `s3:` directory and
    reported success.  URLs now go to fsspec; a scheme it does not know is one clear
    line, and nothing is written locally."""
    spec = Path(__file__).resolve().parents[2] / "examples" / "mlp" / "spec.json"
    out = subprocess.run([sys.executable, "-m", "pysavedmodel", "build", str(spec), "-o", url,
                          "--version", "1"], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(
                             Path(__file__).resolve().parents[2] / "src")})
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and repr(url) in out.stderr, out.stderr
    assert "not one fsspec knows" in out.stderr
    assert list(tmp_path.iterdir()) == []
    shown = run("show", url)
    assert shown.returncode == 1 and repr(url) in shown.stderr
