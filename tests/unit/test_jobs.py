"""app.jobs.Job without a browser: progress, result delivery, one job per session,
cancel, error messages, delivery through a dispatcher (the event loop's stand-in), the
server-wide queue with its places, the per-job limits, and the job threads' lower priority."""
from __future__ import annotations

import os
import queue
import sys
import threading
import time

import pytest

from app.jobs import JOB_NICE, Job, cancel_all, queue_length, running_job, workers
from app.limits import Limits, parse_bytes, physical_memory, simulation_needs
from app.state import Session
from roma_core.errors import SimulationError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def two_workers(monkeypatch):
    """Two job workers unless a test asks otherwise (the default, half the cores, may be one)."""
    monkeypatch.setenv("ROMA_APP_JOB_WORKERS", "2")


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


def halves(n, progress=None, partial=None):
    """Hands the first half's sum to ``partial`` (when given), then returns the whole sum,
    or None when no ``partial`` was given."""
    if partial is None:
        return None
    partial(sum(range(n // 2)))
    progress(1, 2)
    return sum(range(n))


def test_partial_results_arrive_before_the_result_on_the_owner_thread():
    """``on_partial`` gets an intermediate result through the dispatcher (the event loop),
    before ``on_done`` gets the last; without ``on_partial`` the work gets no ``partial``."""
    inbox: queue.Queue = queue.Queue()
    job = Job(Session(), dispatch=inbox.put)
    got = []
    job.start(halves, 10, on_partial=lambda v: got.append(("partial", v, threading.get_ident())),
              on_done=lambda v: got.append(("done", v, threading.get_ident())))
    deadline = time.monotonic() + 10
    while job.running and time.monotonic() < deadline:
        try:
            inbox.get(timeout=0.1)()
        except queue.Empty:
            pass
    me = threading.get_ident()
    assert got == [("partial", sum(range(5)), me), ("done", sum(range(10)), me)]
    plain = Job(Session())
    plain.start(halves, 10)
    assert plain.wait(10) is None and plain.error == ""


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


def test_one_worker_queues_jobs_and_shows_their_place(monkeypatch):
    monkeypatch.setenv("ROMA_APP_JOB_WORKERS", "1")
    assert workers() == 1
    gate = threading.Event()
    order = []

    def record(name, progress=None):
        order.append(name)
        progress(1, 1)
        return name

    def blocking(started, progress=None):
        started.set()
        gate.wait(10)
        progress(1, 1)
        return 3

    first, second, third, fourth = (Job(Session()) for _ in range(4))
    started = threading.Event()
    assert first.start(blocking, started, label="Simulating")
    assert started.wait(5)  # the one worker is busy from now on
    assert second.start(record, "second", label="Training") and third.start(record, "third", label="Forecasting")
    assert fourth.start(record, "fourth", label="Opening")
    assert (second.queued, third.queued, fourth.queued) == (1, 2, 3) and queue_length() == 3
    assert "waiting in the queue, place 2" in third.status and third.running and third.progress == 0
    third.cancel()  # a waiting job leaves the line at once; the ones behind it move up
    assert not third.running and "cancelled" in third.status and fourth.queued == 2
    gate.set()
    assert first.wait(10) == 3 and second.wait(10) == "second" and fourth.wait(10) == "fourth"
    assert order == ["second", "fourth"] and third.result is None
    assert all(j.queued == 0 for j in (first, second, third, fourth)) and queue_length() == 0
    assert fourth.status.startswith("Opening: done")


def test_limits_refuse_a_job_before_it_starts(monkeypatch):
    monkeypatch.setenv("ROMA_APP_MAX_NODES", "1000")
    monkeypatch.setenv("ROMA_APP_MAX_STEPS", "500")
    monkeypatch.setenv("ROMA_APP_MAX_MEMORY", "1M")
    ran = []
    job = Job(Session())
    for needs, limit in ((dict(nodes=1001), "at most 1,000 per job (roma serve --max-nodes)"),
                         (dict(steps=10**4), "at most 500 per job (roma serve --max-steps)"),
                         (dict(memory=3 * 2**20), "3.0 MiB of memory; this server allows at most 1.0 MiB")):
        assert not job.start(lambda progress=None: ran.append(1), needs=needs, label="Simulating")
        assert limit in job.status and job.status.startswith("⚠ Simulating") and not job.running
    assert job.start(counting, 2, needs=dict(nodes=1000, steps=500, memory=2**20)) and job.wait(10) == 1
    assert ran == []


def test_default_limits_are_sized_to_the_machine(monkeypatch):
    for name in ("ROMA_APP_MAX_NODES", "ROMA_APP_MAX_STEPS", "ROMA_APP_MAX_MEMORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ROMA_APP_JOB_WORKERS", "3")
    limits = Limits.from_env()
    assert limits.max_memory == physical_memory() // 6 and limits.max_nodes == limits.max_memory // 1024
    assert parse_bytes("8G") == 8 * 2**30 and parse_bytes("512m") == 512 * 2**20 and parse_bytes("1.5GiB") == 3 * 2**29
    with pytest.raises(Exception, match="not a memory size"):
        parse_bytes("lots")
    # a simulation: ceil(t_end / dt) steps; a chunk of at most 64 frames of float32 state in memory
    need = simulation_needs(1000, 5000, t_end=1.0, dt=0.001, save_every=10)
    assert need["steps"] == 1000 and need["memory"] == 12 * 5000 + 128 * 1000 + 64 * 1000 * 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness is per thread on Linux only")
def test_jobs_and_the_threads_they_start_run_nicer_than_the_server():
    def niceness():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def measure(progress=None):
        inner = []
        t = threading.Thread(target=lambda: inner.append(niceness()))
        t.start()
        t.join()
        return niceness(), inner[0]
    server = niceness()
    job = Job(Session())
    job.start(measure)
    expected = min(19, server + JOB_NICE)
    assert job.wait(10) == (expected, expected)
    assert niceness() == server  # the caller (the event loop's thread) keeps its priority
