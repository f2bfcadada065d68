"""A bounded in-process cache of serialised response bodies of things stored once and never changed.

An analysis run's stratum results are written with the run, in its one transaction, and no code path
updates or deletes them afterwards; so a page of them (one run, filter, limit and offset) is the same
bytes on every request. Serving the bytes from memory skips the query, the row-to-model conversion, the
response validation and the JSON encoding: the per-request work that made 50 concurrent readers queue
behind each other (bench/bench_api.py). Authentication and permission checks still run on every request:
the cache sits behind them.

Entries are dropped least recently used first past ``max_bytes``, and after ``ttl`` seconds, which also
bounds how long a running server can serve a page of a run that ``restore --force`` replaced underneath it
(the only way a stored run goes away, docs/service.md "Backup and restore").
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

__all__ = ["PageCache"]


class PageCache:
    """Response bodies by key, least recently used dropped first past ``max_bytes``, each kept ``ttl`` s."""

    def __init__(self, max_bytes: int = 32 * 2**20, ttl: float = 300.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        if max_bytes < 1 or ttl <= 0:
            raise ValueError("max_bytes must be at least 1 and ttl positive")
        self.max_bytes = max_bytes
        self.ttl = ttl
        self._now = now
        self._entries: OrderedDict[Hashable, tuple[bytes, float]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes held (no ``__len__``: an empty cache must not be falsy)."""
        return self._bytes

    def get(self, key: Hashable) -> bytes | None:
        """The body stored under ``key`` within its time to live, else ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[1] <= self._now():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, body: bytes) -> None:
        """Store ``body`` under ``key`` (a body larger than the whole budget is not stored)."""
        if len(body) > self.max_bytes:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (body, self._now() + self.ttl)
            self._bytes += len(body)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: Hashable) -> None:
        body, _ = self._entries.pop(key)
        self._bytes -= len(body)
