"""A wall-clock limit on a block of code, by SIGALRM (main thread, POSIX only)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def time_limit(seconds: float, error: type[BaseException], message: str) -> Iterator[None]:
    """Raise ``error(message)`` inside the block if it is still running after ``seconds``;
    the previous SIGALRM handler is back afterwards."""
    def expire(signum: int, frame: Any) -> None:
        raise error(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
