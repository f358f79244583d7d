"""CLI: ``sync``, ``link``, ``delink``, ``not-a-match``, ``create-in-liscio``,
``create-in-ipm`` (refused, exit 3, when a likely duplicate exists, unless ``--anyway``),
``disconnect`` and ``status``.

Exit codes (mapped in :mod:`pmtools.cli`): 0 done; 1 done with record errors; 2 usage or
configuration; 3 refused by the preflight; 4 another sync holds the lock; 5 the run stopped.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from pmtools.config import Settings
from pmtools.core.plan import COUNT_KEYS, Op, Plan, change_total
from pmtools.core.records import Address, FieldValue, Kind, Side
from pmtools.core.text import for_terminal, quoted

KINDS = ("accounts", "contacts")


def register(subparsers: Any) -> None:
    """Add this module's subcommands to the ``pmtools`` parser."""
    p = subparsers.add_parser("sync", help="Sync Now: link, create and write fields")
    p.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    p.add_argument("--kind", choices=(*KINDS, "all"), default="all")
    p.add_argument(
        "--force", action="store_true", help="run the first sync even when the preflight refuses it"
    )
    p.add_argument(
        "--min-share",
        type=_share,
        default=None,
        metavar="RATIO",
        help="first sync: refuse when Liscio holds fewer than RATIO x IPM's "
        "records of a kind (default 0.5)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="pull every IPM record again instead of those changed since last time",
    )
    p.add_argument(
        "--json", action="store_true", help="print the counts as one JSON object on the last line"
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for another sync to finish (default: exit 4 at once)",
    )
    p.add_argument(
        "--background",
        action="store_true",
        help="only queue the sync for the worker (`pmtools worker`, or the app's) and return",
    )
    _service_flags(p)
    p.set_defaults(func=cmd_sync)

    p = subparsers.add_parser("link", help="link a Liscio record with an IPM record by hand")
    _kind(p)
    p.add_argument("liscio_id", metavar="LISCIO_ID")
    p.add_argument("ipm_key", metavar="IPM_KEY")
    _service_flags(p)
    p.set_defaults(func=cmd_link)

    p = subparsers.add_parser("delink", help="forget a link (nothing is written anywhere)")
    _kind(p)
    p.add_argument("liscio_id", metavar="LISCIO_ID")
    p.set_defaults(func=cmd_delink)

    p = subparsers.add_parser("not-a-match", help="never auto-link these two records")
    _kind(p)
    p.add_argument("liscio_id", metavar="LISCIO_ID")
    p.add_argument("ipm_key", metavar="IPM_KEY")
    p.set_defaults(func=cmd_not_a_match)

    p = subparsers.add_parser("create-in-liscio", help="create an IPM record in Liscio, linked")
    _kind(p)
    p.add_argument("ipm_key", metavar="IPM_KEY")
    p.add_argument(
        "--anyway",
        action="store_true",
        help="create even when a likely duplicate exists (IPM cannot delete)",
    )
    _service_flags(p)
    p.set_defaults(func=cmd_create_in_liscio)

    p = subparsers.add_parser("create-in-ipm", help="create a Liscio record in IPM, linked")
    _kind(p)
    p.add_argument("liscio_id", metavar="LISCIO_ID")
    p.add_argument(
        "--anyway",
        action="store_true",
        help="create even when a likely duplicate exists (IPM cannot delete)",
    )
    _service_flags(p)
    p.set_defaults(func=cmd_create_in_ipm)

    p = subparsers.add_parser("disconnect", help="forget links, decisions and baseline")
    p.add_argument("--yes", action="store_true", help="really forget them")
    p.set_defaults(func=cmd_disconnect)

    p = subparsers.add_parser("status", help="links, decisions and the last run")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_status)


def _kind(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", metavar="KIND", choices=KINDS, help="accounts or contacts")


def _service_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--liscio-url", help="Liscio API base URL (default $PMTOOLS_LISCIO_URL)")
    p.add_argument("--ipm-url", help="IPM (Karbon) API base URL (default $PMTOOLS_IPM_URL)")


# -- wiring ----------------------------------------------------------------------------------
def settings_from(args: argparse.Namespace) -> Settings:
    """Settings of the firm (``--firm``, else the environment's) and this command's flags."""
    from pmtools.store.firms import resolve

    firm = resolve(getattr(args, "firm", None), state=getattr(args, "state", None))
    flags = {k: getattr(args, k, None) for k in ("liscio_url", "ipm_url")}
    return dataclasses.replace(firm.settings, **{k: v for k, v in flags.items() if v is not None})


def open_store(settings: Settings, *, start_over: bool = False) -> Any:
    """The state store of ``settings`` (``start_over``: replace a lost state file)."""
    from pmtools.store.firms import open_state

    return open_state(settings, start_over=start_over)


def connectors(settings: Settings, store: Any) -> tuple[Any, Any]:
    """(liscio, ipm) connectors for ``settings``, checked against the firm ``store`` belongs
    to (TenantMismatch otherwise); ConfigError when not configured."""
    from pmtools.engine.tenant import connect_checked

    settings.require_services()
    return connect_checked(settings, store)


@contextmanager
def guarded(settings: Settings, *, lock: bool, wait: float = 0.0) -> Iterator[tuple[Any, Any, Any]]:
    """(store, liscio, ipm) for a command that talks to the services: the lock first when the
    command writes (another sync: exit 4, nothing asked), then the tenant guard."""
    settings.require_services()
    with open_store(settings) as store, store.lock(timeout=wait) if lock else nullcontext():
        liscio, ipm = connectors(settings, store)
        yield store, liscio, ipm


def _exit_for(outcome: str) -> int:
    from pmtools.cli import EXIT_OK, EXIT_RECORD_ERRORS

    return EXIT_RECORD_ERRORS if outcome == "done_with_errors" else EXIT_OK


def _print_errors(errors: tuple[str, ...]) -> None:
    for error in errors:
        print(for_terminal(f"error: {error}"), file=sys.stderr)


def _share(text: str) -> float:
    """A ratio between 0 and 1 for ``--min-share``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {value}")
    return value


# -- commands --------------------------------------------------------------------------------
def cmd_sync(args: argparse.Namespace) -> int:
    """``pmtools sync``: a job of its firm, run in this process (the job's worker)."""
    from pmtools.cli import EXIT_FAILED
    from pmtools.jobs import foreground as job_cli

    settings = settings_from(args)
    params: dict[str, Any] = {
        "kinds": [k.value for k in Kind] if args.kind == "all" else [args.kind],
        "force": bool(args.force),
        "full": bool(args.full),
        "min_share": args.min_share,
    }
    kind = "dry_run" if args.dry_run else "sync"
    firm = job_cli.firm_of(settings, getattr(args, "firm", None))
    if getattr(args, "background", False):
        job = job_cli.queue_job(firm, kind, params, started_by="cli")
        print(
            f"pmtools: {job.kind_words} of {firm.name} is queued for the worker; follow it "
            f"with `pmtools jobs` or in the app (`pmtools worker` must be running)"
        )
        return 0
    settings.require_services()
    outcome = job_cli.run_in_process(firm, kind, params, started_by="cli", wait=max(args.wait, 0.0))
    result = outcome.result
    if args.dry_run:
        names = {
            (side, kind, r.id): r.name
            for (side, kind), recs in result.records.items()
            for r in recs
        }
        print(for_terminal(format_plan(result.plan, names)))
    _print_errors(result.errors)
    counts = {k: result.counts.get(k, 0) for k in COUNT_KEYS}
    run = "dry run" if result.run_id is None else f"run {result.run_id}"
    print(
        f"sync {run} {result.outcome}: {change_total(counts):,} changes ("
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + ")"
    )
    if args.json:
        print(json.dumps(counts))
    if result.outcome == "cancelled":
        print(
            "pmtools: the sync was cancelled; run the same command again to finish it",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return _exit_for(result.outcome)


def _operation(result: Any) -> int:
    _print_errors(result.errors)
    print(for_terminal(f"{result.command} run {result.run_id} {result.outcome}: {result.message}"))
    return _exit_for(result.outcome)


def cmd_link(args: argparse.Namespace) -> int:
    """``pmtools link KIND LISCIO_ID IPM_KEY``."""
    from pmtools.engine import operations

    settings = settings_from(args)
    with guarded(settings, lock=True) as (store, liscio, ipm):
        return _operation(
            operations.link(
                Kind(args.kind), args.liscio_id, args.ipm_key, store=store, liscio=liscio, ipm=ipm
            )
        )


def cmd_delink(args: argparse.Namespace) -> int:
    """``pmtools delink KIND LISCIO_ID``."""
    from pmtools.engine import operations

    with open_store(settings_from(args)) as store:
        return _operation(operations.delink(Kind(args.kind), args.liscio_id, store=store))


def cmd_not_a_match(args: argparse.Namespace) -> int:
    """``pmtools not-a-match KIND LISCIO_ID IPM_KEY``."""
    from pmtools.engine import operations

    with open_store(settings_from(args)) as store:
        return _operation(
            operations.not_a_match(Kind(args.kind), args.liscio_id, args.ipm_key, store=store)
        )


def cmd_create_in_liscio(args: argparse.Namespace) -> int:
    """``pmtools create-in-liscio KIND IPM_KEY``."""
    from pmtools.engine import operations

    settings = settings_from(args)
    with guarded(settings, lock=True) as (store, liscio, ipm):
        return _operation(
            operations.create_in_liscio(
                Kind(args.kind),
                args.ipm_key,
                store=store,
                liscio=liscio,
                ipm=ipm,
                anyway=args.anyway,
            )
        )


def cmd_create_in_ipm(args: argparse.Namespace) -> int:
    """``pmtools create-in-ipm KIND LISCIO_ID``."""
    from pmtools.engine import operations

    settings = settings_from(args)
    with guarded(settings, lock=True) as (store, liscio, ipm):
        return _operation(
            operations.create_in_ipm(
                Kind(args.kind),
                args.liscio_id,
                store=store,
                liscio=liscio,
                ipm=ipm,
                anyway=args.anyway,
            )
        )


def cmd_disconnect(args: argparse.Namespace) -> int:
    """``pmtools disconnect --yes``."""
    from pmtools.cli import EXIT_USAGE
    from pmtools.engine import operations

    if not args.yes:
        print(
            "pmtools: disconnect forgets every link, decision and the baseline (nothing is "
            "written to Liscio or IPM; the audit trail is kept). Run it again with --yes.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    with open_store(settings_from(args), start_over=True) as store:
        return _operation(operations.disconnect(store=store))


def cmd_status(args: argparse.Namespace) -> int:
    """``pmtools status [--json]``."""
    from pmtools.engine import operations

    with open_store(settings_from(args)) as store:
        info = operations.status(store=store)
    if args.json:
        print(json.dumps(info, sort_keys=True))
        return 0
    print(f"state file: {info['state']} (schema {info['schema_version']})")
    print("first Sync Now: " + (info["first_sync_at"] or "not yet"))
    if info["belongs_to"]:
        print("belongs to: " + " and ".join(info["belongs_to"].values()))
    for kind, c in info["kinds"].items():
        print(
            f"{kind}: {c['linked']} linked, {c['orphaned']} orphaned, "
            f"{c['awaiting_first_sync']} awaiting their first sync, {c['not_a_match']} "
            f"not a match, {c['delinked']} delinked"
            + ("" if c["baseline"] is None else f", baseline {c['baseline']}")
        )
    last = info["last_run"]
    if last:
        print(
            for_terminal(
                f"last run: {last['id']} {last['command']} by {last['started_by']} "
                f"at {last['started_at']}: {last['outcome']}"
                + (f" ({last['message']})" if last["message"] else "")
            )
        )
    if info["open_intents"]:
        print(
            f"{info['open_intents']} write(s) of an interrupted run are unsettled: "
            f"the next sync settles them"
        )
    return 0


# -- plan rendering --------------------------------------------------------------------------
# Record text is quoted with its control, bidi and zero-width characters escaped
# (pmtools.core.text.quoted): a name must not redraw the terminal or reverse what a line says.
def _show(value: FieldValue) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "(empty)"
    if isinstance(value, Address):
        return quoted(str(value)) if not value.is_empty() else "(empty)"
    return quoted(value)


def _bad_email_note(a: Any) -> str:
    """A dry run's warning for an email that apply will refuse (a record error, not sent)."""
    from pmtools.core.rules import email_problem

    if a.op is Op.WRITE:
        value = a.after if a.field == "email" else None
    else:
        value = a.record.email if a.record is not None else None
    problem = email_problem(value)
    if problem is None:
        return ""
    what = "not written" if a.op is Op.WRITE else "created without it"
    return f"  -- not a valid email ({problem}): {what}, a record error"


def format_plan(plan: Plan, names: Mapping[tuple[Side, Kind, str], str]) -> str:
    """A plan in plain lines: every link, create, write (before -> after), orphan, ambiguity."""

    def who(side: Side, kind: Kind, record_id: str | None) -> str:
        if record_id is None:
            return "(new)"
        name = names.get((side, kind, record_id))
        return f"{quoted(name)} [{record_id}]" if name else f"[{record_id}]"

    lines = []
    for a in plan.actions:
        lis = who(Side.LISCIO, a.kind, a.liscio_id)
        ipm = who(Side.IPM, a.kind, a.ipm_key)
        why = f"  ({a.rule})" if a.rule else ""
        if a.op is Op.LINK:
            lines.append(f"link      {a.kind}: Liscio {lis} <-> IPM {ipm}{why}")
        elif a.op is Op.CREATE_IN_IPM:
            name = quoted(a.record.name) if a.record else lis
            lines.append(
                f"create    {a.kind}: in IPM from Liscio {name} [{a.liscio_id}]{why}"
                + _bad_email_note(a)
            )
        elif a.op is Op.CREATE_IN_LISCIO:
            name = quoted(a.record.name) if a.record else ipm
            lines.append(
                f"create    {a.kind}: in Liscio from IPM {name} [{a.ipm_key}]{why}"
                + _bad_email_note(a)
            )
        elif a.op is Op.WRITE:
            target = f"IPM {ipm}" if a.side is Side.IPM else f"Liscio {lis}"
            lines.append(
                f"write     {a.kind}: {target} {a.field}: {_show(a.before)} -> "
                f"{_show(a.after)}{why}" + _bad_email_note(a)
            )
        elif a.op is Op.ORPHAN:
            lines.append(f"orphan    {a.kind}: Liscio {lis} / IPM {ipm}: {a.reason}")
        elif a.op is Op.AMBIGUOUS:
            lines.append(
                f"ambiguous {a.kind}: {lis if a.liscio_id else ipm} shares its name "
                f"with {', '.join(a.candidates)}"
            )
        elif a.op is Op.UNMATCHED:
            rec = lis if a.side is Side.LISCIO else ipm
            lines.append(
                f"unmatched {a.kind}: {a.side} {rec}" + (f": {a.reason}" if a.reason else "")
            )
        elif a.op is Op.SKIP:
            lines.append(f"skip      {a.kind}: Liscio {lis} / IPM {ipm}: {a.reason}")
    if not lines:
        lines.append("nothing to do")
    return "\n".join(lines)
