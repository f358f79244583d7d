"""Why is a record linked, or not? Plain-word explanations for support and the workbench. Pure.

:func:`explain_record` takes the records of both sides and the stored state (what the planner
sees) and says, for every record the query names: its name key and the exact-name candidates on
the other side; whether it is linked (how, since when) or orphaned (archived, or its IPM record
gone); ambiguous, with which records; held apart by a not-a-match or delink decision; archived;
created after the baseline and so due to be created in IPM at the next sync; or created in IPM
and waiting for Create in Liscio. The CLI (``pmtools explain``) and the app show the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pmtools.core.matching import MatchResult, match
from pmtools.core.names import compatible, display_order, normalize_name, person_keys
from pmtools.core.plan import Decision, DecisionKind, Link, LinkStatus, SyncState
from pmtools.core.records import Kind, Record, Side

STATUSES = (
    "linked",
    "orphaned",
    "will_link",
    "ambiguous",
    "decided_apart",
    "archived",
    "due_for_create_in_ipm",
    "awaiting_create_in_liscio",
    "unmatched",
    "not_found",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """What is known about one record: its status in one word and the reasons in sentences."""

    side: Side | None
    record_id: str | None
    name: str
    status: str
    name_key: str = ""
    candidates: tuple[tuple[str, str], ...] = ()  # (id, name) of exact-name candidates
    lines: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The finding as a short paragraph."""
        head = (
            f"{_side_word(self.side, self.record_id)} {self.name!r}"
            if self.record_id
            else self.name
        )
        return "\n".join([head] + [f"  - {line}" for line in self.lines])


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """The answer to "why is this record (not) linked?" for every record a query names."""

    kind: Kind
    query: str
    findings: tuple[Finding, ...]

    @property
    def text(self) -> str:
        """Every finding, in plain words, separated by blank lines."""
        return "\n\n".join(f.text for f in self.findings)


def explain_record(
    kind: Kind | str,
    name_or_id: str,
    *,
    liscio_records: Sequence[Record],
    ipm_records: Sequence[Record],
    state: SyncState,
) -> Explanation:
    """Explain the record(s) of ``kind`` with id/key ``name_or_id``, or with that name."""
    kind = Kind(kind)
    liscio = [r for r in liscio_records if r.kind is kind]
    ipm = [r for r in ipm_records if r.kind is kind]
    ctx = _Context(kind, liscio, ipm, state)
    subjects = ctx.find(name_or_id)
    if not subjects:
        return Explanation(kind=kind, query=name_or_id, findings=(ctx.not_found(name_or_id),))
    return Explanation(
        kind=kind, query=name_or_id, findings=tuple(ctx.explain(r) for r in subjects)
    )


def name_key(record: Record) -> str:
    """The exact-match key of a record's name (a person's full key for contacts)."""
    if record.kind is Kind.CONTACTS:
        return person_keys(record).full
    return normalize_name(record.name)


class _Context:
    """Indexes of both sides, the stored state and one matching pass, built once a query."""

    def __init__(
        self, kind: Kind, liscio: list[Record], ipm: list[Record], state: SyncState
    ) -> None:
        self.kind = kind
        self.liscio = {r.id: r for r in liscio}
        self.ipm = {r.id: r for r in ipm}
        self.state = state
        self.links = [link for link in state.links if link.kind is kind]
        self.by_liscio = {link.liscio_id: link for link in self.links}
        self.by_ipm = {link.ipm_key: link for link in self.links}
        self.decisions = [d for d in state.decisions if d.kind is kind]
        self.result: MatchResult = match(kind, liscio, ipm, state)
        self.pair_of = {p.liscio_id: p for p in self.result.pairs}
        self.pair_of.update({p.ipm_key: p for p in self.result.pairs})
        self.group_of = {}
        for g in self.result.ambiguous:
            for rid in g.liscio_ids + g.ipm_keys:
                self.group_of[rid] = g
        self.keys = {Side.LISCIO: _by_key(liscio), Side.IPM: _by_key(ipm)}

    # -- finding the records a query names ------------------------------------------------
    def find(self, query: str) -> list[Record]:
        """Records whose id/key is ``query``, else those whose name key equals its key."""
        q = query.strip()
        hits = [r for r in (self.liscio.get(q), self.ipm.get(q)) if r is not None]
        if hits:
            return hits
        keys = {normalize_name(q)}
        if self.kind is Kind.CONTACTS:  # "Last, First" and a middle name left out both find
            words = normalize_name(display_order(q)).split(" ")
            keys |= {" ".join(words), f"{words[0]} {words[-1]}"}
        found: dict[tuple[Side, str], Record] = {}
        for side in (Side.LISCIO, Side.IPM):
            for key in sorted(keys):
                for r in self.keys[side].get(key, ()):
                    found.setdefault((side, r.id), r)
        return list(found.values())

    def not_found(self, query: str) -> Finding:
        """A finding for a query that names no current record (maybe a link's lost side)."""
        q = query.strip()
        link = self.by_liscio.get(q) or self.by_ipm.get(q)
        lines = [f"no {self.kind} record on either side has the id or name {q!r}"]
        if link is not None:
            lines.append(
                f"the state file links Liscio {link.liscio_id} with IPM "
                f"{link.ipm_key} ({link.how}); one side no longer returns the record, "
                f"so the link is orphaned: nothing is deleted anywhere"
            )
        return Finding(side=None, record_id=None, name=q, status="not_found", lines=tuple(lines))

    # -- explaining one record ------------------------------------------------------------
    def explain(self, record: Record) -> Finding:
        """The finding for one record."""
        side = record.side
        other = Side.IPM if side is Side.LISCIO else Side.LISCIO
        key = name_key(record)
        candidates = tuple((c.id, c.name) for c in self._candidates(record, other, key))
        lines = [self._key_line(record, key)]
        status = self._status(record, lines)
        if status not in ("linked", "orphaned"):
            lines.insert(1, self._candidates_line(other, candidates))
        lines.extend(self._decision_lines(record))
        return Finding(
            side=side,
            record_id=record.id,
            name=record.name,
            status=status,
            name_key=key,
            candidates=candidates,
            lines=tuple(lines),
        )

    def _candidates(self, record: Record, other: Side, key: str) -> list[Record]:
        if record.kind is not Kind.CONTACTS:
            return list(self.keys[other].get(key, ()))
        # People: the same first and last name, one full name the other's with words left out.
        loose = person_keys(record).loose
        return [c for c in self.keys[other].get(loose, ()) if compatible(key, name_key(c))]

    def _status(self, record: Record, lines: list[str]) -> str:
        rid, liscio_side = record.id, record.side is Side.LISCIO
        link = self.by_liscio.get(rid) if liscio_side else self.by_ipm.get(rid)
        if link is not None:
            return self._link_status(record, link, lines)
        if record.archived:
            lines.append("archived in Liscio: archived records are neither matched nor created")
            return "archived"
        pair = self.pair_of.get(rid)
        if pair is not None:
            mate = (self.ipm if liscio_side else self.liscio)[
                pair.ipm_key if liscio_side else pair.liscio_id
            ]
            lines.append(
                f"not linked yet: the next Sync Now links it automatically with "
                f"{_side_word(mate.side)} {mate.name!r}{self._apart(mate.side, mate.id)}, "
                f"level {pair.level}"
            )
            return "will_link"
        group = self.group_of.get(rid)
        if group is not None:
            names = [
                f"Liscio {self._name(Side.LISCIO, i)!r}{self._apart(Side.LISCIO, i)}"
                for i in group.liscio_ids
            ]
            names += [
                f"IPM {self._name(Side.IPM, i)!r}{self._apart(Side.IPM, i)}" for i in group.ipm_keys
            ]
            lines.append(
                f"ambiguous: the name key {group.key!r} ({group.level}) is shared by "
                f"{', '.join(names)}; none is linked automatically — link the right "
                f"pair by hand"
            )
            return "ambiguous"
        if any(self._decided(record)):
            lines.append(
                "held apart: a person's decision stops the exact-name candidate from "
                "being linked automatically again"
            )
            return "decided_apart"
        if liscio_side:
            baseline = self.state.baseline
            if baseline is None:
                lines.append(
                    "unmatched; no Sync Now has run yet, so no baseline exists: the "
                    "first Sync Now links exact-name matches and records this record "
                    "in the baseline"
                )
                return "unmatched"
            if (self.kind, rid) not in baseline:
                lines.append(
                    "created in Liscio after the baseline (the first Sync Now) and "
                    "unmatched: the next Sync Now creates it in IPM and links it"
                )
                return "due_for_create_in_ipm"
            lines.append(
                "unmatched, and in the baseline (it existed at the first Sync Now): "
                "it is not created in IPM automatically — link it by hand or choose "
                "Create in IPM"
            )
            return "unmatched"
        lines.append(
            "only in IPM (created there, or not in Liscio): it waits for a person to "
            "click Create in Liscio, or to link it by hand"
        )
        return "awaiting_create_in_liscio"

    def _link_status(self, record: Record, link: Link, lines: list[str]) -> str:
        liscio_rec = self.liscio.get(link.liscio_id)
        ipm_rec = self.ipm.get(link.ipm_key)
        mate_side = Side.IPM if record.side is Side.LISCIO else Side.LISCIO
        mate_id = link.ipm_key if record.side is Side.LISCIO else link.liscio_id
        mate = ipm_rec if record.side is Side.LISCIO else liscio_rec
        mate_name = repr(mate.name) if mate else "(not found)"
        how = {
            "automatic": "automatically, by exact name",
            "manual": "by hand",
            "created": "when the counterpart was created",
        }.get(str(link.how), str(link.how))
        since = f" on {when(link.linked_at)}" if link.linked_at else ""
        synced = (
            f"; first synced {when(link.first_synced_at)}"
            if link.first_synced_at
            else "; its first sync is still to come"
        )
        reasons = []
        if liscio_rec is not None and liscio_rec.archived:
            reasons.append("the Liscio record is archived")
        if liscio_rec is None:
            reasons.append("Liscio no longer returns the Liscio record")
        if ipm_rec is None:
            reasons.append("the IPM record is gone")
        if link.status is LinkStatus.ORPHANED or reasons:
            why = "; ".join(reasons) or "recorded as orphaned by an earlier sync"
            lines.append(
                f"orphaned link with {_side_word(mate_side)} {mate_name}"
                f"{self._apart(mate_side, mate_id)}, "
                f"made {how}{since}: {why}. It is listed, not dropped; nothing is "
                f"deleted anywhere and no fields are synced"
            )
            return "orphaned"
        lines.append(
            f"linked with {_side_word(mate_side)} {mate_name}"
            f"{self._apart(mate_side, mate_id)}, made "
            f"{how}{since}{synced}"
        )
        return "linked"

    def _decided(self, record: Record) -> list[Decision]:
        attr = "liscio_id" if record.side is Side.LISCIO else "ipm_key"
        return [d for d in self.decisions if getattr(d, attr) == record.id]

    def _decision_lines(self, record: Record) -> list[str]:
        out = []
        for d in self._decided(record):
            if record.side is Side.LISCIO:
                other_side, other_id = Side.IPM, d.ipm_key
            else:
                other_side, other_id = Side.LISCIO, d.liscio_id
            other = (
                f"{_side_word(other_side)} {self._name(other_side, other_id)!r}"
                f"{self._apart(other_side, other_id)}"
            )
            at = f" on {when(d.at)}" if d.at else ""
            if d.decision is DecisionKind.NOT_A_MATCH:
                out.append(f"marked not a match with {other}{at}: never linked automatically")
            else:
                out.append(f"delinked from {other}{at}: never linked automatically again")
        return out

    def _key_line(self, record: Record, key: str) -> str:
        if record.kind is Kind.CONTACTS:
            loose = person_keys(record).loose
            extra = f" (first and last: {loose!r})" if loose != key else ""
            return f"name key {key!r}{extra}"
        return f"name key {key!r}"

    def _candidates_line(self, other: Side, candidates: tuple[tuple[str, str], ...]) -> str:
        if not candidates:
            return f"no {_side_word(other)} record has this exact name"
        parts = []
        for cid, cname in candidates:
            note = ""
            link = (self.by_ipm if other is Side.IPM else self.by_liscio).get(cid)
            if link is not None:
                mate = link.liscio_id if other is Side.IPM else link.ipm_key
                mate_side = Side.LISCIO if other is Side.IPM else Side.IPM
                note = f" (already linked with {self._name(mate_side, mate)!r})"
            parts.append(f"{cname!r}{self._apart(other, cid)}{note}")
        return f"exact-name candidates in {_side_word(other)}: " + ", ".join(parts)

    def _name(self, side: Side, rid: str) -> str:
        rec = (self.liscio if side is Side.LISCIO else self.ipm).get(rid)
        return rec.name if rec else "?"

    def _apart(self, side: Side, rid: str) -> str:
        """ " (ann@x.com)": what tells a record apart from others of its name (not its id)."""
        rec = (self.liscio if side is Side.LISCIO else self.ipm).get(rid)
        if rec is None:
            return ""
        same = self.keys[side].get(name_key(rec), ())
        if len(same) < 2:
            return ""
        values = [
            str(v).strip()
            for v in (rec.email, rec.title, rec.phone, rec.website)
            if v is not None and str(v).strip()
        ]
        return f" ({', '.join(values[:2])})" if values else ""


def _by_key(records: list[Record]) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = {}
    for r in records:
        keys = {name_key(r)}
        if r.kind is Kind.CONTACTS:
            keys |= {normalize_name(r.name), person_keys(r).loose}
        for k in keys:
            if k:
                out.setdefault(k, []).append(r)
    return out


def when(stamp: str | None) -> str:
    """An ISO time for people: "2026-11-26 12:00 UTC" (no seconds, no microseconds)."""
    text = (stamp or "").strip()
    if len(text) >= 16 and text[10:11] == "T":
        return f"{text[:10]} {text[11:16]} UTC"
    return text


def _side_word(side: Side | None, record_id: str | None = None) -> str:
    if side is Side.LISCIO:
        return "Liscio"
    if side is Side.IPM:
        return "IPM"
    return "query"
