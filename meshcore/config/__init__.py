"""Configuration: the normalised schema, the loader and validation.

Theory of operation: `load_config(data, connectors=None)` turns a config
dict of any shape SPEC R-11 accepts into one frozen `MeshConfig`
(`meshcore.config.schema`), raising `ConfigurationError` with every
problem; `validate` returns the problems instead (R-14). Durations and
sizes parse with `parse_duration` / `parse_size` (R-12). Pool membership
helpers live in `meshcore.config.membership`.
"""

from meshcore.config.durations import parse_duration, parse_size
from meshcore.config.loader import ValidationResult, load_config, validate

__all__ = ["ValidationResult", "load_config", "parse_duration", "parse_size", "validate"]
