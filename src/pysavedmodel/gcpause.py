"""Pausing Python's cyclic garbage collector around bulk work (one definition).

An import of a large graph, an export or a save allocates tens of thousands of
objects (nodes, dicts, tuples) and frees them by reference counting, making no
cycles; meanwhile the cyclic collector would now and then traverse every object of
the process (a full collection during a 1,000-variable export takes ~25 ms, a twelfth
of it).  :func:`gc_paused` holds it off until the work is done.

This module is a leaf: it imports nothing from the package.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["gc_paused"]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic garbage collector for the ``with`` block (or, as a decorator,
    for each call), enabling it again afterwards, also on an exception.

    A no-op when the collector is already disabled (by the caller, or by an enclosing
    or concurrent pause), so that nesting never re-enables it early and it is never
    left disabled.

    Example::

        with gc_paused():
            graph = Graph.from_dict(big_graph_def)
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
