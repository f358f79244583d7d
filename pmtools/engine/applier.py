"""The steps of applying a plan, each saved in the state store as it succeeds.

:class:`Applier` links, creates, writes a record's fields, marks a pair first-synced and
orphans, saving an intent before each write and confirming it after (see
:mod:`pmtools.engine.apply`, which drives it through a plan, and
:mod:`pmtools.engine.operations`, which uses it for one manual action).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence

from pmtools.connectors.base import Connector
from pmtools.core.plan import COUNT_KEYS, Action, LinkHow, LinkStatus, Op
from pmtools.core.records import FieldValue, Kind, Record, Side
from pmtools.core.rulebook import RECORD_ERROR_SKIPS, Rule
from pmtools.core.rules import email_problem
from pmtools.core.text import has_visible_text, quoted
from pmtools.errors import (
    ConnectorError,
    DuplicateCreate,
    RecordError,
    StateError,
)
from pmtools.store import ChangeIntent, Store

log = logging.getLogger("pmtools.engine.apply")  # its log lines are apply's, as before

_SIDE_WORDS = {Side.LISCIO: "Liscio", Side.IPM: "IPM"}
_RECORD_WORDS = {
    (Side.LISCIO, Kind.ACCOUNTS): "account",
    (Side.LISCIO, Kind.CONTACTS): "contact",
    (Side.IPM, Kind.ACCOUNTS): "organization",
    (Side.IPM, Kind.CONTACTS): "person",
}

_LINK_RULE = {
    LinkHow.AUTOMATIC: Rule.LINK_AUTOMATIC,
    LinkHow.MANUAL: Rule.LINK_MANUAL,
    LinkHow.CREATED: Rule.LINK_CREATED,
}
_CREATE_RULE = {Side.IPM: Rule.CREATE_IN_IPM, Side.LISCIO: Rule.CREATE_IN_LISCIO}


class Applier:
    """The steps of applying (link, create, write a record's fields, mark, orphan).

    Used by :func:`apply_plan` and by :mod:`pmtools.engine.operations`. Each step saves its result
    in the store as soon as it succeeded. ``names`` maps (side, kind, id) to a record's name
    for the audit trail.
    """

    def __init__(
        self,
        *,
        liscio: Connector,
        ipm: Connector,
        store: Store,
        run_id: int,
        names: Mapping[tuple[Side, Kind, str], str] | None = None,
    ) -> None:
        self.liscio, self.ipm, self.store, self.run_id = liscio, ipm, store, run_id
        self.names: dict[tuple[Side, Kind, str], str] = dict(names or {})
        self.counts: dict[str, int] = {k: 0 for k in COUNT_KEYS}
        self.errors: list[str] = []

    def connector(self, side: Side) -> Connector:
        """The connector of ``side``."""
        return self.liscio if side is Side.LISCIO else self.ipm

    def name(self, side: Side, kind: Kind, record_id: str | None) -> str | None:
        """A record's name as known to this run."""
        return self.names.get((side, kind, record_id)) if record_id else None

    def _remember(self, rec: Record) -> None:
        self.names[(rec.side, rec.kind, rec.id)] = rec.name

    def fail(
        self,
        exc: ConnectorError | StateError,
        *,
        kind: Kind,
        op: str,
        side: Side | None = None,
        liscio_id: str | None = None,
        ipm_key: str | None = None,
        fields: Sequence[str] = (),
        change_ids: Sequence[int] = (),
        values: Mapping[str, FieldValue] | None = None,
    ) -> None:
        """Save a record-level failure and go on; its message names records, says what to do."""
        from pmtools.analysis.messages import record_error_text

        name = self.name(Side.LISCIO, kind, liscio_id) or self.name(Side.IPM, kind, ipm_key)
        log.debug("record error detail: %s", exc)
        message = record_error_text(
            str(exc),
            code=getattr(exc, "code", None),
            kind=kind,
            op=op,
            side=side,
            liscio_name=self.name(Side.LISCIO, kind, liscio_id),
            ipm_name=self.name(Side.IPM, kind, ipm_key),
            values=values if values is not None else dict.fromkeys(fields),
            names=self.names,
        )
        self.store.record_error(
            self.run_id,
            kind=kind,
            op=op,
            message=message,
            side=side,
            liscio_id=liscio_id,
            ipm_key=ipm_key,
            name=name,
            field=",".join(fields) or None,
        )
        if change_ids:
            self.store.set_change_status(change_ids, "failed", error=message)
        self.counts["errors"] += 1
        self.errors.append(message)
        log.warning("record error: %s", message)

    def refuse(self, action: Action) -> None:
        """Save a planned write that cannot be sent (a RECORD_ERROR_SKIPS skip) as an error."""
        self.fail(
            RecordError(action.reason, side=str(action.side or "")),
            kind=action.kind,
            op="write",
            side=action.side,
            liscio_id=action.liscio_id,
            ipm_key=action.ipm_key,
            fields=[action.field] if action.field else [],
        )

    # -- steps ---------------------------------------------------------------------------
    def link(
        self, kind: Kind, liscio_id: str, ipm_key: str, *, how: LinkHow, rule: str = ""
    ) -> bool:
        """Save a link (and its audit row); False when it conflicts with another link."""
        audit = ChangeIntent(
            kind=kind,
            op="link",
            liscio_id=liscio_id,
            ipm_key=ipm_key,
            liscio_name=self.name(Side.LISCIO, kind, liscio_id),
            ipm_name=self.name(Side.IPM, kind, ipm_key),
            after=str(how),
            rule=rule or _LINK_RULE[how],
        )
        try:
            existing = self.store.link_for(kind, liscio_id=liscio_id)
            self.store.add_link(kind, liscio_id, ipm_key, how=how, run_id=self.run_id, audit=audit)
        except StateError as exc:
            self.fail(exc, kind=kind, op="link", liscio_id=liscio_id, ipm_key=ipm_key)
            return False
        if existing is None and how is not LinkHow.CREATED:
            self.counts["linked"] += 1
        return True

    def create(
        self, kind: Kind, target: Side, source: Record, *, external_id: str
    ) -> Record | None:
        """Create ``source``'s counterpart on ``target`` once, idempotent by external id.

        Returns the created (or found) record, or None after a record error.
        """
        system = self.connector(target)
        self._remember(source)
        source_key: dict[str, str | None] = (
            {"liscio_id": source.id} if target is Side.IPM else {"ipm_key": source.id}
        )
        if not _has_visible_name(source):  # only invisible characters: no name to create
            where = _SIDE_WORDS[source.side]
            self.record_refusal(
                f"{where} {_RECORD_WORDS[source.side, kind]} {quoted(source.name)} has no "
                f"visible name (only invisible characters): it was not created in "
                f"{_SIDE_WORDS[target]}; give it a name in {where} first",
                kind=kind,
                op="create",
                side=target,
                liscio_id=source_key.get("liscio_id"),
                ipm_key=source_key.get("ipm_key"),
            )
            return None
        if email_problem(source.email) is not None:
            # Created without it: the pair's first sync then refuses the email as a record
            # error naming the record (write_record), and nothing invalid reaches ``target``.
            source = dataclasses.replace(source, email=None)
        count_key = "created_in_ipm" if target is Side.IPM else "created_in_liscio"
        found = None
        if self.store.pending_create(external_id) is not None:
            found = system.find_by_external_id(kind, external_id)  # an earlier try's result
        change = ChangeIntent(
            kind=kind,
            op="create",
            side=target,
            external_id=external_id,
            liscio_name=source.name if target is Side.IPM else None,
            ipm_name=source.name if target is Side.LISCIO else None,
            after=source.name,
            rule=_CREATE_RULE[target],
            **source_key,
        )
        if found is None:
            change_id = self.store.begin_create(
                self.run_id,
                kind=kind,
                target=target,
                source_id=source.id,
                external_id=external_id,
                audit=change,
            )
            assert change_id is not None
            try:
                try:
                    created = system.create_record(kind, source, external_id=external_id)
                except DuplicateCreate:
                    found = system.find_by_external_id(kind, external_id)
                    if found is None:
                        raise RecordError(
                            f"{target} says external id {external_id} is in use but cannot find it",
                            side=str(target),
                        ) from None
                    created = found
            except RecordError as exc:
                self.store.finish_create(external_id, status="failed")
                self.fail(
                    exc,
                    kind=kind,
                    op="create",
                    side=target,
                    change_ids=[change_id],
                    liscio_id=source_key.get("liscio_id"),
                    ipm_key=source_key.get("ipm_key"),
                )
                return None
        else:
            change_id = self.store.record_change(self.run_id, change, status="intent")
            created = found
        # The pending create stays an intent until the link is stored (create_and_link), so
        # that a run killed in between is linked by reconcile() from the external id.
        new_key = {"ipm_key": created.id} if target is Side.IPM else {"liscio_id": created.id}
        self.store.set_change_status([change_id], "confirmed", **new_key)
        self._remember(created)
        self.counts[count_key] += 1
        return created

    def write_record(
        self, kind: Kind, side: Side, pair: tuple[str, str], actions: Sequence[Action]
    ) -> bool:
        """Write one record's fields in one call; audit rows per field. True on success."""
        liscio_id, ipm_key = pair
        record_id = liscio_id if side is Side.LISCIO else ipm_key
        intents = [
            ChangeIntent(
                kind=kind,
                op="write",
                side=side,
                liscio_id=liscio_id,
                ipm_key=ipm_key,
                liscio_name=self.name(Side.LISCIO, kind, liscio_id),
                ipm_name=self.name(Side.IPM, kind, ipm_key),
                field=a.field,
                before=a.before,
                after=a.after,
                rule=a.rule,
            )
            for a in actions
        ]
        ids = self.store.record_intents(self.run_id, intents)
        refused = self._refuse_invalid(kind, side, pair, actions, ids)
        values: dict[str, FieldValue] = {
            a.field: a.after for a, i in zip(actions, ids) if a.field and i not in refused
        }
        ids = [i for i in ids if i not in refused]
        if not values:
            return False
        try:
            self.connector(side).update_fields(kind, record_id, values)
        except RecordError as exc:
            self.fail(
                exc,
                kind=kind,
                op="write",
                side=side,
                liscio_id=liscio_id,
                ipm_key=ipm_key,
                fields=list(values),
                change_ids=ids,
                values=values,
            )
            return False
        self.store.set_change_status(ids, "confirmed")
        key = "ipm_fields_written" if side is Side.IPM else "liscio_fields_filled"
        self.counts[key] += len(ids)
        return not refused

    def _refuse_invalid(
        self,
        kind: Kind,
        side: Side,
        pair: tuple[str, str],
        actions: Sequence[Action],
        ids: Sequence[int],
    ) -> set[int]:
        """Record an error for each invalid email about to be written; their change ids.

        The record's other fields are still written; the pair stays unsynced, so every sync
        reports the error again until the value is corrected at its source. An undo's writes
        are not checked: it puts back what the system held.
        """
        refused: set[int] = set()
        for a, change_id in zip(actions, ids):
            if a.rule.startswith("undo:"):
                continue  # an undo puts back exactly what the system held before
            problem = email_problem(a.after) if a.field == "email" else None
            if problem is None:
                continue
            liscio_id, ipm_key = pair
            source = Side.IPM if side is Side.LISCIO else Side.LISCIO
            name = self.name(source, kind, ipm_key if source is Side.IPM else liscio_id)
            where, there = _SIDE_WORDS[source], _SIDE_WORDS[side]
            message = (
                f"{where} {_RECORD_WORDS[source, kind]} {quoted(name or '')} has the "
                f"email {quoted(str(a.after))}, which is not a valid address "
                f"({problem}); it was not written to {there}: correct it in {where} "
                f"and sync again"
            )
            self.record_refusal(
                message,
                kind=kind,
                op="write",
                side=side,
                liscio_id=liscio_id,
                ipm_key=ipm_key,
                fields=["email"],
                change_ids=[change_id],
            )
            refused.add(change_id)
        return refused

    def record_refusal(
        self,
        message: str,
        *,
        kind: Kind,
        op: str,
        side: Side,
        liscio_id: str | None = None,
        ipm_key: str | None = None,
        fields: Sequence[str] = (),
        change_ids: Sequence[int] = (),
    ) -> None:
        """Save a record error for a value pmtools itself would not send, and go on.

        Unlike :meth:`fail` (a service's refusal, put into words there), ``message`` is already
        the sentence for people: it names the record and says what to do, and is kept as is.
        """
        name = self.name(Side.LISCIO, kind, liscio_id) or self.name(Side.IPM, kind, ipm_key)
        self.store.record_error(
            self.run_id,
            kind=kind,
            op=op,
            message=message,
            side=side,
            liscio_id=liscio_id,
            ipm_key=ipm_key,
            name=name,
            field=",".join(fields) or None,
        )
        if change_ids:
            self.store.set_change_status(change_ids, "failed", error=message)
        self.counts["errors"] += 1
        self.errors.append(message)
        log.warning("record error: %s", message)

    def first_sync(
        self,
        kind: Kind,
        liscio_rec: Record,
        ipm_rec: Record,
        plan_pair: Callable[..., tuple[Action, ...]],
    ) -> bool:
        """Apply a newly linked pair's first sync at once and mark it synced.

        The pair stays unsynced (the next Sync Now redoes its first sync) when a write failed
        or the planner could not decide a field (no MARK_SYNCED: IPM details missing).
        """
        actions = plan_pair(kind, liscio_rec, ipm_rec, first_sync=True)
        pair = (liscio_rec.id, ipm_rec.id)
        ok = any(a.op is Op.MARK_SYNCED for a in actions)
        for a in actions:
            if a.op is Op.SKIP and a.rule in RECORD_ERROR_SKIPS:
                self.refuse(a)
        for side in (Side.IPM, Side.LISCIO):
            writes = [a for a in actions if a.op is Op.WRITE and a.side is side]
            if writes and not self.write_record(kind, side, pair, writes):
                ok = False
        if ok:
            self.store.mark_synced(kind, liscio_rec.id)
        return ok

    def create_and_link(
        self,
        kind: Kind,
        target: Side,
        source: Record,
        *,
        external_id: str | None,
        plan_pair: Callable[..., tuple[Action, ...]],
    ) -> tuple[Record, Record] | None:
        """Create ``source``'s counterpart, link them (how=created), apply the first sync.

        Returns (Liscio record, IPM record), or None after a record error.
        """
        from pmtools.core.planner import external_id_for

        external_id = external_id or external_id_for(kind, target, source.id)
        created = self.create(kind, target, source, external_id=external_id)
        if created is None:
            return None
        liscio_rec, ipm_rec = (source, created) if target is Side.IPM else (created, source)
        linked = self.link(
            kind, liscio_rec.id, ipm_rec.id, how=LinkHow.CREATED, rule=_CREATE_RULE[target]
        )
        self.store.finish_create(external_id, status="confirmed", created_id=created.id)
        if not linked:
            return None
        self.first_sync(kind, liscio_rec, ipm_rec, plan_pair)
        return liscio_rec, ipm_rec

    def orphan(self, action: Action) -> None:
        """Mark a link orphaned (nothing is deleted anywhere)."""
        assert action.liscio_id is not None
        self.store.set_link_status(
            action.kind,
            action.liscio_id,
            LinkStatus.ORPHANED,
            reason=action.reason,
            run_id=self.run_id,
            audit=ChangeIntent(
                kind=action.kind,
                op="orphan",
                liscio_id=action.liscio_id,
                ipm_key=action.ipm_key,
                after="orphaned",
                before="linked",
                liscio_name=self.name(Side.LISCIO, action.kind, action.liscio_id),
                ipm_name=self.name(Side.IPM, action.kind, action.ipm_key),
                rule=action.rule or Rule.ORPHAN,
            ),
        )
        self.counts["orphaned"] += 1


def _has_visible_name(record: Record) -> bool:
    """A person needs a visible first and last name, an organization a visible name."""
    if record.kind is Kind.CONTACTS and (record.first_name or record.last_name):
        return has_visible_text(record.first_name) and has_visible_text(record.last_name)
    return has_visible_text(record.name)
