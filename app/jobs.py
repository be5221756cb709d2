"""Background jobs for the dashboard: long work off the Bokeh event loop, with progress,
cancel and a result handed back on the event loop.

Usage in a view::

    job = Job(session)                       # any number of Jobs per session ...
    pn.indicators.Progress(value=job.param.progress, max=100, visible=job.param.running)
    job.start(simulate, spec, graph, t_end=1.0, dt=1e-3, on_done=show)   # fn(..., progress=cb)
    job.cancel()

Rules:

* **One job per session at a time.** A second ``start`` in the same session (from this
  Job or another view's) is *refused*: it returns ``False`` and ``status`` says which job
  is running (the user can cancel it or wait). Sessions are independent.
* **One queue for the server.** Jobs of all sessions run in one pool of ``workers()``
  threads (``ROMA_APP_JOB_WORKERS``, ``roma serve --workers``; default half the cores;
  numba/torch kernels release the GIL). On Linux, where niceness is per thread, the
  workers (and the numba/torch threads they start) run ``JOB_NICE`` nicer than the
  server: jobs are batch work, and the event loop that answers every page comes first.
  A job that finds every worker busy waits in line: ``queued`` is its place (1 = next)
  and ``status`` says so, beside the progress bar.
* **Limits.** ``start(..., needs=dict(nodes=, steps=, memory=))`` checks the needs against
  the server's :class:`app.limits.Limits` before anything runs, and refuses (False, the
  limit in ``status``) a job that asks for more.
* ``fn`` gets a ``progress(done, total)`` keyword argument (the library's callback
  convention). It feeds ``progress`` (0..100, at most ~10 updates a second) and raises
  :class:`roma_core.errors.Cancelled` once :meth:`Job.cancel` was called.
* Showing early: with ``on_partial``, ``fn`` also gets a ``partial(value)`` keyword argument;
  each call hands an intermediate result (the first window of a forecast, say) to
  ``on_partial(value)`` on the event loop, as ``on_done`` is handed the last.
* Finishing: ``on_done(result)`` runs on the session's event loop (with its document
  current, so it may touch widgets and plots), in turn with other sessions' heavy updates
  (:mod:`app.turns`: the loop answers other requests between them); a :class:`RomaError` shows its message in
  ``status`` and ``error`` (never a traceback; other exceptions are logged with their
  traceback and shown as one line); ``on_error(exc)`` is called too when given.
* Stopping the server (``cancel_all``, called when ``roma serve`` returns) cancels every
  running job; a job that fails after it was asked to stop counts as cancelled, not as a
  bug (its inputs may be gone mid-shutdown).
* Params updated from the worker thread are applied on the event loop: when a job is
  started inside a server session, every update is scheduled with the document's
  ``add_next_tick_callback``; in a notebook or a plain script (no server document) it
  runs at once in the worker thread. ``dispatch=`` overrides this (tests).
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

import param

from roma_core.errors import Cancelled, LimitError, RomaError

from .limits import Limits, default_workers
from .turns import in_turn

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.1  # seconds between progress updates sent to the page
JOB_NICE = 10  # niceness of the job threads above the server's (Linux)

_pool: ThreadPoolExecutor | None = None
_pool_workers = 0
_pool_lock = threading.Lock()
_active: "weakref.WeakKeyDictionary[object, Job]" = weakref.WeakKeyDictionary()  # session -> running job
_active_lock = threading.Lock()
_waiting: "list[Job]" = []  # jobs submitted and not yet started, oldest first (guarded by _active_lock)
_busy = [0]                 # jobs running on a worker now (guarded by _active_lock)
_NO_SESSION = type("NoSession", (), {})  # stand-in key when a Job has no session


def workers() -> int:
    """How many jobs run at once (``ROMA_APP_JOB_WORKERS``; default half the cores)."""
    try:
        return max(1, int(os.environ.get("ROMA_APP_JOB_WORKERS") or default_workers()))
    except ValueError as exc:
        raise LimitError(f"ROMA_APP_JOB_WORKERS must be a whole number, got "
                         f"{os.environ['ROMA_APP_JOB_WORKERS']!r}") from exc


def _nicer() -> None:
    """Lower the calling thread's priority by ``JOB_NICE`` (Linux only: elsewhere niceness
    is per process, and the event loop must keep its own). Threads it starts inherit it."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + JOB_NICE))
    except OSError as exc:  # not allowed here (a container's policy): jobs keep the server's priority
        log.warning("job threads keep the server's priority: %s", exc)


def pool() -> ThreadPoolExecutor:
    """The thread pool shared by all sessions' jobs (:func:`workers` threads; a new pool
    when that number changed while no job was queued or running)."""
    global _pool, _pool_workers
    with _pool_lock:
        n = workers()
        if _pool is not None and n != _pool_workers and not _waiting and not _busy[0]:
            _pool.shutdown(wait=False)
            _pool = None
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="roma-job", initializer=_nicer)
            _pool_workers = n
        return _pool


def queue_length() -> int:
    """Jobs waiting for a worker now."""
    with _active_lock:
        return len(_waiting)


def _announce_queue() -> None:
    """Tell every waiting job its place in line (when it changed)."""
    with _active_lock:
        places = [(job, i + 1) for i, job in enumerate(_waiting)] if _busy[0] >= _pool_workers else []
    for job, place in places:
        if job.queued != place:
            job._dispatch(lambda job=job, place=place: job.param.update(
                queued=place, status=f"{job.label}: waiting in the queue, place {place} "
                                     f"(all {_pool_workers} job worker(s) of the server are busy)")
                if job.running else None)


def running_job(session) -> "Job | None":
    """The job running in ``session`` now, if any."""
    with _active_lock:
        return _active.get(session)


def cancel_all() -> int:
    """Ask every running job to stop (the server is shutting down); returns how many."""
    with _active_lock:
        jobs = list(_active.values())
    for job in jobs:
        job._cancel.set()
    if jobs:
        log.warning("stopping: cancelled %d running job(s): %s", len(jobs), ", ".join(j.label for j in jobs))
    return len(jobs)


class Job(param.Parameterized):
    """Runs one function at a time in the background for a session; see the module doc."""

    running = param.Boolean(default=False, doc="a job is running now")
    progress = param.Integer(default=0, bounds=(0, 100), doc="percent done of the running (or last) job")
    status = param.String(default="", doc="what the job is doing, or how it ended (a sentence for the user)")
    error = param.String(default="", doc="message of the last job's error ('' when it succeeded)")
    label = param.String(default="job", doc="what the running job does, e.g. 'Simulating'")
    queued = param.Integer(default=0, bounds=(0, None), doc="place in the server's queue (0: not waiting)")

    def __init__(self, session=None, dispatch: Callable[[Callable[[], None]], None] | None = None, **params):
        super().__init__(**params)
        self._session = session if session is not None else _NO_SESSION()
        self._dispatch_fn = dispatch
        self._cancel = threading.Event()
        self._doc = None
        self._watched = None
        self.future: Future | None = None
        self.result: Any = None

    # ------------------------------------------------------------------ API
    def start(self, fn: Callable, *args, on_done: Callable[[Any], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None, label: str = "Working",
              needs: dict | None = None, on_partial: Callable[[Any], None] | None = None, **kwargs) -> bool:
        """Run ``fn(*args, progress=cb, **kwargs)`` in the background (and ``partial=cb``
        with ``on_partial``). Returns False (and says why in ``status``) when a job already
        runs in this session, or when ``needs`` (``nodes``, ``steps``, ``memory`` in bytes)
        exceed the server's limits."""
        if needs:
            try:
                Limits.from_env().check(**needs, what=label)
            except LimitError as exc:
                self.param.update(error=str(exc), status=f"⚠ {exc}")
                return False
        with _active_lock:
            other = _active.get(self._session)
            if other is not None:
                what = "this view" if other is self else "another view"
                self.status = (f"⚠ {other.label} is still running in {what}; wait for it to finish or "
                               "cancel it before starting another job")
                return False
            _active[self._session] = self
        self._doc = self._current_doc()
        self._cancel.clear()
        self.result = None
        self.param.update(running=True, progress=0, error="", label=label, status=f"{label}…", queued=0)
        if self._doc is not None and self._doc is not self._watched:
            self._watch_session_end(self._doc)
            self._watched = self._doc
        if on_partial is not None:
            kwargs["partial"] = lambda value: self._dispatch(lambda: on_partial(value) if self.running else None,
                                                             heavy=True)
        executor = pool()
        with _active_lock:
            _waiting.append(self)
        self.future = executor.submit(self._run, fn, args, kwargs, on_done, on_error)
        _announce_queue()
        return True

    def cancel(self) -> None:
        """Ask the running job to stop (at its next progress report)."""
        if self.running:
            self._cancel.set()
            self.status = f"{self.label}: cancelling…"
            with _active_lock:  # still waiting in the queue: leave it now
                left = self in _waiting and self.future is not None and self.future.cancel()
                if left:
                    _waiting.remove(self)
            if left:
                self._dispatch(lambda: self._finish(("cancelled", None), 0.0, None, None))
                _announce_queue()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the job has finished and its result was delivered (notebooks, tests);
        returns the result (None when it failed or was cancelled)."""
        if self.future is not None and not self.future.cancelled():
            self.future.result(timeout=timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.label} did not finish within {timeout} s")
            time.sleep(0.01)
        return self.result

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _current_doc():
        try:
            import panel as pn

            doc = pn.state.curdoc
        except Exception:  # pragma: no cover - panel always importable in the app
            return None
        return doc if doc is not None and doc.session_context is not None else None

    def _watch_session_end(self, doc) -> None:
        ref = weakref.ref(self)

        def ended(_ctx):
            job = ref()
            if job is not None:
                job._cancel.set()
                job._doc = None  # nothing left to update
        try:
            doc.on_session_destroyed(ended)
        except Exception:  # pragma: no cover - best effort
            pass

    def _dispatch(self, fn: Callable[[], None], heavy: bool = False) -> None:
        """Run ``fn`` on the session's event loop (or right here when there is none); a
        ``heavy`` one (showing the result) in turn with other sessions' heavy updates
        (:func:`app.turns.in_turn`)."""
        if self._dispatch_fn is not None:
            self._dispatch_fn(fn)
            return
        doc = self._doc
        if doc is None or doc.session_context is None:
            fn()
            return
        if heavy:
            try:
                in_turn(fn, f"{self.label}: result shown", doc)
            except Exception:  # the session is gone: nobody to tell
                log.debug("job result dropped: the session has ended")
            return
        from panel.io.state import set_curdoc

        def tick():
            with set_curdoc(doc):
                fn()
        try:
            doc.add_next_tick_callback(tick)
        except Exception:  # the session is gone: nobody to tell
            log.debug("job update dropped: the session has ended")

    def _reporter(self) -> Callable[[float, float], None]:
        last = [0.0, -1]

        def progress(done: float, total: float) -> None:
            if self._cancel.is_set():
                raise Cancelled(f"{self.label} cancelled by the user")
            pct = int(max(0.0, min(1.0, float(done) / float(total) if total else 0.0)) * 100)
            now = time.monotonic()
            if pct != last[1] and (now - last[0] >= PROGRESS_INTERVAL or pct == 100):
                last[0], last[1] = now, pct
                self._dispatch(lambda: self.param.update(progress=pct) if self.running else None)
        return progress

    def _run(self, fn, args, kwargs, on_done, on_error) -> None:
        with _active_lock:
            if self in _waiting:
                _waiting.remove(self)
            _busy[0] += 1
        if self.queued:
            self._dispatch(lambda: self.param.update(queued=0, status=f"{self.label}…") if self.running else None)
        _announce_queue()
        t0 = time.monotonic()
        outcome: tuple[str, Any]
        try:
            if self._cancel.is_set():  # cancelled while it waited in the queue
                raise Cancelled(f"{self.label} cancelled before it started")
            outcome = ("done", fn(*args, progress=self._reporter(), **kwargs))
        except Cancelled as exc:
            outcome = ("cancelled", exc)
        except RomaError as exc:
            outcome = ("error", exc)
        except Exception as exc:
            if self._cancel.is_set():  # asked to stop, then its inputs went away (server shutdown)
                log.info("%s stopped after cancel: %s: %s", self.label, type(exc).__name__, exc)
                outcome = ("cancelled", exc)
            else:  # a bug, not bad input: keep the traceback in the server log
                log.exception("%s failed", self.label)
                outcome = ("error", exc)
        with _active_lock:
            _busy[0] -= 1
        self._dispatch(lambda: self._finish(outcome, time.monotonic() - t0, on_done, on_error), heavy=True)

    def _finish(self, outcome, seconds: float, on_done, on_error) -> None:
        kind, value = outcome
        try:
            if kind == "done":
                self.result = value
                self.param.update(progress=100, status=f"{self.label}: done in {seconds:.1f} s")
                if on_done is not None:
                    on_done(value)
            elif kind == "cancelled":
                self.status = f"{self.label}: cancelled after {seconds:.1f} s"
            else:
                msg = str(value) if isinstance(value, RomaError) else f"unexpected error ({type(value).__name__}: {value})"
                self.param.update(error=msg, status=f"⚠ {self.label} failed: {msg}")
                if on_error is not None:
                    on_error(value)
        except RomaError as exc:  # on_done itself met bad data
            self.param.update(error=str(exc), status=f"⚠ {exc}")
        except Exception as exc:
            log.exception("%s: delivering the result failed", self.label)
            self.param.update(error=str(exc), status=f"⚠ unexpected error ({type(exc).__name__}: {exc})")
        finally:
            with _active_lock:
                if _active.get(self._session) is self:
                    del _active[self._session]
            self.param.update(running=False, queued=0)


__all__ = ["JOB_NICE", "Job", "cancel_all", "pool", "queue_length", "running_job", "workers"]
