"""Workers and reporting of scripts/bench.py.

* :mod:`.common` — paths, constants, ``cores()``;
* :mod:`.workers` — the inputs, every timed contender (a function ``task(arrays, out, src)``
  registered in ``CORE_TASKS``, or TensorFlow's in ``TFSide``), worker processes;
* :mod:`.report` — result rows (median, min, max of the timed rounds), targets, and
  rendering as a table, JSON or docs/performance.md.

To add a benchmark: write the contender in :mod:`.workers` and register it in
``CORE_TASKS``; add a group to ``common.GROUPS`` and a ``Bench.<group>()`` method in
scripts/bench.py that calls ``run_group`` with its contenders; add its goal to
``report.targets``.
"""
