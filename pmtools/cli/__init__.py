"""The ``pmtools`` command line: one subcommand module per area, wired here.

Each module in ``COMMAND_MODULES`` has ``register(subparsers)``, which adds its subcommands
and sets ``func(args) -> int`` on each. Errors map to exit codes here, once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pmtools.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    LockHeld,
    PmtoolsError,
    PreflightRefused,
    StateError,
)

EXIT_OK, EXIT_RECORD_ERRORS, EXIT_USAGE, EXIT_PREFLIGHT, EXIT_LOCKED = 0, 1, 2, 3, 4
EXIT_FAILED = 5  # the run stopped: a service or the state file failed

# Each area adds its module here when it lands.
COMMAND_MODULES: tuple[str, ...] = (
    "pmtools.cli.sandbox",
    "pmtools.cli.app",
    "pmtools.cli.sync",
    "pmtools.cli.report",
    "pmtools.cli.review",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="pmtools",
        description="Keep Liscio accounts and contacts in sync with Intuit Practice "
                    "Management organizations and people.")
    parser.add_argument("--state", help="state file (default $PMTOOLS_STATE or "
                                        "./pmtools-state.sqlite)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(args.func(args))
    except (ConfigError, AuthError) as exc:  # wrong credentials are a configuration error
        print(f"pmtools: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PreflightRefused as exc:
        print(f"pmtools: refused: {exc}", file=sys.stderr)
        return EXIT_PREFLIGHT
    except LockHeld as exc:
        print(f"pmtools: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except (ConnectorError, StateError, PmtoolsError) as exc:
        print(f"pmtools: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("pmtools: interrupted; run the same command again to finish", file=sys.stderr)
        return 130


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
