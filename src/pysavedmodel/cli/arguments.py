"""Argument types shared by the commands (one definition each)."""

from __future__ import annotations

import argparse

__all__ = ["version_number"]


def version_number(text: str) -> int:
    """``--version N``: a non-negative integer, TF Serving's version folder name."""
    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer (TF Serving's version folder), got {text!r}")
    return value
