"""Heavy page updates one at a time, server-wide, so the event loop answers requests in
between.

All sessions of a server share one event loop. Building a view or showing a new result
(its data pushed into the plots on the page; new Bokeh plots only when the look changes)
takes ~0.1-1 s of it, several seconds on a loaded machine; when eight sessions do that at
once, every callback that is ready runs before the loop polls its sockets again, and any
other request (a page, a static file, a click in another session) waits for all eight.
:func:`in_turn` queues such an update instead: the updates of all sessions run one after
the other, each after a short pause in which the loop serves whatever else arrived, so a
request waits for at most the update being made. Without a server session (a notebook, a
script, a test) the update is made at once.

    in_turn(lambda: view.show(result))       # in a callback of a served session
    in_turn(fn, doc)                          # from another thread: the session's document
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

log = logging.getLogger(__name__)

PAUSE = 0.02  # seconds the loop serves other requests before each heavy update
_lock: asyncio.Lock | None = None


def in_turn(fn: Callable[[], None], doc=None) -> None:
    """Run ``fn()`` on the event loop of ``doc``'s session (default: the current one) after
    the heavy updates queued before it, with that document current.

    Parameters
    ----------
    fn : callable
        The update; it may change widgets and panes of the session.
    doc : bokeh.document.Document, optional
        The session's document (required from threads other than the event loop's).
    """
    import panel as pn
    from panel.io.state import set_curdoc

    doc = doc if doc is not None else pn.state.curdoc
    if doc is None or doc.session_context is None:
        fn()
        return

    async def turn():
        global _lock
        if _lock is None:
            _lock = asyncio.Lock()
        async with _lock:
            await asyncio.sleep(PAUSE)
            with set_curdoc(doc):
                try:
                    fn()
                except Exception:  # nothing above this to report to: keep the traceback in the server log
                    log.exception("a page update failed")
    turn.nolock = True  # Panel applies the changes itself, as for its own async callbacks
    doc.add_next_tick_callback(turn)


__all__ = ["PAUSE", "in_turn"]
