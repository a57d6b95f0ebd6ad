"""Seeded, derived randomness and stable hashing for the core.

Theory of operation: this is the only module of `meshcore` that imports
`random` (ARCHITECTURE rule 4). No generator is shared: every random
decision asks `derive_rng(seed, purpose, *ids)` for a fresh
`random.Random` whose seed is a blake2b digest of a canonical encoding of
its arguments. A draw made for one purpose (say, backoff jitter of one
attempt) therefore never shifts the draws of any other purpose, and the
same `(seed, purpose, ids)` yields the same numbers in every process,
on every platform and after a restart. `stable_hash64` gives the 64-bit
hash used by rendezvous hashing (session stickiness, R-53). The builtin
`hash()` is never used: it is salted per process for strings.

Canonical encoding: each part is tagged with its type (`i` for int, `s`
for str) and length-prefixed, so `("ab", "c")` and `("a", "bc")`, or
`1` and `"1"`, never collide. The encoding of a tuple is the concatenation
of its parts' encodings, so a blake2b state fed a common prefix once
(`Derivation`) can be copied and finished with the rest: the digest is the
one `derive_rng` would compute for the whole tuple.

`derive_bits53` takes a uniform straight from that digest (its first 53
bits) instead of seeding a Mersenne Twister with it: one hash, no
generator (seeding one costs several microseconds). Load-balanced uses it
(one draw per decision); every other purpose keeps `derive_rng`.
"""

from __future__ import annotations

import hashlib
import random

__all__ = ["BITS", "Derivation", "derive_bits53", "derive_rng", "stable_hash64", "uniform"]

_PERSON = b"meshcore-rng-v1"
BITS = 53  # `derive_bits53` returns an int in [0, 2**BITS)
_INT_TAGS = [b"i" + size.to_bytes(4, "big") for size in range(32)]


def _encode(parts: tuple[str | int, ...]) -> bytes:
    out: list[bytes] = []
    for part in parts:
        if type(part) is int:  # the common cases first, without isinstance chains
            body = b"%d" % part
            size = len(body)
            out.append((_INT_TAGS[size] if size < 32 else b"i" + size.to_bytes(4, "big"))
                       + body)
            continue
        if type(part) is str:
            body = part.encode("utf-8")
            out.append(b"s" + len(body).to_bytes(4, "big") + body)
            continue
        if isinstance(part, bool) or not isinstance(part, int | str):
            raise TypeError(f"rng ids must be str or int, not {type(part).__name__}")
        if isinstance(part, int):
            body = str(part).encode("ascii")
            tag = b"i"
        else:
            body = part.encode("utf-8")
            tag = b"s"
        out.append(tag + len(body).to_bytes(4, "big") + body)
    return b"".join(out)


def derive_rng(seed: int, purpose: str, *ids: str | int) -> random.Random:
    """Return a new generator determined only by `(seed, purpose, *ids)`.

    `purpose` names the decision (e.g. ``"backoff"``, ``"load-balanced"``);
    `ids` pin down which instance of it (request number, model ID, ...).
    """
    digest = hashlib.blake2b(
        _encode((seed, purpose, *ids)), digest_size=16, person=_PERSON
    ).digest()
    return random.Random(int.from_bytes(digest, "big"))


class Derivation:
    """The blake2b state of `derive_rng` after `(seed, purpose, *ids)`: many
    derivations that share that prefix hash it once."""

    __slots__ = ("_args", "_state")

    def __init__(self, seed: int, purpose: str, *ids: str | int) -> None:
        self._args = (seed, purpose, *ids)
        self._state = hashlib.blake2b(_encode(self._args), digest_size=16, person=_PERSON)

    def __reduce__(self) -> tuple[type[Derivation], tuple[str | int, ...]]:
        """Copy and pickle by the arguments (a hash state does neither)."""
        return (Derivation, self._args)

    def bits53(self, *ids: str | int) -> int:
        """`derive_bits53(seed, purpose, *prefix_ids, *ids)`."""
        state = self._state.copy()
        state.update(_encode(ids))
        return int.from_bytes(state.digest()[:7], "big") >> 3

    def bits53_ints(self, first: int, second: int) -> int:
        """`bits53(first, second)` for two non-negative ints, encoded inline
        (the per-request draw of load-balanced)."""
        a = b"%d" % first
        b = b"%d" % second
        if first < 0 or second < 0 or len(a) >= 32 or len(b) >= 32:
            return self.bits53(first, second)
        state = self._state.copy()
        state.update(_INT_TAGS[len(a)] + a + _INT_TAGS[len(b)] + b)
        return int.from_bytes(state.digest()[:7], "big") >> 3


def derive_bits53(seed: int, purpose: str, *ids: str | int) -> int:
    """A uniform integer in `[0, 2**53)` determined only by `(seed, purpose,
    *ids)`: the first 53 bits of the digest that seeds `derive_rng` (so
    `bits / 2**53` is a uniform in [0, 1) with `random()`'s resolution)."""
    return Derivation(seed, purpose, *ids).bits53()


def stable_hash64(*parts: str) -> int:
    """A 64-bit unsigned hash of `parts`, identical across processes and
    restarts (blake2b, 8 bytes, big-endian). Used for rendezvous hashing."""
    for part in parts:
        if not isinstance(part, str):
            raise TypeError(f"stable_hash64 takes str parts, not {type(part).__name__}")
    return int.from_bytes(hashlib.blake2b(_encode(parts), digest_size=8).digest(), "big")


def uniform(seed: int, purpose: str, *ids: str | int, low: float, high: float) -> float:
    """One uniform draw in `[low, high]` from `derive_rng(seed, purpose, *ids)`."""
    return derive_rng(seed, purpose, *ids).uniform(low, high)
