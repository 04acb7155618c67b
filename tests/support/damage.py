"""Byte-level damage for fuzz tests: :mod:`pysavedmodel.testing` as a hypothesis strategy."""

from __future__ import annotations

from hypothesis import strategies as st

from pysavedmodel.testing import KINDS, mutate

__all__ = ["KINDS", "kinds", "mutate"]

kinds = st.sampled_from(KINDS)
