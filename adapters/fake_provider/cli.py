"""`modelmesh fake-provider`: run `FakeProviderServer` until SIGINT or SIGTERM (SPEC R-119).

Exit codes: 0 after a clean stop, 2 for a usage error (bad arguments, unreadable or invalid
plan file, port in use).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from adapters.fake_provider.formats import FORMATS
from adapters.fake_provider.plan import Plan, load_plan
from adapters.fake_provider.server import FakeProviderServer

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `modelmesh fake-provider`."""
    parser = argparse.ArgumentParser(
        prog="modelmesh fake-provider",
        description="Run a scriptable fake AI provider on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free)")
    parser.add_argument("--plan", metavar="F", help="fault plan file (JSON or YAML)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="openai",
                        help="wire family to speak (default openai)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the fake provider; returns the process exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    plan = Plan()
    if args.plan:
        try:
            plan = load_plan(args.plan)
        except OSError as exc:
            print(f"fake-provider: cannot read plan {args.plan}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"fake-provider: invalid plan {args.plan}: {exc}", file=sys.stderr)
            return 2
    server = FakeProviderServer(plan=plan, format=args.format, host=args.host, port=args.port)
    try:
        server.start()
    except OSError as exc:
        print(f"fake-provider: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous.append((sig, signal.signal(sig, on_signal)))
    try:
        print(f"listening on {server.url}", flush=True)
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for sig, handler in previous:
            signal.signal(sig, handler)
    return 0
