"""The exact weighted draw of load-balanced (SPEC R-53) and its index.

Theory of operation: a draw is defined on exact rationals, so its result
does not depend on the order in which weights are added. Every finite
float is an integer times a power of two, so a list of float weights
scaled by `2**K` (K = the largest binary exponent among their fraction
parts) is a list of Python ints that represents them exactly. Given the
53-bit integer `bits` of the seeded draw (`rng.derive_bits53`, the
uniform `u = bits / 2**53`) and the exact total `T`, the chosen weight is
the first, in candidate order, whose exact running sum `P` exceeds `u * T`:
`P * 2**53 > bits * T`, i.e. `P > (bits * T) >> 53` as P is an integer.
The reason text shows the total rounded once to a float (`T / 2**K`,
which Python rounds correctly). A zero weight is never chosen (its
running sum equals the previous one); an all-zero list has no draw.

`exact_draw` is that definition over a plain list (the strategy class,
O(n)). `WeightIndex` answers the same question for a pool's members in
O(log n) per change and per draw: a Fenwick tree of the scaled weights of
members with rate data (`known`), a Fenwick tree counting members without
rate data (`unknown`, who all weigh the median of the known weights), the
known raw weights in a sorted list (the median is its middle, as
`strategies.base.median` computes it) and the totals. Members outside the
candidate set count nowhere. The scale K only grows (every stored weight
is shifted once when a weight or the median needs a finer scale); the
results depend only on the exact values, never on K.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence

from meshcore._mypyc import mypyc_attr
from meshcore.router.rng import BITS as DRAW_BITS

__all__ = ["DRAW_BITS", "WeightIndex", "exact_draw"]


def exact_draw(weights: Sequence[float], bits: int) -> tuple[int, float] | None:
    """The index drawn from finite, non-negative `weights` by `bits` (see
    module docstring) and the total as a float; None when every weight is
    zero."""
    ratios = [w.as_integer_ratio() for w in weights]  # (n, 2**k)
    width = max(den.bit_length() for _, den in ratios)  # the largest k, plus one
    scaled = [num << (width - den.bit_length()) for num, den in ratios]
    total = sum(scaled)
    if total <= 0:
        return None
    target = (bits * total) >> DRAW_BITS
    acc = 0
    for i, w in enumerate(scaled):
        acc += w
        if acc > target:
            return i, total / (1 << (width - 1))
    raise AssertionError("unreachable: bits < 2**53, so target < total")


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
class WeightIndex:
    """Exact prefix sums of the draw weights over a fixed member list.

    Position i is either out of the set, in it with a raw weight (a float,
    "known") or in it without one (None, "unknown"). The draw weight of a
    known member is `max(0.0, raw)`; every unknown member weighs the fill:
    the median of the known raw weights, or 1.0 when none is known.
    """

    __slots__ = (
        "fill_memo",
        "inside",
        "k",
        "kn_total",
        "kn_tree",
        "known",
        "n",
        "raw",
        "scaled",
        "top",
        "un_tree",
        "unknown",
    )

    def __init__(self, n: int) -> None:
        self.n = n
        self.inside = [False] * n
        self.raw: list[float | None] = [None] * n
        self.scaled = [0] * n  # max(0, raw) * 2**k for known members inside, else 0
        self.kn_tree = [0] * (n + 1)  # Fenwick tree over `scaled`
        self.un_tree = [0] * (n + 1)  # Fenwick tree over "inside and unknown"
        self.known: list[float] = []  # raw weights of known members inside, sorted
        self.kn_total = 0
        self.unknown = 0
        self.k = 0
        self.fill_memo: tuple[float, int] | None = None  # (fill, fill * 2**k)
        top = 1
        while top * 2 <= n:
            top *= 2
        self.top = top  # highest power of two <= n (descent start)

    # -- changes ------------------------------------------------------------------
    def set(self, i: int, inside: bool, raw: float | None) -> None:
        """Put position i in (`inside`) or out of the set, with `raw`."""
        was = self.inside[i]
        old = self.raw[i]
        if was is inside and (old == raw if old is not None and raw is not None
                              else old is raw):
            return
        if was and inside and old is not None and raw is not None:
            # a known weight changes (the common update): one pass over the tree
            new = self.scale(max(0.0, raw))  # a rescale shifts `scaled[i]` too
            delta = new - self.scaled[i]
            if delta:
                self._add(self.kn_tree, i, delta)
                self.kn_total += delta
            known = self.known
            del known[bisect_left(known, old)]
            insort(known, raw)
            self.fill_memo = None
            self.raw[i] = raw
            self.scaled[i] = new
            return
        if was:
            if old is None:
                self._add(self.un_tree, i, -1)
                self.unknown -= 1
            else:
                s = self.scaled[i]
                if s:
                    self._add(self.kn_tree, i, -s)
                    self.kn_total -= s
                    self.scaled[i] = 0  # out before `scale()` may rebuild the tree
                known = self.known
                del known[bisect_left(known, old)]
                self.fill_memo = None
        s = 0
        if inside:
            if raw is None:
                self._add(self.un_tree, i, 1)
                self.unknown += 1
            else:
                s = self.scale(max(0.0, raw))
                if s:
                    self._add(self.kn_tree, i, s)
                    self.kn_total += s
                insort(self.known, raw)
                self.fill_memo = None
        self.inside[i] = inside
        self.raw[i] = raw
        self.scaled[i] = s

    def scale(self, w: float) -> int:
        """`w * 2**k` as an int, growing k (and rescaling) when w needs it."""
        num, den = w.as_integer_ratio()
        need = den.bit_length() - 1
        if need > self.k:
            self._rescale(need)
        return num << (self.k - need)

    def _rescale(self, k: int) -> None:
        shift = k - self.k
        self.k = k
        self.fill_memo = None
        self.scaled = [s << shift for s in self.scaled]
        self.kn_total <<= shift
        tree = [0, *self.scaled]
        n = self.n
        for i in range(1, n + 1):
            j = i + (i & -i)
            if j <= n:
                tree[j] += tree[i]
        self.kn_tree = tree

    @staticmethod
    def _add(tree: list[int], i: int, delta: int) -> None:
        n = len(tree) - 1
        i += 1
        while i <= n:
            tree[i] += delta
            i += i & -i

    # -- queries ----------------------------------------------------------------------
    def size(self) -> int:
        """How many positions are in the set."""
        return len(self.known) + self.unknown

    def fill(self) -> float:
        """The weight of an unknown member: `median(known)`, else 1.0."""
        known = self.known
        count = len(known)
        if not count:
            return 1.0
        mid = count // 2
        if count % 2:
            return known[mid]
        return (known[mid - 1] + known[mid]) / 2.0

    def weight(self, i: int) -> float:
        """The draw weight of position i (which is in the set)."""
        raw = self.raw[i]
        return self.fill() if raw is None else max(0.0, raw)

    def draw(self, bits: int) -> int | None:
        """`exact_draw` over the weights of the positions in the set, in
        position order: the position drawn; None when the set is empty or
        every weight is zero."""
        known = self.known
        n = self.n
        if self.unknown + len(known) == n and (not known or known[0] == known[-1] > 0.0):
            # every position in, all weights equal (w > 0): the first running
            # sum (i + 1) * w above floor(u * n * w) is at i = floor(u * n)
            return (bits * n) >> DRAW_BITS
        fill_scaled = self.fill_scaled()
        unknown = self.unknown
        total = self.kn_total + fill_scaled * unknown
        if total <= 0:
            return None
        rem = (bits * total) >> DRAW_BITS
        # Fenwick descent: the longest prefix whose sum is <= rem
        kn = self.kn_tree
        pos = 0
        step = self.top
        if fill_scaled:
            un = self.un_tree
            while step:
                nxt = pos + step
                if nxt <= n:
                    v = kn[nxt] + fill_scaled * un[nxt]
                    if v <= rem:
                        pos = nxt
                        rem -= v
                step >>= 1
        else:
            while step:
                nxt = pos + step
                if nxt <= n and kn[nxt] <= rem:
                    pos = nxt
                    rem -= kn[nxt]
                step >>= 1
        return pos

    def fill_scaled(self) -> int:
        """`max(0.0, fill()) * 2**k` when some position is unknown, else 0."""
        if not self.unknown:
            return 0
        memo = self.fill_memo
        if memo is None:
            fill = max(0.0, self.fill())
            scaled = self.scale(fill)  # may rescale, which clears the memo
            memo = self.fill_memo = (fill, scaled)
        return memo[1]

    def total(self) -> float:
        """The exact total weight of the set, rounded once to a float (as
        `exact_draw` reports it)."""
        return (self.kn_total + self.fill_scaled() * self.unknown) / (1 << self.k)
