"""gcpause.gc_paused: the cyclic collector is off inside, back on after, never left off."""

from __future__ import annotations

import gc

import pytest

from pysavedmodel.gcpause import gc_paused


@pytest.fixture(autouse=True)
def _collector_on() -> None:
    assert gc.isenabled()


def test_disabled_inside_and_enabled_after() -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_enabled_again_after_an_exception() -> None:
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_nested_pause_does_not_enable_early() -> None:
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block left it to the outer one
    assert gc.isenabled()


def test_caller_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_as_a_decorator_per_call() -> None:
    seen = []

    @gc_paused()
    def work(value: int) -> int:
        seen.append(gc.isenabled())
        return value * 2

    assert work(2) == 4 and work(3) == 6
    assert seen == [False, False]
    assert gc.isenabled()
    assert work.__name__ == "work"
