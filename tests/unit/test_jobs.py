"""app.jobs.Job without a browser: progress, result delivery, one job per session,
cancel, error messages, and delivery through a dispatcher (the event loop's stand-in)."""
from __future__ import annotations

import queue
import threading
import time

import pytest

from app.jobs import Job, cancel_all, running_job
from app.state import Session
from roma_core.errors import SimulationError

pytestmark = pytest.mark.timeout(60)


def counting(n, step_s=0.0, gate=None, progress=None):
    """Reports progress n times and returns the sum 0 + 1 + ... + n-1."""
    total = 0
    for i in range(n):
        if gate is not None:
            gate.wait(5)
        total += i
        progress(i + 1, n)
        time.sleep(step_s)
    return total


def test_result_progress_and_status():
    session = Session()
    job = Job(session)
    got = []
    assert job.start(counting, 50, on_done=got.append, label="Counting")
    assert job.wait(10) == sum(range(50))
    assert got == [sum(range(50))]
    assert job.progress == 100 and not job.running and job.error == ""
    assert job.status.startswith("Counting: done")
    assert running_job(session) is None


def test_progress_values_seen_while_running():
    job = Job(Session())
    seen = []
    job.param.watch(lambda e: seen.append(e.new), "progress")
    job.start(counting, 20, 0.06)
    job.wait(10)
    # throttled (<= ~10 updates/s) but increasing, ending at 100
    assert seen == sorted(seen) and seen[-1] == 100 and 3 <= len(seen) <= 21


def test_one_job_per_session_refused_not_queued():
    session = Session()
    gate = threading.Event()
    a, b = Job(session), Job(session)
    assert a.start(counting, 3, 0.0, gate, label="Simulating")
    assert running_job(session) is a
    assert not b.start(counting, 3)  # another view of the same session
    assert "Simulating is still running in another view" in b.status
    assert not a.start(counting, 3)  # the same view
    assert "this view" in a.status
    # another session is independent
    other = Job(Session())
    assert other.start(counting, 3)
    assert other.wait(10) == 3
    gate.set()
    assert a.wait(10) == 3
    assert b.start(counting, 4) and b.wait(10) == 6  # free again


def test_cancel_raises_cancelled_from_progress():
    job = Job(Session())
    done = []
    job.start(counting, 10_000, 0.001, on_done=done.append, label="Simulating")
    time.sleep(0.1)
    job.cancel()
    assert job.wait(10) is None
    assert done == [] and not job.running
    assert "cancelled" in job.status and job.error == ""


def test_server_stop_cancels_jobs_and_a_failure_after_it_is_no_error(caplog):
    """What ``roma serve`` does on exit: running jobs are cancelled; one whose inputs vanish
    in the shutdown (a closed thread pool) ends as cancelled, without a logged traceback."""
    stopping = threading.Event()

    def reads_until_pool_closes(progress=None):
        stopping.wait(5)
        raise RuntimeError("cannot schedule new futures after shutdown")

    sessions = [Session(), Session()]
    stuck, polite = Job(sessions[0]), Job(sessions[1])
    stuck.start(reads_until_pool_closes, label="Forecasting")
    polite.start(counting, 10_000, 0.001, label="Simulating")
    assert cancel_all() == 2
    stopping.set()
    for job in (stuck, polite):
        assert job.wait(10) is None
        assert "cancelled" in job.status and job.error == ""
    assert not any(r.levelname == "ERROR" for r in caplog.records)
    assert cancel_all() == 0


def test_roma_error_message_without_traceback():
    def bad(progress=None):
        raise SimulationError("dt = 1 is above the stability limit; reduce dt")

    errors = []
    job = Job(Session())
    job.start(bad, on_error=errors.append, label="Simulating")
    job.wait(10)
    assert job.error == "dt = 1 is above the stability limit; reduce dt"
    assert job.status == "⚠ Simulating failed: dt = 1 is above the stability limit; reduce dt"
    assert "Traceback" not in job.status and isinstance(errors[0], SimulationError)


def test_unexpected_error_is_one_line(caplog):
    def buggy(progress=None):
        return {}["missing"]

    job = Job(Session())
    job.start(buggy)
    job.wait(10)
    assert job.error == "unexpected error (KeyError: 'missing')"
    assert "\n" not in job.status
    assert any("failed" in r.message for r in caplog.records)  # traceback logged server-side


def test_updates_delivered_through_dispatcher_on_owner_thread():
    """With a dispatcher (what the server's event loop does), on_done and param updates
    run on the thread that pumps it, never on the worker thread."""
    inbox: queue.Queue = queue.Queue()
    job = Job(Session(), dispatch=inbox.put)
    threads = []
    job.param.watch(lambda e: threads.append(threading.get_ident()), ["progress", "running"])
    job.start(counting, 30, 0.005, on_done=lambda r: threads.append(threading.get_ident()))
    me = threading.get_ident()
    deadline = time.monotonic() + 10
    while job.running and time.monotonic() < deadline:
        try:
            inbox.get(timeout=0.1)()
        except queue.Empty:
            pass
    assert not job.running and job.result == sum(range(30))
    assert threads and set(threads) == {me}


def test_two_sessions_run_at_the_same_time():
    """Jobs of two sessions overlap in time (the pool runs them side by side)."""
    spans = {}

    def timed(name, progress=None):
        t0 = time.monotonic()
        time.sleep(0.5)
        progress(1, 1)
        spans[name] = (t0, time.monotonic())
        return name

    a, b = Job(Session()), Job(Session())
    a.start(timed, "a")
    b.start(timed, "b")
    assert a.wait(10) == "a" and b.wait(10) == "b"
    assert spans["a"][0] < spans["b"][1] and spans["b"][0] < spans["a"][1]
