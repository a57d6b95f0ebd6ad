"""Retry decisions and backoff waits (SPEC R-34, R-36 .. R-39).

Theory of operation: pure functions of the pool's retry policy, the
provider's code lists and the classified outcome. `same_model_retry()`
says whether the outcome class allows a same-model retry at all;
`backoff_wait()` computes the wait of the n-th retry, drawing full jitter
from an RNG derived from (seed, request, model, n) so the draw does not
depend on anything else that happened (ARCHITECTURE rule 4).
"""

from __future__ import annotations

from meshcore.config.schema import PoolConfig, ProviderConfig
from meshcore.router.rng import derive_rng
from meshcore.types import FailureKind, OutcomeClass

COUNTED_ALWAYS = frozenset(
    {
        OutcomeClass.TIMEOUT,
        OutcomeClass.TTFT_TIMEOUT,
        OutcomeClass.CONNECTION_ERROR,
        OutcomeClass.STREAM_INTERRUPTED,
    }
)
NEVER_COUNTED = frozenset(
    {
        OutcomeClass.QUOTA_EXHAUSTED,
        OutcomeClass.AUTH,
        OutcomeClass.MODEL_NOT_FOUND,
        OutcomeClass.CONTEXT_LENGTH_EXCEEDED,
        OutcomeClass.CONTENT_FILTER,
        OutcomeClass.BAD_REQUEST,
        OutcomeClass.SUCCESS,
    }
)
BODY_FAULTS = frozenset(
    {FailureKind.MALFORMED_BODY, FailureKind.STREAM_ERROR, FailureKind.STREAM_INCOMPLETE}
)


def codes(pool: PoolConfig, provider: ProviderConfig) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(retryable, non_retryable) codes: the pool's lists, else the provider's."""
    r = pool.retry
    retryable = r.retryable_codes if r.retryable_codes is not None else provider.retryable_codes
    non = r.non_retryable_codes if r.non_retryable_codes is not None else provider.non_retryable_codes
    return retryable, non


def is_counted(
    cls: OutcomeClass, status: int | None, kind: FailureKind | None, pool: PoolConfig
) -> bool:
    """Whether an outcome counts toward deactivation (R-34 "Counts", R-44
    `error_codes`). Malformed 2xx bodies and pre-commit stream faults count:
    a provider that keeps sending garbage must be ejected."""
    if cls in COUNTED_ALWAYS:
        return True
    if cls in NEVER_COUNTED:
        return False
    if kind in BODY_FAULTS:
        return True
    return status is not None and status in pool.deactivation.error_codes


def same_model_retry(
    cls: OutcomeClass,
    status: int | None,
    kind: FailureKind | None,
    pool: PoolConfig,
    provider: ProviderConfig,
) -> bool:
    """Whether the class allows a same-model retry (R-34 first column)."""
    if pool.retry.scope == "any":
        return False
    retryable, non = codes(pool, provider)
    if status is not None and status in non:
        return False
    if cls is OutcomeClass.RATE_LIMITED:
        return (status if status is not None else 429) in retryable
    if cls is OutcomeClass.SERVER_ERROR:
        if kind in BODY_FAULTS or status is None or 200 <= status < 300:
            return True
        return status in retryable
    return cls is OutcomeClass.CONNECTION_ERROR


def max_attempts_on_model(pool: PoolConfig, provider: ProviderConfig) -> int:
    """Same-model attempts per request: max_attempts capped by max_retries + 1."""
    return max(1, min(pool.retry.max_attempts, provider.max_retries + 1))


def bounded_retry_after(value: float | None, pool: PoolConfig) -> float | None:
    """R-38: bound to [0, max_retry_after]."""
    if value is None:
        return None
    return min(max(0.0, value), pool.retry.max_retry_after_s)


def backoff_wait(
    pool: PoolConfig,
    n: int,
    retry_after: float | None,
    seed: int,
    request_seq: int,
    model_id: str,
) -> float:
    """The wait before the n-th same-model retry (R-37), n >= 1."""
    r = pool.retry
    d, c = r.initial_delay_s, r.max_delay_s

    def jitter() -> float:
        hi = min(c, d * (2 ** (n - 1)))
        return derive_rng(seed, "backoff", request_seq, model_id, n).uniform(0.0, hi)

    if r.backoff == "fixed":
        wait = min(d, c)
    elif r.backoff == "retry_after":
        wait = retry_after if retry_after is not None else jitter()
    else:
        wait = jitter()
    if r.honor_retry_after and retry_after is not None:
        wait = max(wait, retry_after)
    return wait
