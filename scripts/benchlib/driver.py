"""The benchmark's driver: contenders timed in alternation, round by round, in worker
processes; peak-RSS probes; one whole run over the selected families.

scripts/bench.py parses the flags and renders; the families (benchlib/__init__.py) say
what to time and call :meth:`Bench.run_group` / :meth:`Bench.probe_rss`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import HERE, MB, REPLY, SRC, Family
from .report import Row, config, machine, targets
from .workers import Worker

if TYPE_CHECKING:
    from .io import Inputs


@dataclass
class Contender:
    label: str
    task: str
    worker: Worker
    limit: str | None = None       # label of the row its ratio is taken against
    rss: bool = False              # probe its peak RSS
    prewarmed: bool = False        # its first-call costs were paid already (no warm-up run)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[Row] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="pysavedmodel-bench-", dir=args.dir))
        self.workers: list[Worker] = []
        self.identical_to_tf: dict[str, bool] = {}
        self.digests: dict[tuple[str, str], str] = {}
        self.started = time.perf_counter()

    def env(self, kind: str) -> dict[str, str]:
        """Environment of a child process.  Bytecode is cached (under the work directory,
        not the source tree) even if PYTHONDONTWRITEBYTECODE is set here: installed
        packages have their .pyc files, and compiling on every import would dominate
        the import and MLP timings.  Warm-up runs fill the cache.  TensorFlow's venv
        keeps its own (installed) bytecode."""
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        if kind == "core":
            env.update(PYTHONPATH=str(SRC), PYTHONPYCACHEPREFIX=str(self.workdir / "pycache"))
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        else:
            env.pop("PYTHONPATH", None)
        return env

    def log(self, message: str) -> None:
        if not self.args.quiet:
            elapsed = time.perf_counter() - self.started
            print(f"[bench {elapsed:5.0f} s] {message}", file=sys.stderr, flush=True)

    def row(self, group: str, name: str) -> Row | None:
        for row in self.rows:
            if row.group == group and row.name == name:
                return row
        return None

    # -- timing rounds

    @staticmethod
    def digest(directory: Path) -> str:
        h = hashlib.sha256()
        for path in sorted(directory.iterdir()):
            h.update(path.name.encode())
            with open(path, "rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest()
                         if hasattr(hashlib, "file_digest") else
                         hashlib.sha256(f.read()).digest())
        return h.hexdigest()

    def _clear(self, prefix: Path) -> None:
        for path in prefix.parent.glob(prefix.name + "*"):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()

    def run_group(self, group: str, case: str, inputs: Inputs, contenders: list[Contender],
                  src_of: dict[str, str]) -> None:
        """Warm up each contender once, then ``--rounds`` rounds in alternation.

        A contender whose timed runs add up to ``--max-seconds`` sits out the remaining
        rounds (TensorFlow on 100,000 tensors takes ~17 s per read).
        """
        rows = {c.label: Row(group, c.label, inputs.nbytes) for c in contenders}
        self.rows.extend(rows.values())
        for round_ in range(self.args.rounds + 1):  # round 0 is the warm-up
            self.log(f"{group}: {'warm-up' if round_ == 0 else f'round {round_}'}")
            for c in contenders:
                row = rows[c.label]
                if round_ == 0 and c.prewarmed:
                    continue
                if row.samples and sum(row.samples) >= self.args.max_seconds:
                    continue
                prefix = self.workdir / f"{case}-{c.task}" / "out"
                prefix.parent.mkdir(exist_ok=True)
                self._clear(prefix)
                result = c.worker.call(op="run", case=case, task=c.task, out=str(prefix),
                                       src=src_of.get(c.task, ""))
                if round_:
                    row.samples.append(result["seconds"])
                if c.task in ("write_ours_1", "write_tf"):  # compared once the group is done
                    self.digests.setdefault((case, c.task), self.digest(prefix.parent))
                self._clear(prefix)  # a tmpfs holds only the inputs and one output at a time
                if self.args.verbose:
                    self.log(f"  {c.label}: {result['seconds']:.3f} s")
        for c in contenders:
            row = rows[c.label]
            row.finish()
            if len(row.samples) < self.args.rounds:
                row.note = f"{len(row.samples)} timed run(s): slow"
            if c.limit is not None:
                limit = rows[c.limit]
                if limit.seconds and row.seconds:
                    row.ratio = limit.seconds / row.seconds
                    row.ratio_to = c.limit

    def probe_rss(self, group: str, case: str, inputs: Inputs, contenders: list[Contender]
                  ) -> None:
        """Peak RSS of each contender marked ``rss``, each in a fresh process, two at a time
        (memory, unlike time, does not depend on what else runs)."""
        from concurrent.futures import ThreadPoolExecutor

        inputs_json = self.workdir / f"inputs-{case}.json"
        inputs_json.write_text(json.dumps(asdict(inputs)))
        probed = [c for c in contenders if c.rss]
        probed.sort(key=lambda c: c.worker.kind != "tf")  # the slowest first

        def probe(index: int, c: Contender) -> float:
            python = self.args.tf_python if c.worker.kind == "tf" else sys.executable
            prefix = self.workdir / f"rss-{case}-{index}" / "out"
            prefix.parent.mkdir(exist_ok=True)
            proc = subprocess.run(
                [str(python), str(HERE), "--rss-probe", c.worker.kind, case, c.task,
                 str(inputs_json), str(prefix), ""],
                capture_output=True, text=True, env=self.env(c.worker.kind))
            shutil.rmtree(prefix.parent, ignore_errors=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLY)]
            if proc.returncode != 0 or not lines:
                raise SystemExit(f"RSS probe {c.label} failed:\n{proc.stderr[-3000:]}")
            peak: float = json.loads(lines[-1][len(REPLY):])["peak_bytes"]
            return peak

        self.log(f"{group}: peak RSS of {len(probed)} contenders")
        with ThreadPoolExecutor(2) as pool:
            peaks = list(pool.map(probe, range(len(probed)), probed))
        for c, peak in zip(probed, peaks):
            row = self.row(group, c.label)
            assert row is not None
            row.peak_rss_mb = peak / MB

    # -- the run

    def run(self, families: Sequence[Family]) -> dict[str, Any]:
        """One whole run of the families that ``--only`` selects, in registry order; the
        ones with ``uses_workers=False`` after the workers have exited."""
        args = self.args
        only = set(args.only.split(","))
        chosen = [f for f in families if only & set(f.groups)]
        try:
            core = Worker(sys.executable, "core", self.env("core"))
            self.workers.append(core)
            tf = None
            if args.tf_python is not None and any(f.uses_tf for f in chosen):
                self.log(f"starting the TensorFlow worker ({args.tf_python})")
                # It imports TensorFlow while the inputs are generated.
                tf = Worker(str(args.tf_python), "tf", self.env("tf"))
                self.workers.append(tf)
            for family in chosen:
                if family.uses_workers:
                    family.run(self, only, core, tf)
            for w in self.workers:
                w.close()
            self.workers.clear()
            for family in chosen:
                if not family.uses_workers:
                    family.run(self, only, None, None)
        finally:
            for w in self.workers:
                w.close()
            if not args.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return {"machine": machine(args.dir), "config": config(args),
                "elapsed_seconds": time.perf_counter() - self.started,
                "rows": [asdict(r) for r in self.rows], "targets": targets(self.rows),
                "identical_to_tf": self.identical_to_tf}
