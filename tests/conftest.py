"""Hypothesis profiles. Locally the default profile explores new random
examples on every run (and replays failures from `.hypothesis/`); CI runs
with HYPOTHESIS_PROFILE=ci, which derandomizes every property (the same
examples each run), so a CI verdict depends on the code alone.

Also: which build of meshcore the session tests (pure Python or the mypyc
build of setup.py), in the header and the summary, and MESHCORE_EXPECT_BUILD."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _meshcore_build() -> str:
    """`compiled` when meshcore was built with mypyc (setup.py), else `pure`."""
    from meshcore._mypyc import build

    return build()


def pytest_report_header() -> str:
    return f"meshcore build: {_meshcore_build()}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """MESHCORE_EXPECT_BUILD=pure|compiled (CI): refuse to run against the
    other build, so a compiled test run cannot silently test pure Python."""
    expect = os.environ.get("MESHCORE_EXPECT_BUILD")
    if expect and expect != _meshcore_build():
        raise pytest.UsageError(
            f"MESHCORE_EXPECT_BUILD={expect} but meshcore is the {_meshcore_build()} build")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.write_line(f"meshcore build: {_meshcore_build()}")
