"""Testing helpers of the shell (API.md section 4): `FakeProviderServer`, a
real loopback HTTP server with a scriptable fault plan (SPEC R-119), and
`mock_client(responses=[...])` with `MockResponse` (SPEC R-109)."""

from adapters.fake_provider import FakeProviderServer, FaultStep, Plan
from adapters.mock import MockResponse, mock_client

__all__ = ["FakeProviderServer", "FaultStep", "MockResponse", "Plan", "mock_client"]
