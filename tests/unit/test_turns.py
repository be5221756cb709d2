"""app.turns: heavy page updates run at once without a server session, and one at a time,
in order, with the event loop free between them, in one; their prepared half (a plot's
rendering) in a worker thread while the loop answers; slow ones logged."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from app import turns


class FakeDoc:
    """A served session's document as far as in_turn uses it."""

    def __init__(self):
        self.session_context = SimpleNamespace()
        self.callbacks = []

    def add_next_tick_callback(self, cb):
        assert getattr(cb, "nolock", False)
        self.callbacks.append(cb)


def test_without_a_session_the_update_runs_at_once():
    done = []
    turns.in_turn(lambda: done.append(1), "a test update")
    assert done == [1]


def test_updates_of_sessions_take_turns_and_the_loop_runs_between_them():
    docs = [FakeDoc(), FakeDoc()]
    log = []

    def heavy(name):
        def fn():
            log.append(("start", name))
            time.sleep(0.05)  # blocks the loop, like a HoloViews render
            log.append(("end", name))
        return fn
    for i, doc in enumerate(docs):
        turns.in_turn(heavy(i), f"update {i}", doc)

    async def main():
        turns._lock = None  # a lock of this test's loop

        async def ticker():  # another request: it must get the loop between the two updates
            while sum(e[0] == "end" for e in log) < 2:
                log.append(("tick", None))
                await asyncio.sleep(0.005)
        await asyncio.gather(ticker(), *(cb() for doc in docs for cb in doc.callbacks))
    with ThreadPoolExecutor(1) as pool:   # a fresh loop: the suite may hold one in this thread
        pool.submit(asyncio.run, main()).result()
    order = [e for e in log if e[0] != "tick"]
    assert order == [("start", 0), ("end", 0), ("start", 1), ("end", 1)]
    between = log[log.index(("end", 0)):log.index(("start", 1))]
    assert ("tick", None) in between


def test_a_slow_update_is_logged_with_what_it_did(caplog):
    doc = FakeDoc()
    turns.in_turn(lambda: time.sleep(turns.SLOW + 0.01), "a slow plot", doc)
    turns.in_turn(lambda: None, "a quick one", doc)

    async def main():
        turns._lock = None
        for cb in doc.callbacks:
            await cb()
    with caplog.at_level("INFO", logger="app.turns"), ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()
    held = [r.getMessage() for r in caplog.records if "held the event loop" in r.getMessage()]
    assert len(held) == 1 and held[0].startswith("page update 'a slow plot' held the event loop")


def test_the_prepared_half_runs_off_the_loop_while_it_answers():
    doc = FakeDoc()
    log = []

    def prepare():  # blocks its thread, like rendering a plot
        import panel as pn
        log.append(("prepare", threading.get_ident(), pn.state.curdoc is doc))
        time.sleep(0.2)
        return "plot"
    turns.in_turn(lambda made: log.append(("attach", made)), "a new plot", doc, prepare=prepare)

    async def main():
        turns._lock = None
        ticks = [threading.get_ident()]  # the loop's thread, then the times it answered

        async def ticker():  # another request: it is answered while the plot is prepared
            while not any(e[0] == "attach" for e in log):
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)
        await asyncio.gather(ticker(), *(cb() for cb in doc.callbacks))
        return ticks
    with ThreadPoolExecutor(1) as pool:
        loop_thread, *ticks = pool.submit(asyncio.run, main()).result()
    assert log[1] == ("attach", "plot") and log[0][0] == "prepare"
    assert log[0][1] != loop_thread and log[0][2], "prepared in the loop's thread, or without the document"
    assert len(ticks) >= 10 and max(b - a for a, b in zip(ticks, ticks[1:])) < 0.1


def test_a_plot_for_a_pane_on_no_page_is_the_object_itself():
    import holoviews as hv
    import panel as pn

    curve = hv.Curve([1, 2, 3])
    pane = pn.pane.HoloViews(None)
    assert turns.rendered(pane, curve) is curve and turns.rendered(pane, None) is None
    done = []
    turns.show_plot(pane, lambda: curve, "a plot", then=lambda: done.append(pane.object))
    assert done == [curve]


def test_a_plot_already_coming_for_a_pane_is_not_queued_again():
    import holoviews as hv
    import panel as pn

    doc, pane = FakeDoc(), pn.pane.HoloViews(None)
    made = []

    def make():
        made.append(len(made))
        return hv.Curve([1, 2, len(made)])
    turns.show_plot(pane, make, "a plot", doc=doc)
    turns.show_plot(pane, make, "the same plot", doc=doc)  # shown by the one queued: nothing more
    assert len(doc.callbacks) == 1 and turns.plot_coming(pane)

    async def main():
        turns._lock = None
        for cb in list(doc.callbacks):
            await cb()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()
    assert made == [0] and not turns.plot_coming(pane) and isinstance(pane.object, hv.Curve)
    turns.show_plot(pane, make, "a later plot", doc=doc)
    assert len(doc.callbacks) == 2
