"""Secret-reference syntax (SPEC R-13).

Theory of operation: the core never resolves a reference; it only checks
the syntax of every string value at any depth. `${secrets:NAME}`,
`${env:NAME}` and `${NAME}` are references, `$${` is an escaped literal
`${`, and NAME matches `[A-Za-z0-9_./-]+`. Any other `${...}` form is an
error. Inside the `secrets` section only the environment forms are allowed
(the store cannot resolve its own configuration).
"""

from __future__ import annotations

import re
from typing import Any

_NAME = r"[A-Za-z0-9_./-]+"
_REF_RE = re.compile(rf"\$\{{(?:(secrets|env):)?({_NAME})\}}")


def find_references(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Scan one string: return `([(kind, name)], [problems])` where kind is
    `secrets` or `env` (the bare form is `env`)."""
    refs: list[tuple[str, str]] = []
    problems: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        j = text.find("${", i)
        if j < 0:
            break
        if j > 0 and text[j - 1] == "$":
            i = j + 2  # `$${` is a literal `${`
            continue
        m = _REF_RE.match(text, j)
        if m is None:
            end = text.find("}", j)
            shown = text[j : end + 1] if end >= 0 else text[j:]
            if len(shown) > 60:
                shown = shown[:57] + "..."
            problems.append(
                f"invalid secret reference {shown!r} "
                "(use ${secrets:NAME}, ${env:NAME} or ${NAME}; $${ for a literal)"
            )
            i = j + 2
            continue
        refs.append((m.group(1) or "env", m.group(2)))
        i = m.end()
    return refs, problems


def has_reference(text: str) -> bool:
    """True when `text` contains at least one (well-formed) reference."""
    refs, _ = find_references(text)
    return bool(refs)


MAX_DEPTH = 64


def check_tree(
    value: Any, path: str, env_only: bool, errors: list[str], depth: int = 0
) -> None:
    """Append `<path>: <problem>` for every malformed reference in `value`
    (recursively through dicts and lists, at most `MAX_DEPTH` levels)."""
    if depth > MAX_DEPTH:
        errors.append(f"{path}: nesting deeper than {MAX_DEPTH} levels")
        return
    if isinstance(value, str):
        refs, problems = find_references(value)
        errors.extend(f"{path}: {p}" for p in problems)
        if env_only:
            errors.extend(
                f"{path}: ${{secrets:{name}}} is not allowed inside the secrets section "
                "(only ${env:NAME} and ${NAME})"
                for kind, name in refs
                if kind == "secrets"
            )
    elif isinstance(value, dict):
        for k, v in value.items():
            check_tree(v, f"{path}.{k}" if path else str(k), env_only, errors, depth + 1)
    elif isinstance(value, list | tuple):
        for idx, v in enumerate(value):
            check_tree(v, f"{path}[{idx}]", env_only, errors, depth + 1)


__all__ = ["check_tree", "find_references", "has_reference"]
