"""``pmtools report``, ``runs``, ``undo`` and ``explain``: what the sync did, and putting it back.

Library calls live in :mod:`pmtools.analysis.reports`, :mod:`pmtools.analysis.history`,
:mod:`pmtools.engine.undo` and :mod:`pmtools.analysis.explain`; this module only parses flags,
opens the state file and connectors, and prints. Nothing here prompts, so every command is safe
in scripts and cron.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pmtools.config import Settings
from pmtools.core.records import Kind
from pmtools.core.text import for_terminal
from pmtools.errors import ConfigError
from pmtools.store.firms import state_exists

KINDS = [k.value for k in Kind]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the report, runs, undo and explain subcommands."""
    p = sub.add_parser(
        "report",
        help="write a pairs, changes or errors report (CSV or Excel)",
        description="Write a report. In CSV (UTF-8 with a BOM) every cell "
        "that a spreadsheet could run as a formula is prefixed with "
        "a single quote; Excel files hold text cells, shown as they "
        "are.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--kind", choices=KINDS, help="the pairs report of this kind")
    what.add_argument(
        "--changes",
        action="store_true",
        help="every change the syncs made (field writes with before/after)",
    )
    what.add_argument("--errors", action="store_true", help="every record-level failure")
    p.add_argument(
        "--status",
        default="all",
        choices=("linked", "unmatched", "ambiguous", "orphaned", "all"),
        help="pairs report: keep rows of this status (default all)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="read every IPM organization's card again instead of reusing those "
        "unchanged since the last sync",
    )
    p.add_argument("--run", type=int, metavar="RUN_ID", help="--changes/--errors: only this run")
    p.add_argument(
        "--format", choices=("csv", "xlsx"), help="file format (default: from the -o suffix)"
    )
    p.add_argument(
        "-o", "--output", required=True, type=Path, metavar="FILE", help="the file to write"
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("runs", help="list every run: time, kind, who started it, counts, outcome")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "undo",
        help="put back what a run wrote; delink what it linked",
        description="Undo a run: restore the IPM values it overwrote, empty "
        "the Liscio fields it filled (unless changed since: a "
        "conflict, left alone), delink its links, list its creates "
        "(nothing is deleted). The undo is a run itself.",
    )
    p.add_argument("run_id", type=int, metavar="RUN_ID")
    p.add_argument("--dry-run", action="store_true", help="show what would be done; write nothing")
    p.add_argument("--json", action="store_true", help="last line: one JSON object")
    p.set_defaults(func=cmd_undo)

    p = sub.add_parser("explain", help="say why a record is or is not linked")
    p.add_argument("kind", choices=KINDS, metavar="KIND", help="accounts or contacts")
    p.add_argument(
        "name_or_id",
        metavar="NAME_OR_ID",
        help="a Liscio id, an IPM key, or a name (case and spacing ignored)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_explain)
    # A name may start with "-" ("-2+3"): argparse reads such an argument as an unknown option
    # unless it looks like a negative number, and has no public switch for that. Here every
    # argument starting with a single "-" that is not one of the command's own options
    # ("-h", "--json") counts as "a negative number", so it is read as the name.
    p._negative_number_matcher = re.compile(r"^-(?!-)")


def _settings(args: argparse.Namespace) -> Settings:
    from pmtools.store.files import refuse_if_lost
    from pmtools.store.firms import resolve

    settings = resolve(getattr(args, "firm", None), state=getattr(args, "state", None)).settings
    refuse_if_lost(Path(settings.state_path))  # a lost state file is not "no runs yet"
    return settings


def _no_state(settings: Settings) -> str:
    """Where there is no state yet, in words: a registered firm's may be a PostgreSQL schema,
    so no file is named for it."""
    if settings.firm:
        return "this firm has no state yet"
    return f"no state file at {settings.state_path}"


def _open_store(settings: Settings, *, must_exist: bool = True) -> Any:
    from pmtools.store.firms import open_state

    if must_exist and not state_exists(settings):
        raise ConfigError(
            f"{_no_state(settings)}: run `pmtools sync` first"
            + ("" if settings.firm else " or point PMTOOLS_STATE (or --state) at it")
        )
    return open_state(settings)


def _state(settings: Settings, kind: Kind) -> tuple[Any, dict[Kind, str]]:
    """The stored state of ``kind`` and last sync times; empty before any state file."""
    from pmtools.analysis.history import last_sync_times
    from pmtools.core.plan import SyncState

    if not state_exists(settings):
        return SyncState(), {}
    with _open_store(settings) as store:
        return store.state([kind]), last_sync_times(store)


@contextmanager
def _maybe_store(settings: Settings) -> Iterator[Any]:
    """The state file's store, or None when there is none yet (a report does not make one)."""
    if not state_exists(settings):
        yield None
        return
    with _open_store(settings) as store:
        yield store


@contextmanager
def _connectors(settings: Settings, store: Any) -> Iterator[tuple[Any, Any]]:
    """Both connectors, checked against the firm ``store`` belongs to (None: no state yet)."""
    from pmtools.engine.tenant import connect_checked

    settings.require_services()
    liscio, ipm = connect_checked(settings, store)
    try:
        yield liscio, ipm
    finally:
        for c in (liscio, ipm):
            closer = getattr(c, "close", None)
            if callable(closer):
                closer()


def cmd_report(args: argparse.Namespace) -> int:
    """``pmtools report``: write the pairs, changes or errors report to a file."""
    from pmtools.analysis import history, reports
    from pmtools.engine.fetch import fetch_records

    suffix = args.output.suffix.lstrip(".").lower()
    fmt = args.format or suffix
    if fmt not in reports.FORMATS:
        raise ConfigError("give --format csv|xlsx or an -o file ending in .csv or .xlsx")
    if suffix in reports.FORMATS and suffix != fmt:  # Excel would not open it
        raise ConfigError(
            f"--format {fmt} does not fit the file name {args.output.name!r}: "
            f"name it .{fmt}, or leave --format out"
        )
    settings = _settings(args)
    if args.kind is None:
        with _open_store(settings) as store:
            df = (
                history.changes_frame(store, run_id=args.run)
                if args.changes
                else history.errors_frame(store, run_id=args.run)
            )
    else:
        kind = Kind(args.kind)
        state, last = _state(settings, kind)
        with _maybe_store(settings) as store, _connectors(settings, store) as (liscio, ipm):
            lis, ipm_recs = fetch_records(
                kind, liscio=liscio, ipm=ipm, store=store, fresh=args.fresh
            )
        df = reports.pairs_report(
            kind, liscio=lis, ipm=ipm_recs, state=state, status=args.status, last_synced=last
        )
    reports.write_report(df, args.output, fmt)
    print(f"wrote {len(df)} rows to {args.output}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """``pmtools runs``: every run, oldest first."""
    from pmtools.analysis import history

    settings = _settings(args)
    if not state_exists(settings):
        print("[]" if args.json else f"no runs yet ({_no_state(settings)})")
        return 0
    with _open_store(settings) as store:
        if args.json:
            print(json.dumps(history.list_runs(store)))
        else:
            print(for_terminal(history.render_runs(store)))
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    """``pmtools undo RUN_ID [--dry-run]``."""
    from pmtools.engine.undo import plan_undo, undo_run

    settings = _settings(args)
    with _open_store(settings) as store, _connectors(settings, store) as (liscio, ipm):
        if args.dry_run:
            plan = plan_undo(store, args.run_id, liscio=liscio, ipm=ipm)
            print(for_terminal(plan.text()))
            print("dry run: nothing written")
            if args.json:
                print(json.dumps(_plan_json(plan)))
            return 0
        result = undo_run(store, args.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    print(for_terminal(result.plan.text()))
    for err in result.errors:
        print(for_terminal(f"error: {err}"), file=sys.stderr)
    print(f"undo run {result.undo_run_id}: {result.outcome}")
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": result.undo_run_id,
                    "undoes_run": args.run_id,
                    "outcome": result.outcome,
                    "counts": result.counts,
                    **_plan_json(result.plan),
                }
            )
        )
    return 1 if result.errors else 0


def _plan_json(plan: Any) -> dict[str, Any]:
    from pmtools.analysis.reports import format_value

    return {
        "writes": [
            {
                "kind": str(a.kind),
                "side": str(a.side),
                "liscio_id": a.liscio_id,
                "ipm_key": a.ipm_key,
                "field": a.field,
                "from": format_value(a.before),
                "to": format_value(a.after),
            }
            for a in plan.writes
        ],
        "links": [
            {"op": c.op, "kind": str(c.kind), "liscio_id": c.liscio_id, "ipm_key": c.ipm_key}
            for c in plan.links
        ],
        "conflicts": [
            {
                "kind": str(c.kind),
                "side": str(c.side),
                "record_id": c.record_id,
                "field": c.field,
                "reason": c.reason,
            }
            for c in plan.conflicts
        ],
        "created": list(plan.created),
    }


def cmd_explain(args: argparse.Namespace) -> int:
    """``pmtools explain KIND NAME_OR_ID``."""
    from pmtools.analysis.explain import explain_record

    settings = _settings(args)
    kind = Kind(args.kind)
    with _maybe_store(settings) as store, _connectors(settings, store) as (liscio, ipm):
        lis = list(liscio.iter_records(kind))
        ipm_recs = list(ipm.iter_records(kind))
    state, _ = _state(settings, kind)
    exp = explain_record(
        kind, args.name_or_id, liscio_records=lis, ipm_records=ipm_recs, state=state
    )
    if args.json:
        print(
            json.dumps(
                {
                    "kind": str(kind),
                    "query": exp.query,
                    "findings": [
                        {
                            "side": str(f.side) if f.side else None,
                            "id": f.record_id,
                            "name": f.name,
                            "status": f.status,
                            "name_key": f.name_key,
                            "candidates": [{"id": i, "name": n} for i, n in f.candidates],
                            "reasons": list(f.lines),
                        }
                        for f in exp.findings
                    ],
                }
            )
        )
    else:
        print(for_terminal(exp.text))
    return 0
