"""A dependency-free progress bar on stderr for long writes.

Usage from a command (``args`` is the parsed Namespace; ``args.quiet`` is honoured)::

    from pysavedmodel.cli.progress import progress_callback, call_with_progress

    with progress_callback(args, "writing variables") as progress:
        call_with_progress(write_checkpoint, prefix, tensors, progress=progress)

:func:`progress_callback` returns a :class:`ProgressBar`: call it with
``(done_bytes, total_bytes)`` as work advances.  It draws nothing unless stderr is a
terminal, ``--quiet`` is off and the operation has been running longer than
``PYSAVEDMODEL_PROGRESS_DELAY`` seconds (default 1.0), so quick or piped runs stay
silent.  Leaving the ``with`` block (or ``done >= total``) ends the line cleanly.
:func:`call_with_progress` passes ``progress=`` only to functions that accept it.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from types import TracebackType
from typing import Any, Callable, TextIO

__all__ = ["ProgressBar", "progress_callback", "call_with_progress", "accepts_progress",
           "DELAY_ENV", "DEFAULT_DELAY"]

DELAY_ENV = "PYSAVEDMODEL_PROGRESS_DELAY"
"""Environment variable: seconds an operation runs before the bar appears."""
DEFAULT_DELAY = 1.0
_REDRAW_SECONDS = 0.1
_BAR_WIDTH = 30
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _human(count: int) -> str:
    value = float(count)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _delay_from_env() -> float:
    text = os.environ.get(DELAY_ENV, "")
    try:
        return max(0.0, float(text)) if text else DEFAULT_DELAY
    except ValueError:
        return DEFAULT_DELAY


class ProgressBar:
    """Callable ``(done_bytes, total_bytes) -> None`` drawing one self-overwriting line.

    ``enabled=False`` makes every call a no-op (the object can still be passed along).
    """

    def __init__(self, label: str, *, stream: TextIO | None = None, enabled: bool = True,
                 delay: float | None = None) -> None:
        self.label = label
        self.enabled = enabled
        self._stream = stream if stream is not None else sys.stderr
        self._delay = _delay_from_env() if delay is None else delay
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._width = 0
        self.shown = False
        self.closed = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or self.closed:
            return
        now = time.monotonic()
        finished = total <= 0 or done >= total
        if not self.shown and now - self._start < self._delay:
            return  # quick operations never show a bar
        if self.shown and not finished and now - self._last_draw < _REDRAW_SECONDS:
            return
        self._draw(done, total)
        self._last_draw = now
        if finished:
            self.close()

    def _draw(self, done: int, total: int) -> None:
        fraction = 1.0 if total <= 0 else min(max(done / total, 0.0), 1.0)
        filled = int(fraction * _BAR_WIDTH)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        line = (f"{self.label} [{bar}] {fraction * 100:3.0f}% "
                f"{_human(done)} / {_human(total)}")
        padding = " " * max(0, self._width - len(line))  # erase a longer previous line
        self._stream.write(f"\r{line}{padding}")
        self._stream.flush()
        self._width = len(line)
        self.shown = True

    def close(self) -> None:
        """End the bar's line (if one was drawn); later calls draw nothing."""
        if self.shown and not self.closed:
            self._stream.write("\n")
            self._stream.flush()
        self.closed = True

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def progress_callback(args_or_enabled: argparse.Namespace | bool, label: str, *,
                      stream: TextIO | None = None) -> ProgressBar:
    """A :class:`ProgressBar` for ``label``, enabled only where a bar belongs.

    ``args_or_enabled`` is the command's Namespace (enabled unless ``args.quiet``) or a
    bool.  The bar is also disabled when ``stream`` (default stderr) is not a terminal.
    """
    if isinstance(args_or_enabled, argparse.Namespace):
        wanted = not getattr(args_or_enabled, "quiet", False)
    else:
        wanted = bool(args_or_enabled)
    target = stream if stream is not None else sys.stderr
    return ProgressBar(label, stream=target, enabled=wanted and _is_terminal(target))


def accepts_progress(func: Callable[..., Any]) -> bool:
    """Whether ``func`` takes a ``progress`` keyword argument."""
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return "progress" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def call_with_progress(func: Callable[..., Any], *args: Any,
                       progress: Callable[[int, int], None] | None, **kwargs: Any) -> Any:
    """``func(*args, **kwargs, progress=progress)`` if ``func`` accepts it, else without.

    A disabled :class:`ProgressBar` is not passed, so the callee skips its reporting.
    """
    live = progress is not None and not (isinstance(progress, ProgressBar) and not progress.enabled)
    if live and accepts_progress(func):
        kwargs["progress"] = progress
    return func(*args, **kwargs)
