"""The value objects of a sync plan (built by :mod:`pmtools.core.planner`). Pure: no I/O.

The value objects here are the contract between the planner, ``apply``, the state store, the
reports and the workbench.
"""

from __future__ import annotations

import dataclasses
import enum
import operator
from collections import Counter
from dataclasses import dataclass

from pmtools.core.records import FieldValue, Kind, Record, Side


class Op(str, enum.Enum):
    """What an action does. The first five write; the rest only inform."""

    LINK = "link"  # link liscio_id <-> ipm_key (automatic exact-name match)
    CREATE_IN_IPM = "create_in_ipm"  # create the IPM record from a Liscio one, and link
    CREATE_IN_LISCIO = "create_in_liscio"  # create the Liscio record from an IPM one, and link
    WRITE = "write"  # write one field on one side of a pair
    MARK_SYNCED = "mark_synced"  # the pair's first sync is complete
    ORPHAN = "orphan"  # a linked Liscio record archived, or IPM record gone
    AMBIGUOUS = "ambiguous"  # a name shared by several records: a person decides
    UNMATCHED = "unmatched"  # a record with no counterpart (side says which)
    SKIP = "skip"  # nothing done, with a reason

    def __str__(self) -> str:
        return self.value


WRITING_OPS = frozenset(
    {Op.LINK, Op.CREATE_IN_IPM, Op.CREATE_IN_LISCIO, Op.WRITE, Op.MARK_SYNCED, Op.ORPHAN}
)
# What a person counts as a change: a link, a create, one field written, an orphaned link.
# MARK_SYNCED only notes that a pair's first sync is complete: it is no change to count.
CHANGE_OPS = frozenset({Op.LINK, Op.CREATE_IN_IPM, Op.CREATE_IN_LISCIO, Op.WRITE, Op.ORPHAN})
# The count keys whose sum is the number of changes (the one count in preview, progress,
# summary, runs and reports).
CHANGE_KEYS = (
    "linked",
    "created_in_ipm",
    "created_in_liscio",
    "ipm_fields_written",
    "liscio_fields_filled",
    "orphaned",
)


def change_total(counts: dict[str, int]) -> int:
    """The number of changes in a run's or a plan's counts (the sum of CHANGE_KEYS)."""
    return sum(int(counts.get(k, 0) or 0) for k in CHANGE_KEYS)


class LinkHow(str, enum.Enum):
    """How a link was made."""

    AUTOMATIC = "automatic"
    MANUAL = "manual"
    CREATED = "created"

    def __str__(self) -> str:
        return self.value


class LinkStatus(str, enum.Enum):
    """A link's state."""

    LINKED = "linked"
    ORPHANED = "orphaned"

    def __str__(self) -> str:
        return self.value


class DecisionKind(str, enum.Enum):
    """A person's decision that stops a pair from being auto-linked again."""

    NOT_A_MATCH = "not_a_match"
    DELINKED = "delinked"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Link:
    """A stored link between a Liscio record and an IPM record."""

    kind: Kind
    liscio_id: str
    ipm_key: str
    how: LinkHow
    status: LinkStatus = LinkStatus.LINKED
    linked_at: str | None = None
    first_synced_at: str | None = None  # None: the pair's first sync is still to come


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A stored decision about a pair."""

    kind: Kind
    liscio_id: str
    ipm_key: str
    decision: DecisionKind
    at: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncState:
    """What the planner needs from the state store."""

    links: tuple[Link, ...] = ()
    decisions: tuple[Decision, ...] = ()
    # Liscio ids that existed at the first Sync Now, per kind; None before the first one.
    baseline: frozenset[tuple[Kind, str]] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SyncPolicy:
    """How a sync runs; stored with each run so that any run can be explained later."""

    kinds: tuple[Kind, ...] = (Kind.ACCOUNTS, Kind.CONTACTS)
    force: bool = False
    # First Sync Now: refuse when Liscio holds fewer than this share of IPM's record count.
    preflight_min_ratio: float = 0.5
    create_new_in_ipm: bool = True


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class Action:
    """One step of a plan, with the rule that caused it.

    WRITE: ``side`` is the side written, ``field`` the synced field, ``before``/``after`` its
    values. CREATE_*: ``record`` is the draft (the source record), ``external_id`` the
    idempotency key; the draft carries the synced fields, so no WRITE follows a create.
    AMBIGUOUS: one action per record of a tied group, ``side`` saying which record it is and
    ``candidates`` the other side's ids/keys sharing the name. UNMATCHED/SKIP/ORPHAN:
    ``reason`` in plain words. ``rule`` is a short stable name: the matching level of a LINK,
    the field rule of a WRITE (:mod:`pmtools.core.rules`), else e.g. "orphan:liscio-archived".
    """

    op: Op
    kind: Kind
    liscio_id: str | None = None
    ipm_key: str | None = None
    side: Side | None = None
    field: str | None = None
    before: FieldValue = None
    after: FieldValue = None
    rule: str = ""
    how: LinkHow | None = None
    record: Record | None = dataclasses.field(default=None, compare=False)
    external_id: str | None = None
    candidates: tuple[str, ...] = ()
    reason: str = ""

    def __init__(
        self,
        *,
        op: Op,
        kind: Kind,
        liscio_id: str | None = None,
        ipm_key: str | None = None,
        side: Side | None = None,
        field: str | None = None,
        before: FieldValue = None,
        after: FieldValue = None,
        rule: str = "",
        how: LinkHow | None = None,
        record: Record | None = None,
        external_id: str | None = None,
        candidates: tuple[str, ...] = (),
        reason: str = "",
    ) -> None:
        # The generated __init__ of a frozen dataclass sets each slot with object.__setattr__
        # by name; a plan of 100,000 organizations builds ~10^6 actions, and setting the slots
        # through their descriptors halves that cost. Same signature and defaults as the fields.
        _fill(
            self,
            op,
            kind,
            liscio_id,
            ipm_key,
            side,
            field,
            before,
            after,
            rule,
            how,
            record,
            external_id,
            candidates,
            reason,
        )


(
    _set_op,
    _set_kind,
    _set_liscio_id,
    _set_ipm_key,
    _set_side,
    _set_field,
    _set_before,
    _set_after,
    _set_rule,
    _set_how,
    _set_record,
    _set_external_id,
    _set_candidates,
    _set_reason,
) = (getattr(Action, f.name).__set__ for f in dataclasses.fields(Action))


def make_action(
    op: Op,
    kind: Kind,
    liscio_id: str | None,
    ipm_key: str | None,
    side: Side | None,
    field: str | None,
    before: FieldValue,
    after: FieldValue,
    rule: str,
    how: LinkHow | None,
) -> Action:
    """``Action(op=op, kind=kind, ...)`` with these fields positional, the others default.

    The planner's hot path (LINK, WRITE, MARK_SYNCED: ~10^6 at 100,000 organizations): no
    keyword arguments to match, a third cheaper than the keyword-only constructor.
    """
    self = _new(Action)
    _fill(
        self,
        op,
        kind,
        liscio_id,
        ipm_key,
        side,
        field,
        before,
        after,
        rule,
        how,
        None,
        None,
        (),
        "",
    )
    return self


_new = object.__new__


def _fill(
    self: Action,
    op: Op,
    kind: Kind,
    liscio_id: str | None,
    ipm_key: str | None,
    side: Side | None,
    field: str | None,
    before: FieldValue,
    after: FieldValue,
    rule: str,
    how: LinkHow | None,
    record: Record | None,
    external_id: str | None,
    candidates: tuple[str, ...],
    reason: str,
) -> None:
    """Set every slot of a new Action, positionally, in field order."""
    _set_op(self, op)
    _set_kind(self, kind)
    _set_liscio_id(self, liscio_id)
    _set_ipm_key(self, ipm_key)
    _set_side(self, side)
    _set_field(self, field)
    _set_before(self, before)
    _set_after(self, after)
    _set_rule(self, rule)
    _set_how(self, how)
    _set_record(self, record)
    _set_external_id(self, external_id)
    _set_candidates(self, candidates)
    _set_reason(self, reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """An ordered list of actions: links, creates, field writes, marks, then information."""

    actions: tuple[Action, ...]
    policy: SyncPolicy
    first_sync: bool = False  # True when no baseline existed (the first Sync Now)

    def writes(self) -> tuple[Action, ...]:
        """The actions apply executes (MARK_SYNCED included): what a preview must equal."""
        return tuple(a for a in self.actions if a.op in WRITING_OPS)

    def changes(self) -> tuple[Action, ...]:
        """The changes a person sees: links, creates, field writes, orphaned links.

        ``len(plan.changes())`` is the count the preview, the progress bar and the summary
        (:func:`change_total` of the counts) all show.
        """
        return tuple(a for a in self.actions if a.op in CHANGE_OPS)

    def counts(self) -> dict[str, int]:
        """The CLI's count keys for this plan (``errors`` is filled by apply)."""
        counts = dict.fromkeys(COUNT_KEYS, 0)
        # One pass in C over (op, side); a plan of 100,000 organizations holds ~10^6 actions.
        for (op, side), n in Counter(map(_OP_SIDE, self.actions)).items():
            key = _count_key(op, side)
            if key is not None:
                counts[key] += n
        return counts


def _count_key(op: Op, side: Side | None) -> str | None:
    """The count key an action of ``op`` on ``side`` adds to, if any."""
    if not isinstance(op, Op):
        return None
    if op is Op.WRITE:
        return "ipm_fields_written" if side is Side.IPM else "liscio_fields_filled"
    if op is Op.UNMATCHED:
        return "unmatched_liscio" if side is Side.LISCIO else "unmatched_ipm"
    return _OP_COUNT_KEYS.get(op)


_OP_SIDE = operator.attrgetter("op", "side")
_OP_COUNT_KEYS = {
    Op.LINK: "linked",
    Op.CREATE_IN_IPM: "created_in_ipm",
    Op.CREATE_IN_LISCIO: "created_in_liscio",
    Op.AMBIGUOUS: "ambiguous",
    Op.ORPHAN: "orphaned",
}

COUNT_KEYS = (
    "linked",
    "created_in_ipm",
    "created_in_liscio",
    "ipm_fields_written",
    "liscio_fields_filled",
    "unmatched_liscio",
    "unmatched_ipm",
    "ambiguous",
    "orphaned",
    "errors",
)
