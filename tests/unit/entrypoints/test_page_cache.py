"""The API's cache of serialised pages: least recently used dropped first past its byte budget, entries
gone after their time to live, a body larger than the budget never stored."""

from __future__ import annotations

import pytest

from monitor.entrypoints.api.pages import PageCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_least_recently_used_goes_first_past_the_budget() -> None:
    cache = PageCache(max_bytes=10)
    cache.put("a", b"aaaa")
    cache.put("b", b"bbbb")
    assert cache.get("a") == b"aaaa"  # now "b" is the least recently used
    cache.put("c", b"cccc")
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), cache.size) == (b"aaaa", b"cccc", 8)


def test_entries_expire_and_a_put_replaces() -> None:
    clock = Clock()
    cache = PageCache(max_bytes=100, ttl=5.0, now=clock)
    cache.put(("run", 1), b"old")
    cache.put(("run", 1), b"newer")
    assert (cache.get(("run", 1)), cache.size) == (b"newer", 5)
    clock.now = 4.9
    assert cache.get(("run", 1)) == b"newer"
    clock.now = 5.0
    assert (cache.get(("run", 1)), cache.size) == (None, 0)


def test_a_body_larger_than_the_budget_is_not_stored() -> None:
    cache = PageCache(max_bytes=3)
    cache.put("big", b"four")
    assert (cache.get("big"), cache.size) == (None, 0)
    with pytest.raises(ValueError):
        PageCache(max_bytes=0)
