"""A scriptable fake AI provider on loopback for tests and demos (SPEC R-119, API.md section 4).

`FakeProviderServer` is a real HTTP/1.1 server that speaks the OpenAI-compatible, Anthropic
Messages or Gemini wire format and follows a fault plan (`Plan`, a list of `FaultStep`s or a
plan per model), recording every request it receives.
"""

from adapters.fake_provider.plan import STEP_KEYS, FaultStep, Plan, load_plan
from adapters.fake_provider.server import FakeProviderServer, RecordedRequest

__all__ = [
    "STEP_KEYS",
    "FakeProviderServer",
    "FaultStep",
    "Plan",
    "RecordedRequest",
    "load_plan",
]
