"""A monotonic timer queue for the router.

Theory of operation: the router never sleeps; it keeps its wishes to be
woken as `(due, seq, kind, key)` entries and answers `next_deadline()` with
the earliest. `handle()` pops and fires every entry due at `now` before
processing the event. `seq` breaks ties in scheduling order, so timers due
at the same instant fire in the order they were set, which keeps replays
exact.

Entries live in two kinds of containers that `pop_due()` merges by
`(due, seq)`, so the firing order is that of one heap holding them all:

- `heap`, a binary heap, for every kind of timer. Its entries are not
  removed when they become irrelevant (a retry that was cancelled, a
  cooldown that was extended); the firing code checks whether the entry
  still applies.
- `lanes`, FIFOs for request deadlines (`push_deadline()`), one per
  timeout value (at most `MAX_LANES`): requests with the same timeout get
  their deadlines in due order (`now` never goes back), so appending keeps
  a lane sorted; a deadline that would break the order, or finds no lane,
  goes to the heap instead. A request usually ends long before its
  deadline, and its entry would otherwise wait until then and fire as a
  no-op, so the router drops the deadlines of ended requests from the
  lanes' fronts as requests end (`drop_ended_deadlines()`): a lane then
  holds about one entry per request in flight.

`next_due` is the earliest due of all entries (infinity when there are
none), kept up to date by every method, so `handle()` tests "is anything
due?" with one comparison. Only this class changes the containers.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Container

Entry = tuple[float, int, str, str]

MAX_LANES = 8  # distinct request timeouts with a lane; others use the heap


class TimerQueue:
    """A heap plus ordered deadline lanes of (due, seq, kind, key)."""

    __slots__ = ("_seq", "heap", "lanes", "next_due")

    def __init__(self) -> None:
        self.heap: list[Entry] = []
        self.lanes: dict[float, deque[Entry]] = {}  # timeout -> deadlines in due order
        self.next_due = math.inf
        self._seq = 0

    def push(self, due: float, kind: str, key: str) -> None:
        self._seq += 1
        heapq.heappush(self.heap, (due, self._seq, kind, key))
        if due < self.next_due:
            self.next_due = due

    def push_deadline(self, due: float, key: str, timeout: float) -> None:
        """A request's `deadline` timer (same firing order as `push`);
        `timeout` (due minus the request's start) picks the lane."""
        self._seq += 1
        entry = (due, self._seq, "deadline", key)
        lane = self.lanes.get(timeout)
        if lane is None:
            lane = self._new_lane(timeout)
        if lane is None or (lane and lane[-1][0] > due):
            heapq.heappush(self.heap, entry)
        else:
            lane.append(entry)
        if due < self.next_due:
            self.next_due = due

    def _new_lane(self, timeout: float) -> deque[Entry] | None:
        lanes = self.lanes
        if len(lanes) >= MAX_LANES:
            idle = next((t for t, lane in lanes.items() if not lane), None)
            if idle is None:
                return None
            del lanes[idle]
        lane: deque[Entry] = deque()
        lanes[timeout] = lane
        return lane

    def drop_ended_deadlines(self, live: Container[str]) -> None:
        """Drop deadline entries from the lanes' fronts while their request
        key is not in `live` (the requests in flight): firing them would
        find no request and do nothing."""
        dropped = False
        for lane in self.lanes.values():
            while lane and lane[0][3] not in live:
                lane.popleft()
                dropped = True
        if dropped:
            self._update_next_due()

    def _update_next_due(self) -> None:
        best = self.heap[0][0] if self.heap else math.inf
        for lane in self.lanes.values():
            if lane and lane[0][0] < best:
                best = lane[0][0]
        self.next_due = best

    def pop_due(self, now: float) -> tuple[float, str, str] | None:
        """Remove and return the earliest entry due at or before `now`."""
        if self.next_due > now:
            return None
        heap = self.heap
        first: Entry | None = heap[0] if heap else None
        source: deque[Entry] | None = None
        for lane in self.lanes.values():
            if lane and (first is None or lane[0] < first):
                first = lane[0]
                source = lane
        if first is None or first[0] > now:
            return None
        if source is None:
            heapq.heappop(heap)
        else:
            source.popleft()
        self._update_next_due()
        due, _, kind, key = first
        return due, kind, key

    def earliest(self) -> float | None:
        return None if self.next_due == math.inf else self.next_due

    def clear(self) -> None:
        self.heap.clear()
        self.lanes.clear()
        self.next_due = math.inf

    def __len__(self) -> int:
        return len(self.heap) + sum(len(lane) for lane in self.lanes.values())
