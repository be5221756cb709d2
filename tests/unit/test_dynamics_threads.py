"""Thread choice in simulate depends on the problem size and backend only, never on the
machine's load, and applies to the calling thread only."""
import os
import threading

import numba
import torch

from roma_core.dynamics.simulate import PARALLEL_SIZE, threads_for


def test_threads_follow_size_not_load(monkeypatch):
    full, torch_full = numba.get_num_threads(), torch.get_num_threads()
    monkeypatch.setattr(os, "getloadavg", lambda: (1e3, 1e3, 1e3), raising=False)
    with threads_for(PARALLEL_SIZE, "torch"):
        assert numba.get_num_threads() == full and torch.get_num_threads() == torch_full
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0), raising=False)
    with threads_for(PARALLEL_SIZE - 1, "numba"):
        assert numba.get_num_threads() == 1 and torch.get_num_threads() == 1
    assert numba.get_num_threads() == full and torch.get_num_threads() == torch_full


def test_numba_backend_keeps_torch_on_one_thread_in_its_own_thread_only():
    full, torch_full = numba.get_num_threads(), torch.get_num_threads()
    inside, checked, seen = threading.Event(), threading.Event(), {}

    def run():
        with threads_for(PARALLEL_SIZE, "numba"):
            seen["inside"] = (numba.get_num_threads(), torch.get_num_threads())
            inside.set()
            checked.wait(10)

    worker = threading.Thread(target=run)
    worker.start()
    assert inside.wait(10)
    seen["main"] = torch.get_num_threads()        # while the worker is inside
    checked.set()
    worker.join()
    assert seen["inside"] == (full, 1)
    assert seen["main"] == torch_full and torch.get_num_threads() == torch_full
