"""Edge helpers of the drivers: header normalisation (SPEC R-38, R-55), transport
failure kinds (ARCHITECTURE rule 7) and the binding bound of a read (R-31, R-32)."""

from __future__ import annotations

from email.utils import formatdate

import httpcore
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.engine import AttemptTiming, next_bound
from adapters.http import encode_headers, failure_kind_of, normalise_headers
from meshcore.types import FailureKind
from meshcore.wire.ratelimit import parse_rate_limits, retry_after_seconds

WALL = 1_790_000_000.0


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=86_400))
def test_retry_after_http_date_becomes_seconds_r38(delta: int) -> None:
    date = formatdate(WALL + delta, usegmt=True)
    hdrs = normalise_headers([(b"Retry-After", date.encode())], WALL)
    assert hdrs[0][0] == "retry-after"
    assert abs(float(hdrs[0][1]) - delta) < 1.0
    assert retry_after_seconds(hdrs) is not None


def test_retry_after_past_date_is_zero_and_numbers_pass_r38() -> None:
    past = formatdate(WALL - 100, usegmt=True)
    assert normalise_headers([("retry-after", past)], WALL) == [("retry-after", "0")]
    assert normalise_headers([("retry-after", "7")], WALL) == [("retry-after", "7")]
    assert normalise_headers([("retry-after", "soon")], WALL) == [("retry-after", "soon")]


def test_anthropic_reset_rfc3339_becomes_seconds_r55() -> None:
    hdrs = normalise_headers([
        ("anthropic-ratelimit-requests-reset", "2026-09-21T00:00:30Z"),
        ("anthropic-ratelimit-requests-remaining", "5"),
        ("anthropic-ratelimit-requests-limit", "10"),
    ], 1_789_948_800.0)  # 2026-09-21T00:00:00Z
    info = parse_rate_limits(hdrs)
    assert info is not None and info.requests_reset_s == 30.0
    assert info.requests_remaining == 5


def test_failure_kinds_of_transport_errors() -> None:
    assert failure_kind_of(httpcore.ReadTimeout("x")) is FailureKind.TIMEOUT
    assert failure_kind_of(httpcore.ConnectTimeout("x")) is FailureKind.TIMEOUT
    assert failure_kind_of(httpcore.ConnectError("x")) is FailureKind.CONNECTION
    assert failure_kind_of(httpcore.RemoteProtocolError("x")) is FailureKind.CONNECTION


def test_encode_headers_adds_host_and_length() -> None:
    out = dict(encode_headers([("content-type", "application/json")],
                              "http://127.0.0.1:8080/v1/x", b"abc"))
    assert out[b"host"] == b"127.0.0.1:8080"
    assert out[b"content-length"] == b"3"


def test_next_bound_picks_the_binding_limit_r32() -> None:
    common = {"started": 0.0, "timeout_s": 10.0, "request_deadline": 100.0, "last_data": 4.0}
    b = next_bound(stream=False, first_chunk_at=None, head_seen=True, has_content=False, **common)
    assert (b.at, b.kind) == (10.0, FailureKind.TIMEOUT)
    b = next_bound(stream=True, first_chunk_at=2.0, head_seen=False, has_content=False, **common)
    assert (b.at, b.kind) == (2.0, FailureKind.TTFT_TIMEOUT)
    b = next_bound(stream=True, first_chunk_at=2.0, head_seen=True, has_content=True, **common)
    assert (b.at, b.kind) == (14.0, FailureKind.STREAM_GAP)
    common["request_deadline"] = 3.0
    b = next_bound(stream=True, first_chunk_at=None, head_seen=True, has_content=True, **common)
    assert (b.at, b.kind) == (3.0, FailureKind.DEADLINE)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Facts:
    """What `AttemptTiming` reads of the engine, run, send and attempt."""

    def __init__(self, clock: _Clock, deadline: float | None, timeout_s: float,
                 first_chunk_timeout_s: float | None, stream: bool) -> None:
        self.clock = clock
        self.request_id = "req-1"
        self._deadline = deadline
        self.timeout_s = timeout_s
        self.first_chunk_timeout_s = first_chunk_timeout_s
        self.stream = stream
        self.has_content = False

    def request_deadline(self, _rid: str) -> float | None:
        return self._deadline


TIMES = st.floats(0.0, 1000.0, allow_nan=False) | st.sampled_from([0.0, 5.0, 10.0])


@settings(max_examples=300, deadline=None)
@given(started=TIMES, timeout_s=st.floats(0.001, 100.0) | st.just(5.0),
       first_chunk=st.none() | st.floats(0.0, 100.0) | st.just(5.0),
       deadline=st.none() | TIMES, stream=st.booleans(),
       reads=st.lists(st.tuples(TIMES, st.booleans()), max_size=6))
def test_read_bound_is_next_bound_of_a_streamed_body_r32(
    started: float, timeout_s: float, first_chunk: float | None, deadline: float | None,
    stream: bool, reads: list[tuple[float, bool]],
) -> None:
    """The per-chunk `read_bound()` (and `read_deadline()`, its `at`) is
    `bound(head_seen=True)`, i.e. the
    general `next_bound`, for every clock, timeout, first-chunk bound and
    deadline (ties included), before and after content, as data arrives."""
    clock = _Clock()
    clock.now = started
    facts = _Facts(clock, deadline, timeout_s, first_chunk, stream)
    timing = AttemptTiming(facts, facts, facts, facts)  # type: ignore[arg-type]
    for last, content in [(started, False), *reads]:
        timing.last = last
        facts.has_content = facts.has_content or content
        general = next_bound(stream=stream, started=started, timeout_s=timeout_s,
                             first_chunk_at=timing.first_at, request_deadline=deadline,
                             head_seen=True, has_content=facts.has_content, last_data=last)
        assert timing.read_bound() == general == timing.bound(head_seen=True)
        assert timing.read_deadline() == general.at
