"""The exact weighted draw of load-balanced (SPEC R-53) and its incremental
index (`meshcore.router.weighted`): the plain definition agrees with a
`fractions.Fraction` reference and with any order of the additions, and
`WeightIndex`, after any sequence of changes, draws, fills and totals
exactly as the definition over the positions in its set."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.router.strategies.base import median
from meshcore.router.weighted import DRAW_BITS, WeightIndex, exact_draw

BITS = st.integers(0, 2**DRAW_BITS - 1)
# finite non-negative weights, with many repeats and zeros, subnormals and
# huge values, and the fractions rate data produces
WEIGHT = st.one_of(
    st.sampled_from([0.0, 1.0, 0.9, 0.5, 0.25, 1 / 3, 0.1, 900.0, 5e-324, 1e300]),
    st.floats(0.0, 1.0),
    st.integers(0, 10**6).map(float),
    st.floats(0.0, 1e30, allow_subnormal=True),
)


def reference(weights: list[float], bits: int) -> tuple[int, Fraction] | None:
    """The definition in rational arithmetic: the first running sum above
    u * total, u = bits / 2**53."""
    exact = [Fraction(w) for w in weights]
    total = sum(exact, Fraction(0))
    if total == 0:
        return None
    point = Fraction(bits, 2**DRAW_BITS) * total
    acc = Fraction(0)
    for i, w in enumerate(exact):
        acc += w
        if acc > point:
            return i, total
    raise AssertionError("no pick")


@settings(max_examples=300, deadline=None)
@given(weights=st.lists(WEIGHT, min_size=1, max_size=12), bits=BITS)
def test_exact_draw_is_the_rational_definition(weights: list[float], bits: int) -> None:
    got = exact_draw(weights, bits)
    ref = reference(weights, bits)
    if ref is None:
        assert got is None
        return
    assert got is not None
    assert got[0] == ref[0]
    assert weights[got[0]] > 0.0  # a zero weight is never drawn
    assert got[1] == float(ref[1]) == math.fsum(weights)  # rounded once


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(WEIGHT, min_size=1, max_size=10), bits=BITS, data=st.data())
def test_exact_draw_total_does_not_depend_on_the_order(
    weights: list[float], bits: int, data: st.DataObject
) -> None:
    """The same multiset of weights has the same exact total in any order, so
    the drawn *weight interval* only moves with the order, never the total."""
    order = data.draw(st.permutations(range(len(weights))))
    shuffled = [weights[i] for i in order]
    a = exact_draw(weights, bits)
    b = exact_draw(shuffled, bits)
    assert (a is None) == (b is None)
    if a is not None and b is not None:
        assert a[1] == b[1]


def test_exact_draw_boundaries() -> None:
    top = 2**DRAW_BITS
    assert exact_draw([0.0, 0.0], 0) is None
    assert exact_draw([1.0, 1.0], 0) == (0, 2.0)
    assert exact_draw([1.0, 1.0], top // 2 - 1) == (0, 2.0)
    assert exact_draw([1.0, 1.0], top // 2) == (1, 2.0)  # u = 1/2 exactly: second
    assert exact_draw([0.0, 1.0, 0.0], 0) == (1, 1.0)
    assert exact_draw([1.0, 0.0], top - 1) == (0, 1.0)
    # 0.1 + 0.2 != 0.3 in floats; the exact total is their rational sum
    assert exact_draw([0.1, 0.2], top - 1)[1] == float(Fraction(0.1) + Fraction(0.2))  # type: ignore[index]


def definition(index: WeightIndex) -> tuple[list[int], list[float]]:
    """The positions in the set and their weights, by the strategy's rule:
    unknown = median of the known raw weights (1.0 if none), max(0, w)."""
    pos = [i for i in range(index.n) if index.inside[i]]
    raw = [index.raw[i] for i in pos]
    known = [w for w in raw if w is not None]
    fill = median(known) if known else 1.0
    return pos, [max(0.0, w if w is not None else fill) for w in raw]


RAW = st.one_of(st.none(), st.sampled_from([0.0, 0.9, 0.9, 0.5, 1.0, 0.0, 1 / 3, 1e-5]),
                st.floats(0.0, 1.0), st.integers(0, 5000).map(float))
OP = st.tuples(st.integers(0, 40), st.booleans(), RAW)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 40), ops=st.lists(OP, max_size=80), bits=st.lists(BITS, min_size=1,
                                                                           max_size=4),
       start_full=st.booleans())
def test_weight_index_matches_the_definition(
    n: int, ops: list[tuple[int, bool, float | None]], bits: list[int], start_full: bool
) -> None:
    index = WeightIndex(n)
    if start_full:  # the common shape: every member in, no rate data (uniform)
        for i in range(n):
            index.set(i, True, None)
    for step, (i, inside, raw) in enumerate(ops):
        index.set(i % n, inside, raw)
        if step % 7 == 0 or step == len(ops) - 1:
            check(index, bits)
    check(index, bits)


def check(index: WeightIndex, bits: list[int]) -> None:
    pos, weights = definition(index)
    assert index.size() == len(pos)
    # the trees hold the scaled weights of the positions in the set
    scale = 2**index.k
    for i in range(index.n):
        raw = index.raw[i]
        if index.inside[i] and raw is not None:
            assert index.scaled[i] == Fraction(max(0.0, raw)) * scale
        else:
            assert index.scaled[i] == 0
    assert index.kn_total == sum(index.scaled)
    for length in range(index.n + 1):
        assert prefix(index.kn_tree, length) == sum(index.scaled[:length])
        assert prefix(index.un_tree, length) == sum(
            1 for i in range(length) if index.inside[i] and index.raw[i] is None)
    known = sorted(w for i in pos if (w := index.raw[i]) is not None)
    assert index.known == known
    assert index.fill() == (median(known) if known else 1.0)
    for b in bits:
        got = index.draw(b)
        ref = exact_draw(weights, b) if weights else None
        if ref is None:
            assert got is None
            continue
        assert got == pos[ref[0]]
        assert index.weight(got) == weights[ref[0]]
        assert index.total() == ref[1]


def prefix(tree: list[int], length: int) -> int:
    total = 0
    while length > 0:
        total += tree[length]
        length -= length & -length
    return total


def test_weight_index_replacing_a_weight_that_needs_a_finer_scale() -> None:
    """Regression: the old value leaves the tree before the rescale."""
    index = WeightIndex(2)
    index.set(0, True, 1.0)
    index.set(1, True, 1.0)
    index.set(0, True, 0.5)  # k 0 -> 1
    check(index, [0, 2**DRAW_BITS // 3, 2**DRAW_BITS - 1])
    assert index.draw(2**DRAW_BITS // 3 + 1) == 1  # 0.5 of 1.5 is exactly the first third


def test_weight_index_rescales_exactly() -> None:
    """A weight that needs a finer scale shifts everything once; draws are
    unchanged where the rational definition says so."""
    index = WeightIndex(3)
    index.set(0, True, 1.0)
    index.set(1, True, 1.0)
    index.set(2, True, None)
    assert index.k == 0
    index.set(1, True, 0.5)  # known [0.5, 1.0] -> fill 0.75 needs k = 2
    assert index.draw(0) == 0
    assert index.k == 2
    assert index.total() == 2.25
    top = 2**DRAW_BITS
    # running sums 1.0, 1.5, 2.25 of 2.25: u just below 1/2.25 still picks 0
    assert index.draw(int(Fraction(1, 1) / Fraction(9, 4) * top)) == 0
    assert index.draw(int(Fraction(1, 1) / Fraction(9, 4) * top) + 1) == 1


@pytest.mark.parametrize("n", [1, 2, 5, 64, 100])
def test_weight_index_uniform_case_is_floor_u_n(n: int) -> None:
    index = WeightIndex(n)
    for i in range(n):
        index.set(i, True, 0.9 if i % 2 else None)  # unknown ones take the median 0.9
    top = 2**DRAW_BITS
    for b in (0, 1, top // 3, top // 2, top - 1):
        assert index.draw(b) == (b * n) // top
        ref = exact_draw([0.9] * n, b)
        assert ref is not None and index.draw(b) == ref[0]


def test_exact_draw_rejects_nothing_finite() -> None:
    extremes: list[Any] = [5e-324, 1.7976931348623157e308, 0.0]
    got = exact_draw(extremes, 2**DRAW_BITS - 1)
    assert got is not None and got[0] == 1
