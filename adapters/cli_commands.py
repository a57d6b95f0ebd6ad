"""The `modelmesh` subcommands `serve`, `check`, `explain`, `fake-provider` and
`secrets` (SPEC R-119). `adapters.cli` registers them with `register(sub)`.

Exit codes: 0 success, 1 failure (invalid configuration, unknown pool, port in
use), 2 usage error (argparse). Problems go to stderr and name what is wrong.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshcore.errors import ConfigurationError, ModelMeshError

__all__ = [
    "check_command",
    "explain_command",
    "fake_provider_command",
    "register",
    "secrets_command",
    "serve_command",
    "serve_main",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _err(cmd: str, message: str) -> None:
    print(f"modelmesh {cmd}: {message}", file=sys.stderr)


def _config_errors(exc: BaseException) -> list[str]:
    details = getattr(exc, "details", None)
    errors = details.get("errors") if isinstance(details, dict) else None
    return [str(e) for e in errors] if errors else [str(exc)]


# ---------------------------------------------------------------- serve


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `serve` (shared with `python -m adapters.proxy`)."""
    p.add_argument("--config", metavar="F",
                   help="config file (default: $MODELMESH_CONFIG, else zero-config)")
    p.add_argument("--host", metavar="H", help="address to bind (default proxy.host)")
    p.add_argument("--port", metavar="P", type=int, help="port (default proxy.port; 0 = any)")
    p.add_argument("--token", metavar="T", help="bearer token to require (enables auth)")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="INFO")
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                   help="asyncio event loop: uvloop when installed (auto), the standard "
                        "loop, or uvloop (an error when it is not installed)")
    p.add_argument("--record", metavar="F", help="write the event log (R-99) to F")


def serve_command(args: argparse.Namespace) -> int:
    """Run the proxy until SIGTERM/SIGINT (R-118)."""
    from adapters.proxy.server import ConfigSource, backend_options, run_proxy

    if args.port is not None and not 0 <= args.port <= 65535:
        _err("serve", f"--port {args.port}: must be in 0..65535")
        return 2
    try:
        backend_options(args.backend, args.loop)
    except ValueError as exc:
        _err("serve", f"--loop {args.loop}: {exc}")
        return 2
    logging.basicConfig(level=getattr(logging, args.log_level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)

    def announce(url: str) -> None:
        print(f"listening on {url}", flush=True)

    source = ConfigSource.from_args(args.config)
    try:
        return run_proxy(source, host=args.host, port=args.port, token=args.token,
                         backend=args.backend, record=args.record, log_level=args.log_level,
                         announce=announce, loop=args.loop)
    except (ConfigurationError, ValueError, TypeError) as exc:
        where = source.path or "the environment"
        _err("serve", f"invalid configuration ({where}):")
        for line in _config_errors(exc):
            print(f"  ERROR {line}", file=sys.stderr)
        return 1
    except OSError as exc:
        _err("serve", f"cannot listen: {exc.strerror or exc}")
        return 1


def serve_main(argv: Sequence[str] | None = None) -> int:
    """`python -m adapters.proxy [serve options]`."""
    p = argparse.ArgumentParser(prog="python -m adapters.proxy",
                                description="Run the OpenAI-compatible proxy (= modelmesh serve)")
    add_serve_arguments(p)
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return serve_command(args)


# ---------------------------------------------------------------- check


def _read_config(path: str) -> dict[str, Any]:
    """The raw config mapping of a JSON or YAML file (ConfigurationError otherwise)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}",
                                 {"errors": [f"{path}: cannot read: {exc.strerror or exc}"]},
                                 ) from None
    try:
        if file.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:
        raise ConfigurationError(f"cannot parse {path}: {exc}",
                                 {"errors": [f"{path}: cannot parse: {exc}"]}) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} must hold a mapping",
                                 {"errors": [f"{path}: must hold a mapping"]})
    return data


def check_command(args: argparse.Namespace) -> int:
    """Validate a config: one line per problem, then a summary (R-119)."""
    from adapters.build import _connectors, build
    from meshcore.config import validate

    try:
        data = _read_config(args.config)
        result = validate(data, connectors=_connectors(data))
    except ConfigurationError as exc:
        for line in _config_errors(exc):
            print(f"ERROR {line}")
        print("1 error(s), 0 warning(s)")
        return 1
    errors = [str(e) for e in result.errors]
    warnings = [str(w) for w in result.warnings]
    if not errors and args.resolve_secrets:
        try:
            build((), config=data)
        except ConfigurationError as exc:
            errors.extend(_config_errors(exc))
    for e in errors:
        print(f"ERROR {e}")
    for w in warnings:
        print(f"WARNING {w}")
    print(f"{len(errors)} error(s), {len(warnings)} warning(s)"
          + ("" if errors else f": {args.config} is valid"))
    return 1 if errors else 0


# ---------------------------------------------------------------- explain


def _explain_text(result: dict[str, Any]) -> str:
    lines = [f"pool: {result.get('pool_name')}", f"strategy: {result.get('strategy')}",
             f"capability: {result.get('capability')}",
             f"selected: {result.get('selected_model')} [{result.get('selected_provider')}]",
             f"reason: {result.get('reason')}", "candidates:"]
    for c in result.get("candidates") or ():
        c = c if isinstance(c, dict) else dict(c)
        mark = "→" if c.get("model_id") == result.get("selected_model") else " "
        extra = "" if c.get("eligible") else f" excluded: {c.get('excluded_reason')}"
        lines.append(f"  {mark} {c.get('model_id')} [{c.get('provider_id')}] "
                     f"({c.get('status')}){extra}")
    return "\n".join(lines)


def explain_command(args: argparse.Namespace) -> int:
    """Print `explain()` for a pool; no provider is called (R-106)."""
    from adapters.client import create
    from adapters.proxy.asgi import dumps

    try:
        client = create(config=_read_config(args.config))
    except (ConfigurationError, ValueError, TypeError) as exc:
        _err("explain", f"invalid configuration {args.config}:")
        for line in _config_errors(exc):
            print(f"  ERROR {line}", file=sys.stderr)
        return 1
    try:
        if args.pool not in client._built.config.pools:
            pools = ", ".join(sorted(client._built.config.pools)) or "(none)"
            _err("explain", f"unknown pool {args.pool!r}; pools: {pools}")
            return 1
        result = client.explain(args.pool)
    except ModelMeshError as exc:
        _err("explain", str(exc))
        return 1
    finally:
        client.close()
    if args.json:
        print(json.dumps(json.loads(dumps(result)), indent=2))
    else:
        print(_explain_text(result))
    return 0


# ---------------------------------------------------------------- fake-provider, secrets


def fake_provider_command(args: argparse.Namespace) -> int:
    """Run `adapters.fake_provider.cli` with the parsed options."""
    from adapters.fake_provider.cli import main as fake_main

    argv = ["--host", args.host, "--port", str(args.port), "--format", args.format]
    if args.plan:
        argv += ["--plan", args.plan]
    return fake_main(argv)


def secrets_command(args: argparse.Namespace) -> int:
    """`modelmesh secrets set|list|import|delete` (delegates to `adapters.cli_secrets`)."""
    from adapters.cli_secrets import main as secrets_main

    return secrets_main(list(args.rest))


# ---------------------------------------------------------------- registration


def register(sub: Any) -> None:
    """Add the subcommands to `modelmesh`'s subparsers; each sets `handler`."""
    s = sub.add_parser("serve", help="run the OpenAI-compatible proxy")
    add_serve_arguments(s)
    s.set_defaults(handler=serve_command)

    c = sub.add_parser("check", help="validate a configuration file")
    c.add_argument("--config", metavar="F", required=True)
    c.add_argument("--resolve-secrets", action="store_true",
                   help="also resolve every secret reference (values never printed)")
    c.set_defaults(handler=check_command)

    e = sub.add_parser("explain", help="dry-run routing decision for a pool")
    e.add_argument("--config", metavar="F", required=True)
    e.add_argument("pool", metavar="POOL")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.set_defaults(handler=explain_command)

    from adapters.fake_provider.cli import build_parser as fake_parser

    f = sub.add_parser("fake-provider", help="run the scriptable fake provider",
                       parents=[fake_parser()], add_help=False,
                       description="Run a scriptable fake AI provider on loopback.")
    f.set_defaults(handler=fake_provider_command)

    sec = sub.add_parser("secrets", help="manage secrets in a store (set, list, import, delete)")
    sec.add_argument("rest", nargs=argparse.REMAINDER)
    sec.set_defaults(handler=secrets_command)
