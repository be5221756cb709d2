"""Heavy page updates one at a time, server-wide, so the event loop answers requests in
between; the slow half of an update off the loop.

All sessions of a server share one event loop. Building a view or showing a new result
(its data pushed into the plots on the page; new Bokeh plots only when the look changes)
takes ~0.1-1 s of it, several seconds on a loaded machine; when eight sessions do that at
once, every callback that is ready runs before the loop polls its sockets again, and any
other request (a page, a static file, a click in another session) waits for all eight.
:func:`in_turn` queues such an update instead: the updates of all sessions run one after
the other, each after a short pause in which the loop serves whatever else arrived, so a
request waits for at most the update being made. An update may come in two halves:
``prepare()`` runs in a worker thread while the loop goes on serving (work that builds
nothing on the page yet, such as rendering a new HoloViews plot: see :func:`show_plot`),
then ``fn(prepared)`` on the loop. Without a server session (a notebook, a script, a test)
the update is made at once. An update that holds the loop for ``SLOW`` seconds or more is
logged (``page update 'what' held the event loop 0.61 s (0.35 s of CPU)``), so a server's
log says which updates make requests wait, and whether they were slow themselves or
waited for a CPU.

    in_turn(lambda: view.show(result), "a result shown")   # in a callback of a served session
    in_turn(fn, "a result shown", doc)                      # from another thread: the session's document
    show_plot(pane, make_plot, "new plot")                  # render in a thread, attach on the loop
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

log = logging.getLogger(__name__)

PAUSE = 0.02  # seconds the loop serves other requests before each heavy update
# seconds a thread may hold the GIL while another waits for it (Python's default: 0.005); the
# server sets it (app.main). When a job or render thread wants the GIL, the loop hands it over
# at the next interval and then waits until that thread has run, and a job thread runs niced
# among busy processes: with the default a 0.2 s update took up to 1 s of wall time
GIL_SWITCH = 0.05
SLOW = 0.25  # updates holding the loop this long or longer are logged
_lock: asyncio.Lock | None = None
_preparer: ThreadPoolExecutor | None = None  # one thread: turns prepare one at a time
_rendering = threading.local()  # .active while this thread renders a plot not yet on the page
_coming: "weakref.WeakSet" = weakref.WeakSet()  # panes whose new plot is queued and not yet made


class _NotOnAPageYet(logging.Filter):
    """Drops Panel's error about updating a document from another thread while
    :func:`rendered` makes a plot: HoloViews refreshes the new plot (its ranges) as it
    makes it, and those models are on no page yet."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(_rendering, "active", False) and "unlocked decorator" in record.getMessage())


logging.getLogger("panel.io.document").addFilter(_NotOnAPageYet())


def in_turn(fn: Callable[..., None], what: str, doc=None, prepare: Callable[[], Any] | None = None) -> None:
    """Run ``fn()`` (``fn(prepare())`` with ``prepare``) on the event loop of ``doc``'s
    session (default: the current one) after the heavy updates queued before it, with that
    document current.

    Parameters
    ----------
    fn : callable
        The update; it may change widgets and panes of the session.
    what : str
        What the update does, for the log of slow updates.
    doc : bokeh.document.Document, optional
        The session's document (required from threads other than the event loop's).
    prepare : callable, optional
        Work for the update that changes nothing on the page; served, it runs in a worker
        thread (with ``doc`` current there) while the loop answers other requests.
    """
    import panel as pn
    from panel.io.state import set_curdoc

    doc = doc if doc is not None else pn.state.curdoc
    if doc is None or doc.session_context is None:
        fn() if prepare is None else fn(prepare())
        return

    def prepared():
        with set_curdoc(doc):
            return prepare()

    async def turn():
        global _lock, _preparer
        if _lock is None:
            _lock = asyncio.Lock()
        async with _lock:
            await asyncio.sleep(PAUSE)
            args = ()
            try:
                if prepare is not None:
                    if _preparer is None:
                        _preparer = ThreadPoolExecutor(1, thread_name_prefix="roma-render")
                    args = (await asyncio.get_running_loop().run_in_executor(_preparer, prepared),)
                t, cpu = time.perf_counter(), time.thread_time()
                with set_curdoc(doc):
                    fn(*args)
            except Exception:  # nothing above this to report to: keep the traceback in the server log
                log.exception("page update %r failed", what)
                return
            held = time.perf_counter() - t
            if held >= SLOW:  # CPU time much below it: the loop waited for a CPU (or the GIL)
                log.info("page update %r held the event loop %.2f s (%.2f s of CPU)", what, held,
                         time.thread_time() - cpu)
    turn.nolock = True  # Panel applies the changes itself, as for its own async callbacks
    doc.add_next_tick_callback(turn)


def show_plot(pane, make: Callable[[], Any], what: str, then: Callable[[], None] | None = None, doc=None) -> None:
    """Show the HoloViews object ``make()`` returns in the HoloViews ``pane``, in a turn
    (:func:`in_turn`) whose slow half, making the object and rendering its Bokeh plot, runs
    in the worker thread: only attaching the plot to the page holds the event loop.
    ``then()`` runs on the loop after. While a new plot for ``pane`` is queued and not yet
    made (:func:`plot_coming`), another call does nothing: that plot shows what is current
    when it is made."""
    if pane in _coming:
        return
    _coming.add(pane)

    def prepare():
        _coming.discard(pane)
        return rendered(pane, make())

    def attach(plot) -> None:
        pane.object = plot
        if then is not None:
            then()
    try:
        in_turn(attach, what, doc, prepare=prepare)
    except Exception:  # not queued: the next call may try again
        _coming.discard(pane)
        raise


def plot_coming(pane) -> bool:
    """Whether a new plot for ``pane`` is queued (:func:`show_plot`) and not yet made."""
    return pane in _coming


def rendered(pane, obj):
    """The HoloViews plot ``pane`` would make of ``obj`` on its page, made without touching
    the page (what Panel's HoloViews pane does when its object is set, with the document's
    theme), or ``obj`` itself when the pane is on no served page (Panel renders it then)."""
    import holoviews as hv
    from panel.io.state import state

    if obj is None:
        return None
    roots = [state._views[ref] for ref in list(pane._models) if ref in state._views]
    if len(roots) != 1 or roots[0][3] is not None:  # no page, several, or a notebook's comm
        return obj
    _, root, doc, _ = roots[0]
    renderer = hv.renderer("bokeh").instance(mode="server")
    if doc.theme and doc.theme._json != {"attrs": {}}:
        renderer = renderer.instance(theme=doc.theme)
    _rendering.active = True
    try:
        return renderer.get_plot(obj, doc=doc, root=root, margin=pane.margin)
    finally:
        _rendering.active = False


__all__ = ["PAUSE", "SLOW", "in_turn", "plot_coming", "rendered", "show_plot"]
