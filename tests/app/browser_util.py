"""Helpers shared by the browser tests: polling for a condition, comparing screenshots."""
from __future__ import annotations

import time

import numpy as np


def wait_for(predicate, timeout=60.0, every=0.3, what="condition"):
    """Poll ``predicate`` until it returns something other than None/False; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGB screenshots (over their common area)."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    return float(np.abs(a[:h, :w] - b[:h, :w]).mean())
