"""R-113: bearer-token authentication and the loopback rule for commands.

Tokens are compared with `hmac.compare_digest` against every configured token
(no early exit on the first match, so the time taken does not tell which token
was close). Configured tokens may be secret references (R-13); they are
resolved by the shell's resolver when the settings are built (`resolve_tokens`).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping, Sequence
from typing import Any

from adapters.build import _secret_options, resolve_string
from meshcore.errors import ConfigurationError

__all__ = ["bearer_token", "is_loopback", "resolve_tokens", "token_bytes_match",
           "token_matches"]


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def token_matches(token: str | None, tokens: Sequence[str]) -> bool:
    """Constant-time check of `token` against every configured token."""
    return token_bytes_match(token, tuple(t.encode() for t in tokens))


def token_bytes_match(token: str | None, tokens: Sequence[bytes]) -> bool:
    """`token_matches` against tokens already encoded (the proxy encodes them
    once, when its settings are installed)."""
    if token is None:
        return False
    given = token.encode()
    ok = False
    for candidate in tokens:
        if hmac.compare_digest(given, candidate):
            ok = True
    return ok


def is_loopback(client: Any) -> bool:
    """True when the ASGI `client` address is a loopback address."""
    if not client:
        return False
    host = str(client[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def resolve_tokens(tokens: Sequence[str], data: Mapping[str, Any],
                   environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Resolve secret references in the configured tokens (R-13, R-111).
    A reference that resolves to nothing is a configuration error: an empty
    token would otherwise be unusable or, worse, match an empty header."""
    env = os.environ if environ is None else environ
    opts = _secret_options(data, env)
    out: list[str] = []
    problems: list[str] = []
    for i, raw in enumerate(tokens):
        missing: list[str] = []
        value = resolve_string(raw, env, opts, missing)
        if missing or not value:
            problems.append(f"proxy.auth.tokens[{i}]: unresolved or empty token")
            continue
        out.append(value)
    if problems:
        raise ConfigurationError("; ".join(problems), {"errors": problems})
    return tuple(out)
