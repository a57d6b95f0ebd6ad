"""Hypothesis profiles. Locally the default profile explores new random
examples on every run (and replays failures from `.hypothesis/`); CI runs
with HYPOTHESIS_PROFILE=ci, which derandomizes every property (the same
examples each run), so a CI verdict depends on the code alone."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
