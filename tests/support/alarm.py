"""A wall-clock limit on a block of code: :func:`pysavedmodel.testing.time_limit`."""

from __future__ import annotations

from pysavedmodel.testing import time_limit

__all__ = ["time_limit"]
