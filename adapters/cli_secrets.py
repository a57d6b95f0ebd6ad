"""`modelmesh secrets set | list | import | delete` (SPEC R-119, R-77).

`--store ID` names the secret store (any ID form the config accepts, e.g.
`modelmesh.dotenv.v1` or `dotenv`); with `--config F` the store parameters
come from that file's `secrets` section (and `--store` defaults to its
connector). `set` reads the value from stdin when it is not given (without
echo on a terminal) and never prints it; `list` prints names only, sorted;
`import` loads a `.env` file; `delete` exits 1 when the name is absent. A
store without Management answers "store is read-only" (exit 1).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from meshcore.errors import ConfigurationError, ModelMeshError

__all__ = ["main", "open_store"]


def _err(message: str) -> None:
    print(f"modelmesh secrets: {message}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="modelmesh secrets",
                                 description="manage secrets in a secret store")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", metavar="ID", help="secret store connector ID")
    common.add_argument("--config", metavar="F", help="config file with a secrets section")
    sub = ap.add_subparsers(dest="op", required=True)
    s = sub.add_parser("set", parents=[common], help="store a secret")
    s.add_argument("name", metavar="NAME")
    s.add_argument("value", metavar="VALUE", nargs="?")
    sub.add_parser("list", parents=[common], help="print secret names")
    i = sub.add_parser("import", parents=[common], help="import a .env file")
    i.add_argument("file", metavar="FILE")
    d = sub.add_parser("delete", parents=[common], help="remove a secret")
    d.add_argument("name", metavar="NAME")
    return ap


def _config_section(path: str) -> Mapping[str, Any]:
    from pathlib import Path

    from adapters.build import _read_file

    data = _read_file(Path(path))
    raw = data.get("secrets")
    return raw if isinstance(raw, Mapping) else {}


def open_store(store: str | None, config: str | None,
               environ: Mapping[str, str] | None = None) -> Any:
    """The secret store named by `--store` / `--config` (ConfigurationError
    when it cannot be built)."""
    from adapters.secrets.registry import create_store
    from meshcore.config.common import Ctx
    from meshcore.config.sections import normalise_secrets

    raw: dict[str, Any] = dict(_config_section(config)) if config else {}
    if store is not None:
        ctx = Ctx()
        probe = normalise_secrets(ctx, {"connector": store})
        named = normalise_secrets(Ctx(), {"connector": raw.get("store") or raw.get("connector")
                                          or "modelmesh.env.v1"})
        if not raw or probe["connector"] != named["connector"]:
            raw = {"connector": store}  # a different store: its defaults, not the config's
        else:
            raw.pop("store", None)
            raw["connector"] = store
    elif not config:
        raise ConfigurationError("--store ID (or --config F) is required")
    ctx = Ctx()
    section = normalise_secrets(ctx, raw)
    if ctx.errors:
        raise ConfigurationError("; ".join(ctx.errors), {"errors": list(ctx.errors)})
    return create_store(section, environ=os.environ if environ is None else environ)


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"value for {name}: ")
    text = sys.stdin.read()
    return text[:-1] if text.endswith("\n") else text


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `secrets` operation; 0 success, 1 failure, 2 usage error."""
    from adapters.secrets.base import ReadOnlyStoreError, require_management
    from adapters.secrets.dotenv import parse_dotenv

    try:
        args = _parser().parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    if args.store is None and args.config is None:
        _err("--store ID (or --config F) is required")
        return 2
    try:
        store = require_management(open_store(args.store, args.config))
        if args.op == "set":
            value = args.value if args.value is not None else _read_value(args.name)
            store.set(args.name, value)
            print(f"stored {args.name}")
        elif args.op == "list":
            for name in sorted(store.list()):
                print(name)
        elif args.op == "import":
            try:
                with open(args.file, encoding="utf-8") as fh:
                    entries = parse_dotenv(fh.read())
            except OSError as exc:
                _err(f"cannot read {args.file}: {exc.strerror}")
                return 1
            values = {e.key: e.value for e in entries}
            for key, value in values.items():
                store.set(key, value)
            print(f"imported {len(values)} secrets")
        elif args.op == "delete":
            try:
                store.delete(args.name)
            except KeyError:
                _err(f"secret {args.name!r} not found")
                return 1
            print(f"deleted {args.name}")
    except ReadOnlyStoreError as exc:
        _err(str(exc))
        return 1
    except (ModelMeshError, OSError) as exc:
        _err(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
