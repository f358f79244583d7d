"""Bulk decisions: a list of decisions → a preview of its whole effect → apply that preview.

:func:`preview` is pure: it checks every decision against the queue and the records (refusing
what is already decided, gone, a likely duplicate, a key on the wrong side, two decisions for
one record, …) and computes every link, create and field write with before → after.
:func:`pmtools.engine.review.apply_preview` applies exactly what the preview accepted as one
run (command ``review``) through :func:`pmtools.engine.apply.apply_plan` — the same intent log
as a sync, so the run is listed by ``pmtools runs`` and undone by ``pmtools undo``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pmtools.analysis.review.duplicates import Duplicate, DuplicateFinder
from pmtools.analysis.review.queue import (
    KindRecords,
    QueueKey,
    QueueStatus,
    ReviewQueue,
    other_side,
)
from pmtools.analysis.review.writes import FieldWrite, PairWrites, pair_writes, show_value
from pmtools.analysis.suggest import Reason, display_name
from pmtools.core.plan import Action, DecisionKind, LinkHow, Op
from pmtools.core.records import Kind, Record, Side
from pmtools.core.rulebook import Rule

__all__ = [
    "BulkPreview",
    "BulkResult",
    "PreviewItem",
    "Refusal",
    "ReviewDecision",
    "Verdict",
    "preview",
]

Progress = Callable[[str, int, int, str], None]


_REVIEW_CREATE = {Side.IPM: Rule.REVIEW_CREATE_IN_IPM, Side.LISCIO: Rule.REVIEW_CREATE_IN_LISCIO}


class Verdict(str, enum.Enum):
    """What a person decided about a record (the spreadsheet's Decision words)."""

    LINK = "link"  # link to the suggestion, or to ``link_to``
    NOT_A_MATCH = "not-a-match"  # the suggestion (or ``link_to``) is not this record
    CREATE = "create"  # create it on the other side, linked
    SKIP = "skip"  # decide later

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewDecision:
    """One decision about one queue record; ``row`` is its spreadsheet row, if any.

    ``link_to`` (an id of the other side) overrides the suggestion for LINK and NOT_A_MATCH;
    ``anyway`` lets a CREATE go ahead although likely duplicates exist.
    """

    kind: Kind
    side: Side
    record_id: str
    verdict: Verdict
    link_to: str | None = None
    anyway: bool = False
    row: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    """A decision that will not be applied, and why (in words, naming the record)."""

    kind: Kind
    side: Side
    record_id: str
    name: str
    verdict: str
    reason: str
    row: int | None = None
    duplicates: tuple[Duplicate, ...] = ()

    def text(self) -> str:
        """ "Row 7 (Zoe Allen): not created: …"."""
        where = f"Row {self.row}" if self.row is not None else self.verdict
        return f"{where} ({self.name}): {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviewItem:
    """One accepted decision and its whole effect.

    LINK: ``writes`` (the pair's first sync). CREATE: ``created`` (the fields the new record
    gets). NOT_A_MATCH: the pair only. ``actions`` are what apply runs for it.
    """

    kind: Kind
    side: Side
    record_id: str
    name: str
    verdict: Verdict
    liscio_id: str | None
    ipm_key: str | None
    target_name: str = ""
    writes: PairWrites | None = None
    created: tuple[FieldWrite, ...] = ()
    row: int | None = None
    actions: tuple[Action, ...] = field(default=(), compare=False, repr=False)
    ipm_record: Record | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> QueueKey:
        """(kind, side, record id)."""
        return (self.kind, self.side, self.record_id)

    def text(self) -> str:
        """The item's effect in words, one line (writes indented below)."""
        if self.verdict is Verdict.LINK:
            head = f"link {self.kind}: {self.name!r} with {self.target_name!r}"
            body = self.writes.text() if self.writes else ""
        elif self.verdict is Verdict.CREATE:
            where = "IPM" if self.side is Side.LISCIO else "Liscio"
            head = f"create {self.kind} in {where}: {self.name!r}"
            body = "\n".join(f"{w.field}: {show_value(w.after)}" for w in self.created)
        else:
            head = f"not a match {self.kind}: {self.name!r} and {self.target_name!r}"
            body = ""
        return head + "".join(f"\n    {line}" for line in body.splitlines() if line)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class BulkPreview:
    """The whole effect of a decision list: what will be done, and what is refused and why."""

    items: tuple[PreviewItem, ...] = ()
    refused: tuple[Refusal, ...] = ()
    skipped: int = 0
    names: Mapping[tuple[Side, Kind, str], str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """links, creates in IPM/Liscio, not-a-match, field writes per side, unread, refused."""
        out = dict.fromkeys(
            (
                "links",
                "created_in_ipm",
                "created_in_liscio",
                "not_a_match",
                "ipm_fields_written",
                "liscio_fields_filled",
                "fields_not_read",
                "refused",
                "skipped",
            ),
            0,
        )
        for item in self.items:
            if item.verdict is Verdict.LINK:
                out["links"] += 1
                for w in item.writes.writes if item.writes else ():
                    out["ipm_fields_written" if w.side is Side.IPM else "liscio_fields_filled"] += 1
                out["fields_not_read"] += len(item.writes.unread) if item.writes else 0
            elif item.verdict is Verdict.CREATE:
                out["created_in_ipm" if item.side is Side.LISCIO else "created_in_liscio"] += 1
            elif item.verdict is Verdict.NOT_A_MATCH:
                out["not_a_match"] += 1
        out["refused"], out["skipped"] = len(self.refused), self.skipped
        return out

    def changes(self) -> int:
        """How many changes applying makes: links + creates + not-a-match + field writes."""
        c = self.counts()
        return sum(
            c[k]
            for k in (
                "links",
                "created_in_ipm",
                "created_in_liscio",
                "not_a_match",
                "ipm_fields_written",
                "liscio_fields_filled",
            )
        )

    def summary(self) -> str:
        """One sentence: what applying would do and what is refused."""
        c = self.counts()
        parts = [
            f"{c['links']:,} links",
            f"{c['created_in_ipm']:,} creates in IPM",
            f"{c['created_in_liscio']:,} creates in Liscio",
            f"{c['not_a_match']:,} not a match",
            f"{c['ipm_fields_written'] + c['liscio_fields_filled']:,} field writes",
        ]
        text = "Applying makes " + ", ".join(parts)
        if c["fields_not_read"]:
            text += (
                f" ({c['fields_not_read']:,} IPM fields not read yet are left to the next "
                f"Sync Now, whose preview shows them)"
            )
        text += f"; {c['refused']:,} refused, {c['skipped']:,} skipped."
        return text

    def text(self) -> str:
        """Every item and refusal in plain lines, then the summary."""
        lines = [item.text() for item in self.items]
        lines += [f"refused: {r.text()}" for r in self.refused]
        lines.append(self.summary())
        return "\n".join(lines)


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkResult:
    """What applying a preview did: its run, counts, record errors and outcome.

    ``outcome`` is ``done``, ``done_with_errors``, ``cancelled`` or ``stopped``; ``refused``
    are items found decided since the preview (nothing was written for them).
    """

    run_id: int
    counts: dict[str, int]
    outcome: str
    errors: tuple[str, ...] = ()
    refused: tuple[Refusal, ...] = ()
    message: str = ""


# -- preview ---------------------------------------------------------------------------------
def preview(
    decisions: Iterable[ReviewDecision], *, queue: ReviewQueue, sources: Iterable[KindRecords]
) -> BulkPreview:
    """The whole effect of ``decisions`` (see the module doc); nothing is read or written."""
    srcs = {s.kind: s for s in sources}
    decisions = list(decisions)
    ctx = _Context(srcs, queue)
    seen: dict[QueueKey, list[ReviewDecision]] = {}
    for d in decisions:
        seen.setdefault((Kind(d.kind), Side(d.side), str(d.record_id)), []).append(d)
    items: list[PreviewItem] = []
    refused: list[Refusal] = []
    skipped = 0
    claimed: dict[tuple[Kind, Side, str], ReviewDecision] = {}  # targets taken by a decision
    for d in decisions:
        key = (Kind(d.kind), Side(d.side), str(d.record_id))
        if len(seen[key]) > 1:
            rows = [str(x.row) for x in seen[key] if x.row is not None]
            where = f" (rows {', '.join(rows)})" if rows else ""
            refused.append(ctx.refuse(d, f"two decisions for one record{where}: keep one"))
            continue
        if Verdict(d.verdict) is Verdict.SKIP:
            skipped += 1
            continue
        result = ctx.check(d, claimed, seen)
        if result is _SAME:
            continue
        if isinstance(result, Refusal):
            refused.append(result)
        else:
            items.append(result)
    return BulkPreview(items=tuple(items), refused=tuple(refused), skipped=skipped, names=ctx.names)


class _Context:
    """What checking decisions needs: records by id, links, queue rows, duplicate finders."""

    def __init__(self, srcs: Mapping[Kind, KindRecords], queue: ReviewQueue) -> None:
        self.srcs, self.queue = srcs, queue
        self.names: dict[tuple[Side, Kind, str], str] = {}
        self._finders: dict[tuple[Kind, Side], DuplicateFinder] = {}
        self._creates: dict[tuple[Kind, Side, str], str] = {}  # loose key -> name, this list
        self.linked: dict[tuple[Kind, Side], dict[str, str]] = {}
        self.not_a_match: set[tuple[Kind, str, str]] = set()
        self.marked: set[tuple[Kind, str, str]] = set()  # "not a match" pairs of this list
        for kind, src in srcs.items():
            self.linked[(kind, Side.LISCIO)] = {
                link.liscio_id: link.ipm_key for link in src.state.links if link.kind is kind
            }
            self.linked[(kind, Side.IPM)] = {
                link.ipm_key: link.liscio_id for link in src.state.links if link.kind is kind
            }
            self.not_a_match.update(
                (kind, d.liscio_id, d.ipm_key)
                for d in src.state.decisions
                if d.kind is kind and d.decision is DecisionKind.NOT_A_MATCH
            )

    def record(self, kind: Kind, side: Side, rid: str | None) -> Record | None:
        src = self.srcs.get(kind)
        return src.record(side, rid) if src is not None and rid else None

    def name(self, kind: Kind, side: Side, rid: str) -> str:
        rec = self.record(kind, side, rid)
        return display_name(rec) if rec is not None else rid

    def refuse(
        self, d: ReviewDecision, reason: str, duplicates: Sequence[Duplicate] = ()
    ) -> Refusal:
        kind, side = Kind(d.kind), Side(d.side)
        return Refusal(
            kind=kind,
            side=side,
            record_id=str(d.record_id),
            name=self.name(kind, side, str(d.record_id)),
            verdict=str(d.verdict),
            reason=reason,
            row=d.row,
            duplicates=tuple(duplicates),
        )

    def finder(self, kind: Kind, side: Side) -> DuplicateFinder:
        if (kind, side) not in self._finders:
            src = self.srcs[kind]
            records = src.liscio if side is Side.LISCIO else src.ipm
            self._finders[(kind, side)] = DuplicateFinder(
                kind, side, records, linked=set(self.linked[(kind, side)])
            )
        return self._finders[(kind, side)]

    def check(
        self,
        d: ReviewDecision,
        claimed: dict[tuple[Kind, Side, str], ReviewDecision],
        seen: Mapping[QueueKey, list[ReviewDecision]],
    ) -> PreviewItem | Refusal:
        kind, side, rid, verdict = Kind(d.kind), Side(d.side), str(d.record_id), Verdict(d.verdict)
        other = other_side(side)
        if kind not in self.srcs:
            return self.refuse(d, f"{kind} are not part of this review")
        rec = self.record(kind, side, rid)
        if rec is None:
            if self.record(kind, other, rid) is not None:
                return self.refuse(
                    d, f"{rid} is {_a(other)} id, not {_a(side)} one: the Side column is wrong"
                )
            return self.refuse(d, f"there is no {_word(side)} record {rid} (gone, or a typo)")
        self.names[(side, kind, rid)] = rec.name
        if rid in self.linked[(kind, side)]:
            partner = self.linked[(kind, side)][rid]
            return self.refuse(d, f"already decided: linked to {self.name(kind, other, partner)!r}")
        row = self.queue.row((kind, side, rid))
        if row is None:
            why = (
                "it is archived in Liscio"
                if rec.archived
                else "it is not awaiting a decision (Sync Now links it by its exact name)"
            )
            return self.refuse(d, f"not in the review: {why}")
        if row.status is QueueStatus.ORPHANED:
            return self.refuse(d, "it is linked (orphaned): delink it first")
        if verdict is Verdict.CREATE:
            return self._create(d, kind, side, rec, row)
        target = (str(d.link_to).strip() if d.link_to else "") or row.candidate_id or ""
        if not target:
            return self.refuse(
                d, "there is no suggestion to use: give the other side's id in Link To"
            )
        if not d.link_to and verdict is Verdict.LINK:
            if row.tie:
                return self.refuse(
                    d, "its suggestion is tied with another record: give the one to link in Link To"
                )
            if row.reason == str(Reason.SIMILAR) or row.status is QueueStatus.POSSIBLE:
                return self.refuse(
                    d,
                    f"its suggestion {row.candidate_name!r} only looks "
                    f"alike ({row.reason}): check it, and give its id in "
                    f"Link To if it is the one",
                )
        trec = self.record(kind, other, target)
        if trec is None:
            if self.record(kind, side, target) is not None:
                return self.refuse(
                    d, f"Link To {target} is {_a(side)} id: it must be {_a(other)} one"
                )
            return self.refuse(d, f"there is no {_word(other)} record {target} to link to")
        self.names[(other, kind, target)] = trec.name
        lid, key = (rid, target) if side is Side.LISCIO else (target, rid)
        tname = display_name(trec)
        if verdict is Verdict.NOT_A_MATCH:
            if (kind, lid, key) in self.not_a_match:
                return self.refuse(d, f"already decided: not a match with {tname!r}")
            pending = seen.get((kind, other, target), [None])[0]
            if pending is not None and not _same_link(pending, d, self.queue):
                return self.refuse(
                    d, f"two decisions for one record: {tname!r} is also decided by {_by(pending)}"
                )
            if (kind, lid, key) in self.marked:
                return _SAME  # the same "not a match" from the pair's other side
            self.marked.add((kind, lid, key))
            return PreviewItem(
                kind=kind,
                side=side,
                record_id=rid,
                name=display_name(rec),
                verdict=verdict,
                liscio_id=lid,
                ipm_key=key,
                target_name=tname,
                row=d.row,
            )
        if target in self.linked[(kind, other)]:
            return self.refuse(
                d,
                f"{tname!r} is already linked to "
                f"{self.name(kind, side, self.linked[(kind, other)][target])!r}",
            )
        if trec.archived:
            return self.refuse(d, f"{tname!r} is archived in Liscio")
        taken = claimed.get((kind, other, target))
        if taken is not None and taken is not d:
            if _same_link(taken, d, self.queue):
                return _SAME  # both rows of one pair, each pointing at the other: one link
            return self.refuse(
                d, f"two decisions for one record: {tname!r} is also decided by {_by(taken)}"
            )
        pending = seen.get((kind, other, target), [None])[0]
        if pending is not None and pending is not d and not _same_link(pending, d, self.queue):
            return self.refuse(
                d, f"two decisions for one record: {tname!r} is also decided by {_by(pending)}"
            )
        claimed[(kind, other, target)] = d
        claimed[(kind, side, rid)] = d
        liscio_rec, ipm_rec = (rec, trec) if side is Side.LISCIO else (trec, rec)
        writes = pair_writes(kind, liscio_rec, ipm_rec)
        return PreviewItem(
            kind=kind,
            side=side,
            record_id=rid,
            name=display_name(rec),
            verdict=verdict,
            liscio_id=lid,
            ipm_key=key,
            target_name=tname,
            writes=writes,
            row=d.row,
            actions=_link_actions(kind, liscio_rec, ipm_rec),
            ipm_record=ipm_rec,
        )

    def _create(
        self, d: ReviewDecision, kind: Kind, side: Side, rec: Record, row
    ) -> PreviewItem | Refusal:
        from pmtools.core.planner import external_id_for

        target = other_side(side)
        if side is Side.LISCIO and rec.archived:
            return self.refuse(d, "it is archived in Liscio: nothing is created")
        if not display_name(rec).strip():
            return self.refuse(d, "it has no name to create the record with")
        if not d.anyway:
            group = [r.record_id for r in self.queue.group(row.group) if r.side is target]
            dups = self.finder(kind, target).find(rec, ambiguous_with=group)
            if dups:
                listed = "; ".join(x.text() for x in dups[:3])
                return self.refuse(
                    d,
                    f"not created: it likely exists in {_word(target)} "
                    f"already ({listed}); link it instead, or create anyway",
                    dups,
                )
            from pmtools.analysis.review.duplicates import _loose

            loose = (kind, target, _loose(kind, rec))
            if loose[2] and loose in self._creates:
                return self.refuse(
                    d,
                    f"not created: another decision creates "
                    f"{self._creates[loose]!r} of the same name",
                )
            if loose[2]:
                self._creates[loose] = display_name(rec)
        op = Op.CREATE_IN_IPM if target is Side.IPM else Op.CREATE_IN_LISCIO
        key = {"liscio_id": rec.id} if side is Side.LISCIO else {"ipm_key": rec.id}
        action = Action(
            op=op,
            kind=kind,
            record=rec,
            rule=_REVIEW_CREATE[target],
            external_id=external_id_for(kind, target, rec.id),
            **key,
        )
        created = tuple(
            FieldWrite(side=target, field=f, before=None, after=v)
            for f, v in rec.field_values().items()
            if v is not None
        )
        return PreviewItem(
            kind=kind,
            side=side,
            record_id=rec.id,
            name=display_name(rec),
            verdict=Verdict.CREATE,
            liscio_id=key.get("liscio_id"),
            ipm_key=key.get("ipm_key"),
            created=created,
            row=d.row,
            actions=(action,),
        )


def _by(d: ReviewDecision) -> str:
    return f"row {d.row}" if d.row is not None else "another decision"


_SAME = object()  # a decision that is the same link as another one in the list


def _same_link(first: ReviewDecision, second: ReviewDecision, queue: ReviewQueue) -> bool:
    """True when two decisions are the two rows of one pair pointing at each other, with the
    same verdict (link, or not a match)."""
    if Verdict(first.verdict) is not Verdict(second.verdict) or Verdict(first.verdict) not in (
        Verdict.LINK,
        Verdict.NOT_A_MATCH,
    ):
        return False

    def target(d: ReviewDecision) -> str | None:
        row = queue.row((Kind(d.kind), Side(d.side), str(d.record_id)))
        return (str(d.link_to).strip() if d.link_to else None) or (
            row.candidate_id if row else None
        )

    return target(first) == str(second.record_id) and target(second) == str(first.record_id)


def _word(side: Side) -> str:
    return "Liscio" if side is Side.LISCIO else "IPM"


def _a(side: Side) -> str:
    return "a Liscio" if side is Side.LISCIO else "an IPM"


def _link_actions(kind: Kind, liscio: Record, ipm: Record) -> tuple[Action, ...]:
    """A manual LINK, then the pair's first-sync WRITEs and MARK_SYNCED (when complete)."""
    from pmtools.core.planner import plan_pair

    link = Action(
        op=Op.LINK,
        kind=kind,
        liscio_id=liscio.id,
        ipm_key=ipm.id,
        how=LinkHow.MANUAL,
        rule=Rule.REVIEW_LINK,
    )
    rest = tuple(
        a
        for a in plan_pair(kind, liscio, ipm, first_sync=True)
        if a.op in (Op.WRITE, Op.MARK_SYNCED)
    )
    return (link, *rest)
