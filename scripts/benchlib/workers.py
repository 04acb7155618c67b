"""Worker processes of the benchmark: the process side (:func:`worker_main`) and the
driver side (:class:`Worker`).

A worker is ``scripts/bench.py --worker KIND`` (KIND ``core`` in this interpreter, ``tf`` in
TensorFlow's venv).  It answers JSON commands on stdin with ``REPLY``-prefixed JSON lines
on stdout, so every contender runs warm, in its own process.  The commands are the
families' ``worker_ops`` (see benchlib/__init__.py): ``{"op": NAME, ...}`` calls
``handler(kind, command, state)``, whose dict is the reply; ``state`` is one dict per
worker that the handlers share (loaded inputs, TensorFlow-side objects).  ``exit`` ends it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from typing import Any

from .common import HERE, REPLY, WorkerOp


def has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(REPLY + json.dumps(message) + "\n")
    sys.stdout.flush()


def worker_main(kind: str, ops: Mapping[str, WorkerOp]) -> int:
    """Serve commands (JSON lines on stdin) until "exit"; replies are REPLY-prefixed lines."""
    import_seconds = None
    if kind == "tf":
        start = time.perf_counter()
        import tensorflow  # noqa: F401

        import_seconds = time.perf_counter() - start
    reply({"ready": True, "import_seconds": import_seconds,
           "safetensors": has_module("safetensors")})
    state: dict[str, Any] = {}
    for line in sys.stdin:
        command = json.loads(line)
        try:
            op = command["op"]
            if op == "exit":
                return 0
            if op not in ops:
                raise ValueError(f"unknown op {op!r}")
            reply(ops[op](kind, command, state))
        except Exception:
            reply({"error": traceback.format_exc()})
    return 0


class Worker:
    """A worker subprocess and its command channel."""

    def __init__(self, python: str, kind: str, env: dict[str, str]) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(
            [python, str(HERE), "--worker", kind], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if kind == "tf" else None,
            text=True, env=env)
        self._hello: dict[str, Any] | None = None

    @property
    def hello(self) -> dict[str, Any]:
        """The worker's first message (waits for it: TensorFlow takes seconds to import)."""
        if self._hello is None:
            self._hello = self.receive()
        return self._hello

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(REPLY):
                message: dict[str, Any] = json.loads(line[len(REPLY):])
                if "error" in message:
                    raise SystemExit(f"{self.kind} worker failed:\n{message['error']}")
                return message
        raise SystemExit(f"{self.kind} worker exited (status {self.proc.wait()})")

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.hello  # noqa: B018  (the first message must be read before any reply)
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def call(self, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.receive()

    def close(self) -> None:
        try:
            self.send(op="exit")
        except (BrokenPipeError, SystemExit):
            pass
        self.proc.wait()
