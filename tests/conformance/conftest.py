"""Fixtures of the conformance suite: `driver` (sync, asyncio, trio) and `servers`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from _facade import DRIVERS, Driver

from adapters.fake_provider import FakeProviderServer


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> Driver:
    """The driver under test: "sync", "asyncio" or "trio"."""
    return Driver(str(request.param))


@pytest.fixture
def servers() -> Iterator[Callable[..., list[FakeProviderServer]]]:
    """`servers(plan0, plan1, ...)` starts one fake provider per plan; all stop at teardown."""
    with ExitStack() as stack:

        def start(*plans: Any) -> list[FakeProviderServer]:
            return [stack.enter_context(FakeProviderServer(p)) for p in plans]

        yield start
