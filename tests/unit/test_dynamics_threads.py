"""Thread choice in simulate depends on the problem size only, never on the machine's load."""
import os

import numba

from roma_core.dynamics.simulate import PARALLEL_SIZE, threads_for


def test_threads_follow_size_not_load(monkeypatch):
    full = numba.get_num_threads()
    monkeypatch.setattr(os, "getloadavg", lambda: (1e3, 1e3, 1e3), raising=False)
    with threads_for(PARALLEL_SIZE):
        assert numba.get_num_threads() == full
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0), raising=False)
    with threads_for(PARALLEL_SIZE - 1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == full
