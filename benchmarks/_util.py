"""Shared helpers for benchmarks: timing, peak RSS, fresh-subprocess runs, machine load.

``isolated("pkg.module:function", *args, warmup=(...), **kwargs)`` runs the function in a
fresh Python process (so peak RSS belongs to that run alone) and returns a dict with
``wall_s`` (the call only, after imports and an optional warm-up call), ``cpu_s`` (CPU
seconds of all the process's threads during the call: less sensitive than wall time to
other users of a shared machine), ``peak_rss_mib``
(the process's peak resident memory), ``base_rss_mib`` (RSS before the call) and
``result`` (the function's return value, which must be JSON-serialisable).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_MARK = "@@bench-result@@"


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed(fn, *args, repeat: int = 1, **kwargs):
    """Call ``fn`` ``repeat`` times; return ``(last result, best wall seconds)``."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return result, best


def machine_load() -> str:
    """One line about how busy the (shared) machine is right now."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def isolated(target: str, *args, warmup: tuple | None = None, timeout: float = 600, env: dict | None = None,
             **kwargs) -> dict:
    """Run ``module:function(*args, **kwargs)`` in a fresh interpreter; see the module doc."""
    payload = json.dumps({"target": target, "args": args, "kwargs": kwargs, "warmup": warmup})
    proc = subprocess.run([sys.executable, "-m", "benchmarks._util", payload], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
    raise RuntimeError(f"{target} failed in its subprocess (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _child(payload: str) -> None:
    import importlib

    job = json.loads(payload)
    module, name = job["target"].split(":")
    fn = getattr(importlib.import_module(module), name)
    if job["warmup"] is not None:
        fn(*job["warmup"])
    base = current_rss_mib()
    start, cpu = time.perf_counter(), time.process_time()
    result = fn(*job["args"], **job["kwargs"])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(_MARK + json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_mib": peak_rss_mib(), "base_rss_mib": base,
                              "result": result}))


if __name__ == "__main__":
    _child(sys.argv[1])
