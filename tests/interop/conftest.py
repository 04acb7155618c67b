"""Interop tests run TensorFlow 2.21 in its own venv through tests.support.tf.run_tf."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/interop/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.interop)
