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
`1` and `"1"`, never collide.
"""

from __future__ import annotations

import hashlib
import random

__all__ = ["derive_rng", "stable_hash64", "uniform"]

_PERSON = b"meshcore-rng-v1"


def _encode(parts: tuple[str | int, ...]) -> bytes:
    out = bytearray()
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, int | str):
            raise TypeError(f"rng ids must be str or int, not {type(part).__name__}")
        if isinstance(part, int):
            body = str(part).encode("ascii")
            tag = b"i"
        else:
            body = part.encode("utf-8")
            tag = b"s"
        out += tag + len(body).to_bytes(4, "big") + body
    return bytes(out)


def derive_rng(seed: int, purpose: str, *ids: str | int) -> random.Random:
    """Return a new generator determined only by `(seed, purpose, *ids)`.

    `purpose` names the decision (e.g. ``"backoff"``, ``"load-balanced"``);
    `ids` pin down which instance of it (request number, model ID, ...).
    """
    digest = hashlib.blake2b(
        _encode((seed, purpose, *ids)), digest_size=16, person=_PERSON
    ).digest()
    return random.Random(int.from_bytes(digest, "big"))


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
