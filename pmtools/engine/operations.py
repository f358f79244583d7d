"""A person's actions on single records: link, delink, not a match, create, disconnect, status.

Each action (but :func:`status`) is a run in the state store with its own audit rows, holds
the sync lock, and says who started it (``started_by``: cli, app, …). Link and the two creates
apply the pair's first sync at once; delink, not a match and disconnect write to neither
system. A refused action (already linked, no such record) raises ConfigError before any run
is recorded.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pmtools.connectors.base import Connector
from pmtools.core.plan import DecisionKind, LinkHow, LinkStatus
from pmtools.core.records import Kind, Record, Side
from pmtools.core.rulebook import Rule
from pmtools.engine.applier import Applier
from pmtools.errors import ConfigError, ConnectorError, DuplicateRisk, NotFound, PlanChanged
from pmtools.store import ChangeIntent, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationResult:
    """What one action did: its run, counts (COUNT_KEYS), record errors and outcome.

    ``writes`` are the field writes it made (audit rows: side, field, before, after), so a
    page can say what was written without reading the store; ``ipm_record`` is the linked IPM
    record read back after a link or a create (None when it could not be read:
    ``read_back_error`` says why), so a page can show what the action wrote.
    """

    run_id: int
    command: str
    counts: dict[str, int]
    errors: tuple[str, ...] = ()
    outcome: str = "done"
    message: str = ""
    writes: tuple[dict[str, Any], ...] = ()
    ipm_record: Record | None = None
    read_back_error: str = ""


def link(
    kind: Kind,
    liscio_id: str,
    ipm_key: str,
    *,
    store: Store,
    liscio: Connector,
    ipm: Connector,
    started_by: str = "cli",
    expected: Any = None,
) -> OperationResult:
    """Link two records by hand and apply their first sync at once.

    ``expected`` is what the person saw (a :class:`pmtools.review.PairWrites` from
    :func:`pmtools.review.link_preview`): the link is made only while the records, read again,
    give the same writes; otherwise PlanChanged is raised with the new writes (``plan``) and
    nothing is written.
    """
    kind = Kind(kind)
    with store.lock(by=started_by):
        _refuse_if_linked(store, kind, liscio_id=liscio_id, ipm_key=ipm_key)
        liscio_rec = _get(liscio, kind, liscio_id)
        ipm_rec = _get(ipm, kind, ipm_key)
        if liscio_rec.archived:
            raise ConfigError(f"Liscio {kind} {liscio_rec.name!r} is archived: it cannot be linked")
        if expected is not None:
            from pmtools.analysis.review.writes import pair_writes

            now = pair_writes(kind, liscio_rec, ipm_rec)
            if (now.writes, now.unread) != (expected.writes, expected.unread):
                raise PlanChanged(
                    f"{liscio_rec.name!r} or {ipm_rec.name!r} changed since the preview: "
                    f"linking would now write: {'; '.join(now.text().splitlines())}. Review "
                    f"the new writes and confirm again.",
                    plan=now,
                )

        def work(applier: Applier) -> str:
            from pmtools.core.planner import plan_pair

            applier.names.update({(r.side, r.kind, r.id): r.name for r in (liscio_rec, ipm_rec)})
            for decision in DecisionKind:  # a person's link overrides an earlier "no"
                store.remove_decision(kind, liscio_id, ipm_key, decision)
            applier.link(kind, liscio_id, ipm_key, how=LinkHow.MANUAL, rule=Rule.MANUAL_LINK)
            applier.first_sync(kind, liscio_rec, ipm_rec, plan_pair)
            return f"linked {liscio_rec.name!r} with {ipm_rec.name!r}"

        result = _run(store, "link", kind, started_by, work, liscio=liscio, ipm=ipm)
    return _read_back(result, kind, store=store, ipm=ipm, liscio_id=liscio_id)


def delink(
    kind: Kind,
    liscio_id: str,
    *,
    store: Store,
    started_by: str = "cli",
    liscio: Connector | None = None,
    ipm: Connector | None = None,
) -> OperationResult:
    """Forget a link and remember the pair as delinked; nothing is written to either system.

    ``liscio``/``ipm`` are accepted (and unused) so that every action takes the same arguments.
    """
    kind = Kind(kind)
    with store.lock(by=started_by):
        existing = store.link_for(kind, liscio_id=liscio_id)
        if existing is None:
            raise ConfigError(f"Liscio {kind} {liscio_id} is not linked")

        def work(applier: Applier) -> str:
            store.remove_link(
                kind,
                liscio_id,
                run_id=applier.run_id,
                decision=DecisionKind.DELINKED,
                audit=ChangeIntent(
                    kind=kind,
                    op="delink",
                    liscio_id=liscio_id,
                    ipm_key=existing.ipm_key,
                    before=str(existing.how),
                    rule=Rule.DELINK,
                ),
            )
            return f"delinked {kind} {liscio_id} from {existing.ipm_key}"

        return _run(store, "delink", kind, started_by, work)


def not_a_match(
    kind: Kind,
    liscio_id: str,
    ipm_key: str,
    *,
    store: Store,
    started_by: str = "cli",
    liscio: Connector | None = None,
    ipm: Connector | None = None,
) -> OperationResult:
    """Remember that two records are not the same: Sync Now never links them.

    ``liscio``/``ipm`` are accepted (and unused) so that every action takes the same arguments.
    """
    kind = Kind(kind)
    with store.lock(by=started_by):
        existing = store.link_for(kind, liscio_id=liscio_id)
        if existing is not None and existing.ipm_key == ipm_key:
            raise ConfigError(
                f"Liscio {kind} {liscio_id} is linked to {ipm_key}: delink them instead"
            )

        def work(applier: Applier) -> str:
            store.add_decision(
                kind,
                liscio_id,
                ipm_key,
                DecisionKind.NOT_A_MATCH,
                run_id=applier.run_id,
                audit=ChangeIntent(
                    kind=kind,
                    op="not_a_match",
                    liscio_id=liscio_id,
                    ipm_key=ipm_key,
                    rule=Rule.NOT_A_MATCH,
                ),
            )
            return f"{kind} {liscio_id} and {ipm_key} will not be matched"

        return _run(store, "not_a_match", kind, started_by, work)


def create_in_ipm(
    kind: Kind,
    liscio_id: str,
    *,
    store: Store,
    liscio: Connector,
    ipm: Connector,
    started_by: str = "cli",
    anyway: bool = False,
    finder: Any = None,
) -> OperationResult:
    """Create the IPM record of a Liscio one, link them and apply the first sync.

    Refused with DuplicateRisk (naming the candidates) when IPM likely holds the record
    already (:func:`pmtools.review.likely_duplicates`), unless ``anyway`` — IPM cannot delete.
    ``finder`` (a :class:`pmtools.review.DuplicateFinder` over IPM's records, which the app
    builds once from the records it shows) saves reading every record for the check.
    """
    return _create(
        Kind(kind),
        Side.IPM,
        liscio_id,
        store=store,
        liscio=liscio,
        ipm=ipm,
        started_by=started_by,
        anyway=anyway,
        finder=finder,
    )


def create_in_liscio(
    kind: Kind,
    ipm_key: str,
    *,
    store: Store,
    liscio: Connector,
    ipm: Connector,
    started_by: str = "cli",
    anyway: bool = False,
    finder: Any = None,
) -> OperationResult:
    """Create the Liscio record of an IPM one, link them and apply the first sync.

    Refused with DuplicateRisk when Liscio likely holds the record already, unless ``anyway``;
    ``finder`` as for :func:`create_in_ipm` (over Liscio's records).
    """
    return _create(
        Kind(kind),
        Side.LISCIO,
        ipm_key,
        store=store,
        liscio=liscio,
        ipm=ipm,
        started_by=started_by,
        anyway=anyway,
        finder=finder,
    )


def duplicates_for_create(
    kind: Kind, target: Side, source: Record, *, store: Store, liscio: Connector, ipm: Connector
) -> list[Any]:
    """The records of ``target`` that creating ``source`` there would likely duplicate.

    IPM's records are those Sync Now cached (plus pmtools' own creates since); Liscio's are
    listed.
    """
    from pmtools.analysis.review.duplicates import likely_duplicates
    from pmtools.engine.review import ipm_records

    kind = Kind(kind)
    liscio_records = list(liscio.iter_records(kind))
    others = (
        ipm_records(kind, store=store, ipm=ipm, liscio_records=liscio_records)
        if target is Side.IPM
        else liscio_records
    )
    links = store.links(kind)
    linked = {link.ipm_key if target is Side.IPM else link.liscio_id for link in links}
    source_side = Side.LISCIO if target is Side.IPM else Side.IPM
    return likely_duplicates(kind, source_side, source, others=others, linked=linked)


def read_record(system: Connector, kind: Kind, record_id: str) -> Record:
    """One record read afresh; ConfigError (naming the id) when there is no such record."""
    return _get(system, Kind(kind), record_id)


def disconnect(
    *,
    store: Store,
    started_by: str = "cli",
    liscio: Connector | None = None,
    ipm: Connector | None = None,
) -> OperationResult:
    """Forget links, decisions and baseline; write to neither system; keep the audit trail."""
    with store.lock(by=started_by):

        def work(applier: Applier) -> str:
            forgot = store.disconnect()
            return (
                f"disconnected: forgot {forgot['links']} links and {forgot['decisions']} "
                f"decisions and the baseline; the audit trail is kept"
            )

        return _run(store, "disconnect", None, started_by, work)


def status(*, store: Store) -> dict[str, Any]:
    """The state file at a glance: connection, links, decisions, baseline, last run."""
    info = store.connection() or {}
    baseline = store.baseline()
    runs = store.runs()
    last = runs[-1] if runs else None
    out: dict[str, Any] = {
        "state": store.location,
        "schema_version": store.schema_version,
        "connected": bool(info.get("first_sync_at")),
        "belongs_to": {str(side): str(who) for side, who in store.identities().items()},
        "first_sync_at": info.get("first_sync_at"),
        "kinds": {},
        "runs": len(runs),
        "last_run": None
        if last is None
        else {
            k: last[k]
            for k in (
                "id",
                "command",
                "started_by",
                "started_at",
                "finished_at",
                "outcome",
                "counts",
                "message",
            )
        },
        "open_intents": len(store.changes(status="intent")),
        "errors_last_run": len(store.errors(run_id=last["id"])) if last else 0,
    }
    for kind in Kind:
        links = store.links(kind)
        decisions = store.decisions(kind)
        out["kinds"][str(kind)] = {
            "linked": sum(link.status is LinkStatus.LINKED for link in links),
            "orphaned": sum(link.status is LinkStatus.ORPHANED for link in links),
            "awaiting_first_sync": sum(link.first_synced_at is None for link in links),
            "not_a_match": sum(d.decision is DecisionKind.NOT_A_MATCH for d in decisions),
            "delinked": sum(d.decision is DecisionKind.DELINKED for d in decisions),
            "baseline": None if baseline is None else sum(k is kind for k, _ in baseline),
            "ipm_high_water": store.high_water(kind),
            "ipm_last_full_pull": store.last_full_pull(kind),
        }
    return out


# -- helpers ---------------------------------------------------------------------------------
def _create(
    kind: Kind,
    target: Side,
    source_id: str,
    *,
    store: Store,
    liscio: Connector,
    ipm: Connector,
    started_by: str,
    anyway: bool = False,
    finder: Any = None,
) -> OperationResult:
    source_side = Side.LISCIO if target is Side.IPM else Side.IPM
    with store.lock(by=started_by):
        _refuse_if_linked(
            store,
            kind,
            **({"liscio_id": source_id} if target is Side.IPM else {"ipm_key": source_id}),
        )
        system = liscio if source_side is Side.LISCIO else ipm
        source = _get(system, kind, source_id)
        if source.archived:
            raise ConfigError(f"Liscio {kind} {source.name!r} is archived: nothing is created")
        if not anyway:
            from pmtools.analysis.review.duplicates import describe_duplicates

            if finder is not None and (finder.kind, finder.side) == (kind, target):
                found = finder.find(source)
            else:
                found = duplicates_for_create(
                    kind, target, source, store=store, liscio=liscio, ipm=ipm
                )
            if found:
                raise DuplicateRisk(
                    describe_duplicates(source.name, target, found), candidates=tuple(found)
                )

        def work(applier: Applier) -> str:
            from pmtools.core.planner import plan_pair

            pair = applier.create_and_link(
                kind, target, source, external_id=None, plan_pair=plan_pair
            )
            if pair is None:
                return f"could not create {source.name!r} in {target}"
            made = pair[1] if target is Side.IPM else pair[0]
            return f"created {source.name!r} in {target} as {made.id} and linked it"

        result = _run(store, f"create_in_{target}", kind, started_by, work, liscio=liscio, ipm=ipm)
    source_key = {"liscio_id": source_id} if target is Side.IPM else {"ipm_key": source_id}
    return _read_back(result, kind, store=store, ipm=ipm, **source_key)


def _run(
    store: Store,
    command: str,
    kind: Kind | None,
    started_by: str,
    work: Callable[[Applier], str],
    *,
    liscio: Connector | None = None,
    ipm: Connector | None = None,
) -> OperationResult:
    store.mark_interrupted_runs()
    kinds = [kind] if kind is not None else list(Kind)
    run_id = store.start_run(command=command, started_by=started_by, kinds=kinds)
    applier = Applier(liscio=liscio, ipm=ipm, store=store, run_id=run_id)  # type: ignore[arg-type]
    try:
        message = work(applier)
    except BaseException as exc:
        outcome = store.fail_run(run_id, exc, counts=applier.counts)
        log.error("%s run %s %s: %s", command, run_id, outcome, exc)
        raise
    outcome = "done_with_errors" if applier.errors else "done"
    store.finish_run(run_id, outcome=outcome, counts=applier.counts, message=message)
    log.info("%s run %s %s: %s", command, run_id, outcome, message)
    writes = tuple(
        c for c in store.changes(run_id=run_id, op="write") if c["status"] == "confirmed"
    )
    return OperationResult(
        run_id=run_id,
        command=command,
        counts=dict(applier.counts),
        errors=tuple(applier.errors),
        outcome=outcome,
        message=message,
        writes=writes,
    )


def _read_back(
    result: OperationResult,
    kind: Kind,
    *,
    store: Store,
    ipm: Connector,
    liscio_id: str | None = None,
    ipm_key: str | None = None,
) -> OperationResult:
    """``result`` with the pair's IPM record read again (what the action wrote there)."""
    link = (
        store.link_for(kind, liscio_id=liscio_id)
        if liscio_id
        else store.link_for(kind, ipm_key=ipm_key)
    )
    if link is None:
        return result
    try:
        fresh = ipm.get_record(kind, link.ipm_key)
    except ConnectorError as exc:  # the action itself succeeded; only the display may lag
        return dataclasses.replace(result, read_back_error=str(exc))
    return dataclasses.replace(result, ipm_record=fresh)


def _refuse_if_linked(
    store: Store, kind: Kind, *, liscio_id: str | None = None, ipm_key: str | None = None
) -> None:
    if liscio_id is not None and (link := store.link_for(kind, liscio_id=liscio_id)):
        raise ConfigError(
            f"Liscio {kind} {liscio_id} is already linked to {link.ipm_key}; delink it first"
        )
    if ipm_key is not None and (link := store.link_for(kind, ipm_key=ipm_key)):
        raise ConfigError(
            f"IPM {kind.ipm_name} {ipm_key} is already linked to {link.liscio_id}; delink it first"
        )


def _get(system: Connector, kind: Kind, record_id: str) -> Record:
    try:
        return system.get_record(kind, record_id)
    except NotFound:
        what = kind if system.side is Side.LISCIO else kind.ipm_name
        raise ConfigError(f"there is no {system.side} {what} {record_id}") from None


__all__ = [
    "OperationResult",
    "create_in_ipm",
    "create_in_liscio",
    "delink",
    "disconnect",
    "duplicates_for_create",
    "link",
    "not_a_match",
    "read_record",
    "status",
]
