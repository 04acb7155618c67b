"""The benchmark behind scripts/bench.py, one module per family of benchmarks.

* :mod:`.common` — paths, constants, ``cores()``, the :class:`~.common.Family` record;
* :mod:`.workers` — worker processes (``scripts/bench.py --worker KIND``) serving the
  families' commands;
* :mod:`.driver` — :class:`~.driver.Bench`: contenders timed in alternation round by
  round (``run_group``), peak-RSS probes, one whole run over the selected families;
* :mod:`.report` — rows (median, min and max of the timed rounds), targets, pooling of
  ``--repeat`` runs, rendering as a table, JSON or docs/performance.md;
* the families, in the order they run: :mod:`.checkpoints` (groups ``write``, ``read``,
  ``tiny``), :mod:`.mlp` (``mlp``), :mod:`.imports` (``import``).

Adding a family (e.g. ONNX conversion):

1. write ``benchlib/<family>.py`` with ``run(bench, only, core, tf)``, which times its
   contenders — through ``bench.run_group`` (contenders as functions run by name inside
   a worker, see :mod:`.checkpoints`) or in fresh processes (see :mod:`.mlp`,
   :mod:`.imports`) — and appends :class:`~.report.Row` objects to ``bench.rows``;
   optionally ``add_arguments(parser)`` for its flags, ``worker_ops`` for commands its
   worker processes must serve and ``entry_points`` for ``scripts/bench.py --FLAG``
   modes of the fresh processes it starts;
2. end it with ``FAMILY = Family(name, groups, run, ...)`` and append it to
   :data:`FAMILIES` below; its groups become choices of ``--only``;
3. if it has goals, add them to ``report.targets``; add its rows to the smoke test,
   tests/format/test_bench_script.py.
"""

from __future__ import annotations

from . import checkpoints, imports, mlp
from .common import Family

FAMILIES: tuple[Family, ...] = (checkpoints.FAMILY, mlp.FAMILY, imports.FAMILY)
"""Every family, in the order a run takes them."""

__all__ = ["FAMILIES", "Family"]
