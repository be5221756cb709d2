"""app.turns: heavy page updates run at once without a server session, and one at a time,
in order, with the event loop free between them, in one."""
from __future__ import annotations

import asyncio
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
    turns.in_turn(lambda: done.append(1))
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
        turns.in_turn(heavy(i), doc)

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
