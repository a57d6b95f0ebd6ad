"""Mutable runtime state of the router: models, providers, requests.

Theory of operation: the router owns one `ModelState` per model, one
`ProviderState` per provider and one `RequestState` per request in
flight. Model health is global (a model has one status in every pool);
the thresholds applied to an outcome are those of the pool whose request
produced it. Standby reasons are a dict from `Reason` to the wall time at
which that reason may clear (None = latched until a probe or a command),
plus a monotonic cooldown deadline for `error_threshold`. Quota counters
carry their period key and reset lazily when the key changes (R-45).

Watched fields: load-balanced keeps an index of its pools' draw weights
and candidates (`lbselect.py`) up to date instead of rescanning every
member per request. It needs to learn which models changed, whichever
module changes them, so the fields that decide a model's eligibility
(`eligible()`) or its weight are properties over private slots:
`status`, `trial_in_flight`, `probe_in_flight`, `rate_limits` and
`last_request` (set on every send, right after the send time is appended
to `recent`; the index processes the expiry of `recent` entries itself),
and a provider's `status` and `trial_in_flight`. Assigning a different
value (`is not` the old one; for `last_request` any value, since two sends
at one instant assign the same time) records the model or provider ID in
the `watch` dict the index attached (`send_watch` for `last_request`,
which only matters to pools that count sends; None: nobody watches). In-place
changes of `recent` must be followed by setting `last_request`, as
`send()` does.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from meshcore._mypyc import mypyc_attr
from meshcore.actions import AttemptRecord
from meshcore.config.schema import PoolConfig
from meshcore.router.budget import Limit
from meshcore.router.health import ModelStatus, ProviderStatus, Reason
from meshcore.types import RateLimitInfo, RequestFeatures

RECENT_WINDOW_S = 60.0  # `ModelState.recent` keeps the send times of the last minute


@dataclass(slots=True)
class ModelState:
    """One model's health, counters and rate data (see module docstring)."""

    model_id: str
    provider_id: str
    _status: ModelStatus = ModelStatus.ACTIVE
    reasons: dict[Reason, float | None] = field(default_factory=dict)  # reason -> clears at wall
    cooldown_until: float | None = None  # monotonic, error_threshold only
    failure_count: int = 0
    ejections: int = 0
    active_since: float | None = None  # monotonic; for the ejection-count reset
    window: deque[bool] = field(default_factory=deque)  # True = failure
    period_key: str = ""
    requests: int = 0
    tokens: int = 0
    spend: float = 0.0
    latencies: deque[float] = field(default_factory=deque)
    ttfts: deque[float] = field(default_factory=deque)
    _trial_in_flight: bool = False
    _probe_in_flight: bool = False
    _rate_limits: RateLimitInfo | None = None
    recent: deque[float] = field(default_factory=deque)  # monotonic send times, 60 s window
    _last_request: float | None = None
    standby_since_wall: float | None = None
    total_requests: int = 0
    total_tokens: int = 0
    total_prompt: int = 0
    total_completion: int = 0
    total_cost: float = 0.0
    version: int = 0
    watch: dict[str, None] | None = field(default=None, compare=False, repr=False)
    send_watch: dict[str, None] | None = field(default=None, compare=False, repr=False)

    @property
    def status(self) -> ModelStatus:
        """Health state (watched)."""
        return self._status

    @status.setter
    def status(self, value: ModelStatus) -> None:
        if value is not self._status:
            self._status = value
            if self.watch is not None:
                self.watch[self.model_id] = None

    @property
    def trial_in_flight(self) -> bool:
        """A half-open trial request is in flight (watched)."""
        return self._trial_in_flight

    @trial_in_flight.setter
    def trial_in_flight(self, value: bool) -> None:
        if value is not self._trial_in_flight:
            self._trial_in_flight = value
            if self.watch is not None:
                self.watch[self.model_id] = None

    @property
    def probe_in_flight(self) -> bool:
        """A probe is in flight (watched)."""
        return self._probe_in_flight

    @probe_in_flight.setter
    def probe_in_flight(self, value: bool) -> None:
        if value is not self._probe_in_flight:
            self._probe_in_flight = value
            if self.watch is not None:
                self.watch[self.model_id] = None

    @property
    def rate_limits(self) -> RateLimitInfo | None:
        """The last response's rate-limit data (R-55; watched)."""
        return self._rate_limits

    @rate_limits.setter
    def rate_limits(self, value: RateLimitInfo | None) -> None:
        if value is not self._rate_limits:
            self._rate_limits = value
            if self.watch is not None:
                self.watch[self.model_id] = None

    @property
    def last_request(self) -> float | None:
        """Monotonic time of the last send (watched: marks a send)."""
        return self._last_request

    @last_request.setter
    def last_request(self, value: float | None) -> None:
        # every assignment counts (two sends at the same instant set the same
        # value, but each appended to `recent`)
        self._last_request = value
        if self.send_watch is not None:
            self.send_watch[self.model_id] = None

    def error_rate(self) -> float:
        if not self.window:
            return 0.0
        return sum(1 for f in self.window if f) / len(self.window)

    def latency_mean(self) -> float | None:
        if not self.latencies:
            return None
        return sum(self.latencies) / len(self.latencies)


@dataclass(slots=True)
class ProviderState:
    """One provider's health (see module docstring)."""

    provider_id: str
    _status: ProviderStatus = ProviderStatus.ACTIVE
    reason: str | None = None
    until_wall: float | None = None  # half-open due (no background probes)
    consecutive_outage: int = 0
    key_index: int = 0
    keys_failed: set[int] = field(default_factory=set)
    _trial_in_flight: bool = False
    probe_in_flight: bool = False
    recovery_policy: str = "on_probe_success"
    probe_interval_s: float = 300.0
    max_cooldown_s: float = 300.0
    watch: dict[str, None] | None = field(default=None, compare=False, repr=False)

    @property
    def status(self) -> ProviderStatus:
        """Health state (watched)."""
        return self._status

    @status.setter
    def status(self, value: ProviderStatus) -> None:
        if value is not self._status:
            self._status = value
            if self.watch is not None:
                self.watch[self.provider_id] = None

    @property
    def trial_in_flight(self) -> bool:
        """A half-open trial is in flight (watched)."""
        return self._trial_in_flight

    @trial_in_flight.setter
    def trial_in_flight(self, value: bool) -> None:
        if value is not self._trial_in_flight:
            self._trial_in_flight = value
            if self.watch is not None:
                self.watch[self.provider_id] = None


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
@dataclass(slots=True)
class AttemptState:
    attempt_id: str
    request_id: str | None
    model_id: str
    provider_id: str
    pool: str
    started: float
    number: int  # 1-based within the request
    reservation: float = 0.0
    limits: tuple[Limit, ...] = ()  # the budget buckets reserved against
    is_trial: bool = False
    provider_trial: bool = False
    probe: bool = False
    startup: bool = False
    committed: bool = False
    ttft_ms: float | None = None

    def __init__(
        self,
        attempt_id: str,
        request_id: str | None,
        model_id: str,
        provider_id: str,
        pool: str,
        started: float,
        number: int,
        reservation: float = 0.0,
        limits: tuple[Limit, ...] = (),
        is_trial: bool = False,
        provider_trial: bool = False,
        probe: bool = False,
        startup: bool = False,
        committed: bool = False,
        ttft_ms: float | None = None,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays interpreted).
        self.attempt_id = attempt_id
        self.request_id = request_id
        self.model_id = model_id
        self.provider_id = provider_id
        self.pool = pool
        self.started = started
        self.number = number
        self.reservation = reservation
        self.limits = limits
        self.is_trial = is_trial
        self.provider_trial = provider_trial
        self.probe = probe
        self.startup = startup
        self.committed = committed
        self.ttft_ms = ttft_ms


@mypyc_attr(allow_interpreted_subclasses=True)  # copy and pickle (meshcore._mypyc)
@dataclass(slots=True)
class RequestState:
    request_id: str
    seq: int
    pool: PoolConfig
    members: tuple[str, ...]
    features: RequestFeatures
    deadline: float  # monotonic
    session_id: str | None
    started_mono: float
    started_wall: float
    response_id: str
    capability_filter: str | None = None  # R-28 (2): restrict to leaves under this node
    single_model: str | None = None  # R-28 (3)
    attempts: list[AttemptRecord] = field(default_factory=list)
    exhausted: set[str] = field(default_factory=set)
    per_model_attempts: dict[str, int] = field(default_factory=dict)
    current_attempt: str | None = None
    current_model: str | None = None
    retry_due: float | None = None  # monotonic; a same-model retry waits until then
    retry_model: str | None = None
    waiting_recovery: bool = False  # on_all_standby: wait
    committed: bool = False
    selections: int = 0
    max_context_exceeded: int | None = None  # R-34 context_length_exceeded rotation
    context_failed: bool = False
    local_breach: bool = False
    custom_policy: bool = False  # the pool's custom strategy also decides deactivation
    done: bool = False

    def __init__(
        self,
        request_id: str,
        seq: int,
        pool: PoolConfig,
        members: tuple[str, ...],
        features: RequestFeatures,
        deadline: float,
        session_id: str | None,
        started_mono: float,
        started_wall: float,
        response_id: str,
        capability_filter: str | None = None,
        single_model: str | None = None,
        attempts: list[AttemptRecord] | None = None,
        exhausted: set[str] | None = None,
        per_model_attempts: dict[str, int] | None = None,
        current_attempt: str | None = None,
        current_model: str | None = None,
        retry_due: float | None = None,
        retry_model: str | None = None,
        waiting_recovery: bool = False,
        committed: bool = False,
        selections: int = 0,
        max_context_exceeded: int | None = None,
        context_failed: bool = False,
        local_breach: bool = False,
        custom_policy: bool = False,
        done: bool = False,
    ) -> None:
        # Hand-written so that mypyc compiles it (the @dataclass one stays interpreted).
        self.request_id = request_id
        self.seq = seq
        self.pool = pool
        self.members = members
        self.features = features
        self.deadline = deadline
        self.session_id = session_id
        self.started_mono = started_mono
        self.started_wall = started_wall
        self.response_id = response_id
        self.capability_filter = capability_filter
        self.single_model = single_model
        self.attempts = attempts if attempts is not None else list()
        self.exhausted = exhausted if exhausted is not None else set()
        self.per_model_attempts = per_model_attempts if per_model_attempts is not None else dict()
        self.current_attempt = current_attempt
        self.current_model = current_model
        self.retry_due = retry_due
        self.retry_model = retry_model
        self.waiting_recovery = waiting_recovery
        self.committed = committed
        self.selections = selections
        self.max_context_exceeded = max_context_exceeded
        self.context_failed = context_failed
        self.local_breach = local_breach
        self.custom_policy = custom_policy
        self.done = done
