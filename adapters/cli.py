"""The `modelmesh` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _replay(path: str, quiet: bool) -> int:
    from meshcore import replay

    try:
        with open(path, encoding="utf-8") as fh:
            report = replay(fh)
    except OSError as exc:
        print(f"modelmesh replay: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 1
    if not quiet:
        for line in report.decisions:
            print(line)
    if report.error:
        print(f"modelmesh replay: {report.error}", file=sys.stderr)
        return 1
    if not report.ok and report.first_divergence is not None:
        d = report.first_divergence
        print(f"DIVERGED at step {d.step}: event {d.event.get('type')}", file=sys.stderr)
        print(f"  expected: {d.expected}", file=sys.stderr)
        print(f"  actual:   {d.actual}", file=sys.stderr)
        return 1
    print(f"replay OK: {report.steps} steps, seed {report.seed}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modelmesh` console script."""
    ap = argparse.ArgumentParser(prog="modelmesh", description="ModelMesh Lite")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="self-contained failover demo")
    d.add_argument("--requests", type=int, default=50)
    r = sub.add_parser("replay", help="verify that a recorded event log reproduces")
    r.add_argument("events")
    r.add_argument("--quiet", action="store_true")
    from adapters.cli_commands import register

    register(sub)
    args = ap.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is not None:
        code: int = handler(args)
        return code
    if args.cmd == "demo":
        from adapters.demo import run_demo

        if args.requests < 1:
            print("modelmesh demo: --requests must be >= 1", file=sys.stderr)
            return 2
        return run_demo(args.requests, sys.stdout)
    if args.cmd == "replay":
        return _replay(args.events, args.quiet)
    return 2


if __name__ == "__main__":
    sys.exit(main())
