"""Shared fixtures.  The core suite must never load TensorFlow (see test_no_tensorflow.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.tf import FIXTURES


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``../shared/fixtures/tf-2.21``: golden files written by TensorFlow 2.21."""
    assert FIXTURES.is_dir(), \
        f"golden fixtures not found at {FIXTURES} (../shared beside the checkout)"
    return FIXTURES
