"""A process-wide LRU of expensive results shared by all browser sessions."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable


class SharedCache:
    """Keeps the ``size`` most recently used results. Each key is computed once: a second
    caller (another view or session) asking for a key being computed waits for it."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict = {}

    def get(self, key: Hashable):
        """The cached value, or None (never computes)."""
        with self._lock:
            return self._items.get(key)

    def get_or_compute(self, key: Hashable, compute: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = compute()
            with self._lock:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._key_locks.pop(key, None)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
