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

from pmtools.analysis.messages import service_error_text
from pmtools.core.text import TerminalFormatter, for_terminal
from pmtools.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    LockHeld,
    PmtoolsError,
    PreflightRefused,
    StateError,
    TenantMismatch,
)

EXIT_OK, EXIT_RECORD_ERRORS, EXIT_USAGE, EXIT_PREFLIGHT, EXIT_LOCKED = 0, 1, 2, 3, 4
EXIT_FAILED = 5  # the run stopped: a service or the state file failed
EXIT_UNEXPECTED = 6  # an unexpected error (a bug): the run marked failed; -v shows the traceback
EXIT_BROKEN_PIPE = 141  # the reader of the output went away (the shell's code for SIGPIPE)

COMMAND_MODULES: tuple[str, ...] = (
    "pmtools.cli.sandbox",
    "pmtools.cli.app",
    "pmtools.cli.sync",
    "pmtools.cli.report",
    "pmtools.cli.review",
    "pmtools.cli.worker",
    "pmtools.cli.jobs",
    "pmtools.cli.firm",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="pmtools",
        description="Keep Liscio accounts and contacts in sync with Intuit Practice "
        "Management organizations and people.",
    )
    parser.add_argument(
        "--state", help="state file (default $PMTOOLS_STATE or ./pmtools-state.sqlite)"
    )
    parser.add_argument(
        "--firm",
        metavar="NAME",
        help="a registered firm (`pmtools firm list`; default $PMTOOLS_FIRM, else the firm "
        "the PMTOOLS_* settings describe)",
    )
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
    log_output = logging.StreamHandler(sys.stderr)  # log lines name records: escaped too
    log_output.setFormatter(TerminalFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, handlers=[log_output]
    )
    logging.getLogger("httpx").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        return int(args.func(args))
    except AuthError as exc:  # wrong credentials are a configuration error
        logging.getLogger("pmtools").debug("%s", exc)
        print(for_terminal(f"pmtools: {_auth_text(exc, args)}"), file=sys.stderr)
        return EXIT_USAGE
    except TenantMismatch as exc:
        print(for_terminal(f"pmtools: {_mismatch_text(exc, args)}"), file=sys.stderr)
        return EXIT_USAGE
    except ConfigError as exc:
        print(for_terminal(f"pmtools: {exc}"), file=sys.stderr)
        return EXIT_USAGE
    except PreflightRefused as exc:
        print(for_terminal(f"pmtools: refused: {exc}"), file=sys.stderr)
        return EXIT_PREFLIGHT
    except LockHeld as exc:
        print(for_terminal(f"pmtools: {exc}"), file=sys.stderr)
        return EXIT_LOCKED
    except ConnectorError as exc:
        logging.getLogger("pmtools").debug("%s", exc)
        text = service_error_text(exc, firm=_firm_named(args))
        print(for_terminal(f"pmtools: {text}"), file=sys.stderr)
        return EXIT_FAILED
    except (StateError, PmtoolsError) as exc:
        print(for_terminal(f"pmtools: {exc}"), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("pmtools: interrupted; run the same command again to finish", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `pmtools jobs | head -1`: the reader has all it wanted
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # never exit 1 ("done with record errors") on a crash
        # The traceback only with -v: its text may carry record data, never shown unasked.
        logging.getLogger("pmtools").debug("unexpected error", exc_info=exc)
        see = "above" if args.verbose else "with `pmtools -v …`"
        print(
            f"pmtools: unexpected error ({type(exc).__name__}); the run was marked failed "
            f"— see the details {see} and report them to the pmtools maintainers",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so that its flush at exit does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
        pass


def _firm_named(args: argparse.Namespace) -> str | None:
    """The registered firm the command ran for (``--firm``, ``PMTOOLS_FIRM``, ``firm test``)."""
    from pmtools.store.firms import ENVIRONMENT, firm_name_from

    if getattr(args, "firm_command", None) == "test":
        return str(args.name)
    name = firm_name_from(getattr(args, "firm", None))
    return None if name == ENVIRONMENT else name


def _auth_text(exc: AuthError, args: argparse.Namespace) -> str:
    """Refused credentials in words: a registered firm's keys are re-entered with firm add."""
    name = _firm_named(args)
    if name is None:
        return service_error_text(exc)
    from pmtools.cli.firm import auth_text

    return auth_text(exc, name)


def _mismatch_text(exc: TenantMismatch, args: argparse.Namespace) -> str:
    """A state bound to another firm, in words: a registered firm's settings are its own."""
    name = _firm_named(args)
    if name is None:
        return str(exc)
    from pmtools.cli.firm import mismatch_text

    return mismatch_text(exc, name)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
