"""A monotonic timer queue for the router.

Theory of operation: the router never sleeps; it keeps its wishes to be
woken in a heap of `(due, seq, kind, key)` entries and answers
`next_deadline()` with the earliest. `handle()` pops and fires every entry
due at `now` before processing the event. Entries are not removed when they
become irrelevant (a retry that was cancelled, a cooldown that was
extended); the firing code checks whether the entry still applies. `seq`
breaks ties in scheduling order, so timers due at the same instant fire in
the order they were set, which keeps replays exact.
"""

from __future__ import annotations

import heapq


class TimerQueue:
    """A heap of (due, seq, kind, key)."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, str]] = []
        self._seq = 0

    def push(self, due: float, kind: str, key: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, kind, key))

    def pop_due(self, now: float) -> tuple[float, str, str] | None:
        """Remove and return the earliest entry due at or before `now`."""
        if self._heap and self._heap[0][0] <= now:
            due, _, kind, key = heapq.heappop(self._heap)
            return due, kind, key
        return None

    def earliest(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)
