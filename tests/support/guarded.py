"""One check of a script that runs under TensorFlow and reports many: its result, or the
error it raised as a JSON-ready dict (so one failing check does not hide the others)."""

from __future__ import annotations

import traceback
from typing import Any, Callable


def guarded(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, or ``{"error": ..., "traceback": ...}`` for what it raised."""
    try:
        return fn(*args)
    except BaseException as exc:
        return {"error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-3000:]}
