"""Testing helpers of the shell (API.md section 4): `FakeProviderServer`, a
real loopback HTTP server with a scriptable fault plan (SPEC R-119)."""

from adapters.fake_provider import FakeProviderServer, FaultStep, Plan

__all__ = ["FakeProviderServer", "FaultStep", "Plan"]
