"""CLI: ``pmtools review export`` and ``pmtools review import`` — the spreadsheet round trip.

Export writes the review queue (every record a person must decide) with an empty Decision
column; import validates every row first (exit 2 naming each bad row, nothing changed), prints
the whole effect, and applies it only with ``--yes`` (never with ``--dry-run``), as one run
that ``pmtools undo`` takes back. The apply is a ``review`` job run in the command's own
process (:mod:`pmtools.jobs.foreground`): it previews the decisions again and applies them only
if the preview is the one printed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pmtools.core.records import Kind

KINDS = ("accounts", "contacts")


def register(subparsers: Any) -> None:
    """Add ``pmtools review export|import``."""
    p = subparsers.add_parser(
        "review",
        help="the migration review as a spreadsheet: export, fill in the Decision column, import",
    )
    sub = p.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    e = sub.add_parser("export", help="write every record to decide to FILE.xlsx or FILE.csv")
    e.add_argument("--kind", choices=(*KINDS, "all"), default="all")
    e.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="the file to write (.xlsx or .csv)"
    )
    _service_flags(e)
    e.set_defaults(func=cmd_export)
    i = sub.add_parser(
        "import", help="check a filled review file, show its effect, apply it with --yes"
    )
    i.add_argument("file", metavar="FILE")
    i.add_argument("--dry-run", action="store_true", help="print the effect; write nothing")
    i.add_argument("--yes", action="store_true", help="apply the decisions")
    _service_flags(i)
    i.set_defaults(func=cmd_import)


def _service_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--liscio-url", help="Liscio API base URL (default $PMTOOLS_LISCIO_URL)")
    p.add_argument("--ipm-url", help="IPM (Karbon) API base URL (default $PMTOOLS_IPM_URL)")


def cmd_export(args: argparse.Namespace) -> int:
    """``pmtools review export [--kind K] -o FILE``."""
    from pmtools.cli.sync import guarded, settings_from
    from pmtools.errors import ConfigError
    from pmtools.review import build_queue, load_sources, to_frame, write_sheet

    if not args.output.lower().endswith((".xlsx", ".csv")):
        raise ConfigError(f"the review file must end in .xlsx or .csv, not {args.output!r}")
    kinds = tuple(Kind) if args.kind == "all" else (Kind(args.kind),)
    settings = settings_from(args)
    with guarded(settings, lock=False) as (store, liscio, ipm):
        queue = build_queue(load_sources(store=store, liscio=liscio, ipm=ipm, kinds=kinds))
    rows = queue.select()
    write_sheet(to_frame(rows), args.output)
    counts = queue.counts()["status"]
    detail = ", ".join(f"{n:,} {status}" for status, n in counts.items()) or "nothing to decide"
    print(
        f"wrote {len(rows):,} records to decide to {args.output} ({detail}); fill in the "
        f"Decision column (link, not-a-match, create or skip; Link To overrides the "
        f"suggestion), then `pmtools review import {args.output}`"
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """``pmtools review import FILE [--dry-run] [--yes]``."""
    from pmtools.analysis.review.sheet import FIRST_ROW, RowProblem, read_sheet
    from pmtools.cli import EXIT_OK, EXIT_RECORD_ERRORS, EXIT_USAGE
    from pmtools.cli.sync import guarded, settings_from
    from pmtools.review import build_queue, load_sources, parse_decisions, preview

    frame = read_sheet(args.file)  # ConfigError (exit 2) for a bad file: nothing changed
    decisions, problems = parse_decisions(frame)
    settings = settings_from(args)
    # the lock is apply_preview's own, taken when it writes
    with guarded(settings, lock=False) as (store, liscio, ipm):
        kinds = sorted({d.kind for d in decisions}, key=list(Kind).index) or list(Kind)
        sources = load_sources(store=store, liscio=liscio, ipm=ipm, kinds=kinds)
        shown = preview(decisions, queue=build_queue(sources), sources=sources)
        # A row is named as the person's file names it (the record may not exist at all).
        names = {FIRST_ROW + i: str(n) for i, n in enumerate(frame.get("Name", []))}
        problems += [
            RowProblem(row=r.row or 0, name=names.get(r.row or 0) or r.name, message=r.reason)
            for r in shown.refused
        ]
        if problems:
            for p in sorted(problems, key=lambda p: p.row):
                print(f"pmtools: {p.text()}", file=sys.stderr)
            print(
                f"pmtools: {len(problems):,} bad row(s) in {args.file}: nothing was changed; "
                f"correct them and import again",
                file=sys.stderr,
            )
            return EXIT_USAGE
        print(shown.text())
        if args.dry_run:
            print("dry run: nothing was written")
            return EXIT_OK
        if not args.yes:
            print(
                f"nothing was written: run `pmtools review import {args.file} --yes` to "
                f"apply these decisions"
            )
            return EXIT_OK
    # the apply is a job run in this process (as `pmtools sync` is): the app shows it, Cancel
    # there stops it, and a sync of the same firm meanwhile is refused (exit 4)
    from pmtools.jobs import foreground as job_cli
    from pmtools.jobs.review import review_params

    firm = job_cli.firm_of(settings)
    params = review_params(decisions, shown)
    try:
        outcome = job_cli.run_in_process(firm, "review", params, started_by="cli", echo=_Progress())
    except KeyboardInterrupt:
        with firm.open_store() as store:
            run = store.runs()[-1]
        print(
            f"pmtools: interrupted: what review run {run['id']} applied stays applied "
            f"(`pmtools undo {run['id']}` takes it back); export the review again for "
            f"what is left",
            file=sys.stderr,
        )
        return 130
    result = outcome.result
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    for late in result.refused:
        print(f"left alone: {late.text()}", file=sys.stderr)
    print(
        f"review run {result.run_id} {result.outcome}: {result.message} "
        f"(`pmtools undo {result.run_id}` takes it back)"
    )
    return EXIT_RECORD_ERRORS if result.outcome == "done_with_errors" else EXIT_OK


class _Progress:
    """Progress on stderr: a line at each tenth of the changes (IPM writes take minutes)."""

    def __init__(self) -> None:
        self.shown = -1

    def __call__(self, stage: str, done: int, total: int, message: str) -> None:
        tenth = 10 * done // total if total else 10
        if total >= 20 and tenth > self.shown:
            self.shown = tenth
            print(f"applying: {done:,} of {total:,} changes", file=sys.stderr, flush=True)
